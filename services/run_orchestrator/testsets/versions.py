"""Writes that make a new testset version: one transaction each, on the testset's row lock.

A version write closes the revisions it replaces (to_version = the new version) and inserts the
new ones (from_version = the new version). Nothing is visible until ``finish`` commits; an error
anywhere rolls the whole version back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from services.run_orchestrator.testsets.validation import FieldMapping, TestcaseRow
from shared.db.pool import Connection, fetch_one, transaction

# Revision columns, in the order of the insert below.
_REVISION_INSERT = (
    "INSERT INTO testcase_revisions (testcase_id, testset_id, from_version, position, data, inputs, expected,"
    " metadata, validation_errors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


class TestsetNotFound(LookupError):
    """The testset does not exist or was deleted."""


class VersionWrite:
    """One new version of one testset, inside an open transaction holding the testset's row lock."""

    def __init__(self, conn: Connection, testset: asyncpg.Record, next_position: int) -> None:
        self._conn = conn
        self.testset = testset
        self.version: int = testset["version"] + 1
        self._next_position = next_position
        self.finished: asyncpg.Record | None = None

    @property
    def testset_id(self) -> uuid.UUID:
        testset_id: uuid.UUID = self.testset["id"]
        return testset_id

    async def add(self, rows: Sequence[TestcaseRow]) -> list[uuid.UUID]:
        """New testcases at the end of the testset; returns their ids in order."""
        ids = [uuid.uuid4() for _ in rows]
        await self._conn.executemany(
            "INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", [(i, self.testset_id) for i in ids]
        )
        first = self._next_position
        self._next_position += len(rows)
        await self._conn.executemany(
            _REVISION_INSERT,
            [
                (
                    i,
                    self.testset_id,
                    self.version,
                    first + n,
                    r.data,
                    r.inputs,
                    r.expected,
                    r.metadata,
                    r.validation_errors,
                )
                for n, (i, r) in enumerate(zip(ids, rows, strict=True))
            ],
        )
        return ids

    async def held(self, data: Sequence[dict[str, Any]]) -> set[int]:
        """Which of ``data`` (by index) the latest version holds already: a current testcase with the
        same fields (JSON equality: key order aside, 1 = 1.0)."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT d.n - 1 AS i FROM unnest($2::jsonb[]) WITH ORDINALITY AS d(data, n)"
            " JOIN testcase_revisions r ON r.data = d.data WHERE r.testset_id = $1 AND r.to_version IS NULL",
            self.testset_id,
            list(data),
        )
        return {int(r["i"]) for r in rows}

    @property
    def conn(self) -> Connection:
        """The version's transaction (reads that must see what it holds locked)."""
        return self._conn

    async def revise(self, revisions: Sequence[tuple[uuid.UUID, TestcaseRow]]) -> dict[uuid.UUID, int]:
        """New content for current testcases (same id, same position); returns id → position of
        those that exist in the latest version."""
        if not revisions:
            return {}
        closed = await self._conn.fetch(
            "UPDATE testcase_revisions SET to_version = $3"
            " WHERE testset_id = $1 AND testcase_id = ANY($2::uuid[]) AND to_version IS NULL"
            " RETURNING testcase_id, position",
            self.testset_id,
            [testcase_id for testcase_id, _ in revisions],
            self.version,
        )
        positions: dict[uuid.UUID, int] = {r["testcase_id"]: r["position"] for r in closed}
        await self._conn.executemany(
            _REVISION_INSERT,
            [
                (
                    i,
                    self.testset_id,
                    self.version,
                    positions[i],
                    r.data,
                    r.inputs,
                    r.expected,
                    r.metadata,
                    r.validation_errors,
                )
                for i, r in revisions
                if i in positions
            ],
        )
        return positions

    async def delete(self, testcase_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Removes testcases from the new version; returns the ids that were in the latest one."""
        rows = await self._conn.fetch(
            "UPDATE testcase_revisions SET to_version = $3"
            " WHERE testset_id = $1 AND testcase_id = ANY($2::uuid[]) AND to_version IS NULL RETURNING testcase_id",
            self.testset_id,
            list(testcase_ids),
            self.version,
        )
        return {r["testcase_id"] for r in rows}

    async def delete_all(self) -> None:
        await self._conn.execute(
            "UPDATE testcase_revisions SET to_version = $2 WHERE testset_id = $1 AND to_version IS NULL",
            self.testset_id,
            self.version,
        )

    async def rename(self, name: str | None, description: str | None) -> None:
        """Name and description change along with the version (in the same transaction)."""
        if name is not None or description is not None:
            await self._conn.execute(
                "UPDATE testsets SET name = coalesce($2, name), description = coalesce($3, description) WHERE id = $1",
                self.testset_id,
                name,
                description,
            )

    async def current(self, after_position: int, limit: int) -> list[asyncpg.Record]:
        """Testcases of the previous version still current, in position order (for re-derivation)."""
        return await self._conn.fetch(
            "SELECT testcase_id, position, data, inputs, expected, metadata, validation_errors"
            " FROM testcase_revisions WHERE testset_id = $1 AND to_version IS NULL AND from_version < $2"
            " AND position > $3 ORDER BY position LIMIT $4",
            self.testset_id,
            self.version,
            after_position,
            limit,
        )

    async def finish(self, change: str, schema: dict[str, Any] | None, mapping: FieldMapping) -> asyncpg.Record:
        """Records the version and makes it the testset's latest; returns the testset row with
        version and counts (like TestsetRepository.get_testset)."""
        counts = await fetch_one(
            self._conn,
            "SELECT count(*) AS total, count(*) FILTER (WHERE validation_errors <> '[]'::jsonb) AS invalid"
            " FROM testcase_revisions WHERE testset_id = $1 AND to_version IS NULL",
            self.testset_id,
        )
        await self._conn.execute(
            "INSERT INTO testset_versions (testset_id, version, change, json_schema, field_mapping,"
            " testcase_count, invalid_testcase_count) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.testset_id,
            self.version,
            change,
            schema,
            mapping.as_json(),
            counts["total"],
            counts["invalid"],
        )
        self.finished = await fetch_one(
            self._conn,
            "UPDATE testsets SET version = $2, json_schema = $3, field_mapping = $4, updated_at = now()"
            " WHERE id = $1 RETURNING *, $5::integer AS testcase_count, $6::integer AS invalid_testcase_count,"
            " version AS latest_version",
            self.testset_id,
            self.version,
            schema,
            mapping.as_json(),
            counts["total"],
            counts["invalid"],
        )
        return self.finished


class TestsetWrites:
    """The version-making writes of the testset repository."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_testset(
        self,
        project_id: uuid.UUID,
        name: str,
        description: str,
        schema: dict[str, Any] | None,
        mapping: FieldMapping,
        testcases: list[TestcaseRow],
        *,
        playground_try: bool = False,
        conn: Connection | None = None,
    ) -> asyncpg.Record:
        """A new testset whose version 1 holds ``testcases``; ``playground_try``: the cases of a
        playground try, left out of testset lists. In the caller's transaction on ``conn``, if given."""
        async with transaction(self._pool, conn) as conn:
            write = await _new_testset(conn, project_id, name, description, schema, mapping, playground_try)
            await write.add(testcases)
            return await write.finish("created", schema, mapping)

    def testset_from_import(
        self, project_id: uuid.UUID, name: str, description: str, mapping: FieldMapping
    ) -> AbstractAsyncContextManager[VersionWrite]:
        """A new testset (no schema) filled by the body; committed only if the body called ``finish``
        (with change "created": its version 1)."""
        return self._version_write(lambda conn: _new_testset(conn, project_id, name, description, None, mapping, False))

    def new_version(self, testset_id: uuid.UUID) -> AbstractAsyncContextManager[VersionWrite]:
        """A version write on the testset; committed only if the body called ``finish``."""
        return self._version_write(lambda conn: _next_version(conn, testset_id))

    @asynccontextmanager
    async def _version_write(
        self, begin: Callable[[Connection], Awaitable[VersionWrite]]
    ) -> AsyncIterator[VersionWrite]:
        """The write ``begin`` starts in a new transaction, committed when the body called its
        ``finish``, rolled back otherwise and on any error."""
        async with self._pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                write = await begin(conn)
                yield write
            except BaseException:
                await tx.rollback()
                raise
            if write.finished is not None:
                await tx.commit()
            else:
                await tx.rollback()


async def _next_version(conn: Connection, testset_id: uuid.UUID) -> VersionWrite:
    """The write of the testset's next version, holding its row lock in the open transaction."""
    testset = await conn.fetchrow("SELECT * FROM testsets WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", testset_id)
    if testset is None:
        raise TestsetNotFound(f"testset {testset_id} does not exist")
    last = await conn.fetchval(
        "SELECT coalesce(max(position), -1) FROM testcase_revisions WHERE testset_id = $1", testset_id
    )
    return VersionWrite(conn, testset, int(last) + 1)


async def _new_testset(
    conn: Connection,
    project_id: uuid.UUID,
    name: str,
    description: str,
    schema: dict[str, Any] | None,
    mapping: FieldMapping,
    playground_try: bool,
) -> VersionWrite:
    """The testset's row (at version 0) and the write of its version 1, in the open transaction."""
    row = await fetch_one(
        conn,
        "INSERT INTO testsets (id, project_id, name, description, json_schema, field_mapping, version,"
        " playground_try) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) RETURNING *",
        uuid.uuid4(),
        project_id,
        name,
        description,
        schema,
        mapping.as_json(),
        playground_try,
    )
    return VersionWrite(conn, row, 0)
