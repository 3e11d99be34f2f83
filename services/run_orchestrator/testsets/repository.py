"""SQL for testsets and testcases (written by the run-orchestrator).

Reads take a version: the revisions valid at version v are those with
from_version <= v < coalesce(to_version, infinity) (see migration 0002).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.run_orchestrator.testsets.versions import TestsetNotFound, TestsetWrites, VersionWrite
from shared.edge.search import tsquery

__all__ = ["TestsetNotFound", "TestsetRepository", "VersionWrite"]

_TESTSET_COLUMNS = (
    "SELECT t.id, t.project_id, t.name, t.description, t.created_at, t.version AS latest_version,"
    " v.version, v.json_schema, v.field_mapping, v.testcase_count, v.invalid_testcase_count"
    " FROM testsets t JOIN testset_versions v ON v.testset_id = t.id"
)

_TESTCASES = (
    "SELECT testcase_id, position, from_version, data, inputs, expected, metadata, validation_errors"
    " FROM testcase_revisions"
)
# Revisions of testset $1 valid at version $2.
_AT_VERSION = "testset_id = $1 AND from_version <= $2 AND (to_version IS NULL OR to_version > $2)"


# Testcases whose content differs between versions $2 and $3 of testset $1: in one version only
# (added / removed), or in both with a different revision whose content differs (a testcase changed
# and changed back is the same). ``a`` and ``b`` are its rows at each version (NULL when absent).
_CHANGES = (
    "WITH a AS (" + _TESTCASES + f" WHERE {_AT_VERSION}),"
    " b AS (" + _TESTCASES + f" WHERE {_AT_VERSION.replace('$2', '$3')}),"
    " d AS (SELECT coalesce(b.testcase_id, a.testcase_id) AS testcase_id,"
    " coalesce(b.position, a.position) AS position,"
    " CASE WHEN a.testcase_id IS NULL THEN 'added' WHEN b.testcase_id IS NULL THEN 'removed'"
    " ELSE 'changed' END AS change, a, b"
    " FROM a FULL JOIN b ON a.testcase_id = b.testcase_id"
    " WHERE a.from_version IS DISTINCT FROM b.from_version"
    " AND (a.testcase_id IS NULL OR b.testcase_id IS NULL"
    " OR (a.data, a.inputs, a.expected, a.metadata, a.validation_errors)"
    " IS DISTINCT FROM (b.data, b.inputs, b.expected, b.metadata, b.validation_errors)))"
)


class TestsetRepository(TestsetWrites):
    """Testsets, their versions and testcases; the writes that make versions are in TestsetWrites."""

    async def get_testset(self, testset_id: uuid.UUID) -> asyncpg.Record | None:
        """The testset at its latest ``version``, with ``testcase_count`` of that version."""
        return await self.get_testset_at(testset_id, None)

    async def get_testset_at(self, testset_id: uuid.UUID, version: int | None) -> asyncpg.Record | None:
        """The testset as of ``version`` (None: the latest); None if it or the version does not exist."""
        return await self._pool.fetchrow(
            _TESTSET_COLUMNS + " AND v.version = coalesce($2::integer, t.version)"
            " WHERE t.id = $1 AND t.deleted_at IS NULL",
            testset_id,
            version,
        )

    async def list_testsets(
        self, project_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """Newest first (playground tries' cases left out); ``after`` is the (created_at, id) of the
        previous page's last testset."""
        where = " AND v.version = t.version WHERE t.project_id = $1 AND t.deleted_at IS NULL AND NOT t.playground_try"
        order = " ORDER BY t.created_at DESC, t.id DESC LIMIT $2"
        if after is None:
            return await self._pool.fetch(_TESTSET_COLUMNS + where + order, project_id, limit)
        return await self._pool.fetch(
            _TESTSET_COLUMNS + where + " AND (t.created_at, t.id) < ($3, $4)" + order,
            project_id,
            limit,
            after[0],
            after[1],
        )

    async def list_versions(self, testset_id: uuid.UUID, before: int | None, limit: int) -> list[asyncpg.Record]:
        """Newest first, versions below ``before`` when given."""
        return await self._pool.fetch(
            "SELECT version, change, testcase_count, invalid_testcase_count, created_at FROM testset_versions"
            " WHERE testset_id = $1 AND version < coalesce($2::integer, 2147483647) ORDER BY version DESC LIMIT $3",
            testset_id,
            before,
            limit,
        )

    async def list_testcases(
        self,
        testset_id: uuid.UUID,
        version: int,
        after_position: int,
        limit: int,
        *,
        invalid_only: bool = False,
        search: str | None = None,
        subset_of: uuid.UUID | None = None,
    ) -> list[asyncpg.Record]:
        """Testcases of the version in position order, after ``after_position`` (keyset); with
        ``search``, those whose inputs, expected values or metadata match it (their stored words,
        migration 0030; shared/edge/search.py);
        with ``subset_of``, those that run chose (its part of the testset)."""
        return await self._pool.fetch(
            f"{_TESTCASES} WHERE {_AT_VERSION} AND position > $3"
            " AND (NOT $5::boolean OR validation_errors <> '[]'::jsonb)"
            f" AND ($6::text IS NULL OR search @@ {tsquery('$6')})"
            " AND ($7::uuid IS NULL OR EXISTS (SELECT 1 FROM run_subsets s"
            " WHERE s.run_id = $7 AND s.testcase_id = testcase_revisions.testcase_id))"
            " ORDER BY position LIMIT $4",
            testset_id,
            version,
            after_position,
            limit,
            invalid_only,
            search,
            subset_of,
        )

    async def run_testcases(self, run_id: uuid.UUID) -> asyncpg.Record | None:
        """A run's testset, the version it pinned and whether it chose part of it."""
        return await self._pool.fetchrow(
            "SELECT testset_id, testset_version, subset IS NOT NULL AS subset FROM runs WHERE id = $1", run_id
        )

    async def chosen_by_run(self, run_id: uuid.UUID) -> tuple[asyncpg.Record | None, list[uuid.UUID]]:
        """A run's project and testset, and the testcases it chose (none for a run of the whole
        testset)."""
        run = await self._pool.fetchrow(
            "SELECT project_id, testset_id, subset IS NOT NULL AS chose FROM runs WHERE id = $1", run_id
        )
        if run is None or not run["chose"]:
            return run, []
        rows = await self._pool.fetch("SELECT testcase_id FROM run_subsets WHERE run_id = $1", run_id)
        return run, [r["testcase_id"] for r in rows]

    async def subset(
        self,
        testset_id: uuid.UUID,
        version: int,
        ids: list[uuid.UUID] | None,
        metadata: dict[str, list[Any]],
        sample: int,
        seed: int,
    ) -> list[uuid.UUID]:
        """The testcases of the version among ``ids`` (None: any) whose metadata has, for each key,
        one of its values; then at most ``sample`` of them (0: all) in an order drawn from ``seed``
        — the same testcases for the same seed and version."""
        args: list[Any] = [testset_id, version, ids]
        where = [_AT_VERSION, "($3::uuid[] IS NULL OR testcase_id = ANY($3::uuid[]))"]
        for key, values in metadata.items():
            args += [key, values]
            where.append(f"metadata -> ${len(args) - 1} IN (SELECT jsonb_array_elements(${len(args)}::jsonb))")
        args += [str(seed), sample or None]
        rows = await self._pool.fetch(
            f"SELECT testcase_id FROM testcase_revisions WHERE {' AND '.join(where)}"
            f" ORDER BY md5(${len(args) - 1} || ':' || testcase_id::text), testcase_id LIMIT ${len(args)}",
            *args,
        )
        return [r["testcase_id"] for r in rows]

    async def change_counts(self, testset_id: uuid.UUID, before: int, after: int) -> dict[str, int]:
        """How many testcases were added, removed and changed from version ``before`` to ``after``."""
        rows = await self._pool.fetch(
            f"{_CHANGES} SELECT change, count(*) AS n FROM d GROUP BY change", testset_id, before, after
        )
        return {r["change"]: r["n"] for r in rows}

    async def changes(
        self, testset_id: uuid.UUID, before: int, after: int, start: tuple[int, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """The changes from version ``before`` to ``after`` in (position, testcase id) order, after
        ``start``; ``before`` / ``after`` are the testcase's rows as JSON objects (None when absent)."""
        return await self._pool.fetch(
            f"{_CHANGES} SELECT change, testcase_id, position, to_jsonb(a) AS before, to_jsonb(b) AS after FROM d"
            " WHERE $4::integer IS NULL OR (position, testcase_id) > ($4, $5::uuid)"
            " ORDER BY position, testcase_id LIMIT $6",
            testset_id,
            before,
            after,
            None if start is None else start[0],
            None if start is None else start[1],
            limit,
        )

    async def get_testcase(self, testset_id: uuid.UUID, testcase_id: uuid.UUID, version: int) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            f"{_TESTCASES} WHERE {_AT_VERSION} AND testcase_id = $3",
            testset_id,
            version,
            testcase_id,
        )

    async def get_testcases(
        self, testset_id: uuid.UUID, testcase_ids: list[uuid.UUID], version: int
    ) -> list[asyncpg.Record]:
        """Those of the testcases that are in the version, in position order."""
        return await self._pool.fetch(
            f"{_TESTCASES} WHERE {_AT_VERSION} AND testcase_id = ANY($3::uuid[]) ORDER BY position",
            testset_id,
            version,
            testcase_ids,
        )

    async def data_fields(self, testset_id: uuid.UUID, version: int) -> list[str]:
        """Every top-level field of the version's testcases, by name."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT key FROM testcase_revisions, jsonb_object_keys(data) AS key"
            f" WHERE {_AT_VERSION} ORDER BY key",
            testset_id,
            version,
        )
        return [r["key"] for r in rows]

    async def update_details(
        self, testset_id: uuid.UUID, name: str | None, description: str | None
    ) -> asyncpg.Record | None:
        """Renames or re-describes the testset in place (its content, hence its version, is unchanged)."""
        row = await self._pool.fetchrow(
            "UPDATE testsets SET name = coalesce($2, name), description = coalesce($3, description),"
            " updated_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id",
            testset_id,
            name,
            description,
        )
        return None if row is None else await self.get_testset(testset_id)

    async def delete_testset(self, testset_id: uuid.UUID) -> bool:
        """Soft delete: runs on the testset keep their testcases and records."""
        deleted = await self._pool.fetchval(
            "UPDATE testsets SET deleted_at = now(), updated_at = now()"
            " WHERE id = $1 AND deleted_at IS NULL RETURNING id",
            testset_id,
        )
        return deleted is not None
