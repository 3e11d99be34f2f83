"""SQL of playground tries (written by the run-orchestrator). A try's prompt, cases and metric
versions are its run's (runs.llm_config, its scratch testset, runs.metric_version_ids): read
from there, never kept twice."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import asyncpg

from shared.db.pool import Connection, fetch_one

_TRIES = (
    "SELECT t.*, r.status, r.llm_config, r.metric_version_ids, n.outputs, n.errored_outputs,"
    " ARRAY(SELECT v.metric_id FROM unnest(r.metric_version_ids) WITH ORDINALITY AS p(id, n)"
    "       JOIN metric_versions v ON v.id = p.id ORDER BY p.n) AS metric_ids"
    " FROM playground_tries t JOIN runs r ON r.id = t.run_id,"
    " LATERAL (SELECT coalesce(sum(c.records), 0)::int AS outputs, coalesce(sum(c.errored), 0)::int AS errored_outputs"
    "          FROM run_record_counts c WHERE c.run_id = r.id) n"
)

# The cases of each try's run: its pinned testset version's testcases, in order.
_CASES = (
    "SELECT r.id AS run_id, c.testcase_id, c.inputs, c.expected, c.metadata FROM runs r"
    " JOIN testcase_revisions c ON c.testset_id = r.testset_id"
    " AND c.from_version <= r.testset_version AND (c.to_version IS NULL OR c.to_version > r.testset_version)"
    " WHERE r.id = ANY($1::uuid[]) ORDER BY r.id, c.position"
)


class TryRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        conn: Connection,
        *,
        try_id: uuid.UUID,
        project_id: uuid.UUID,
        run_id: uuid.UUID,
        system_version_id: uuid.UUID | None,
        testset_id: uuid.UUID | None,
        testcase_ids: list[uuid.UUID],
        created_by: str,
        created_by_key_prefix: str,
    ) -> None:
        """In the caller's transaction, the one that creates the try's run."""
        await fetch_one(
            conn,
            "INSERT INTO playground_tries (id, project_id, run_id, system_version_id, testset_id, testcase_ids,"
            " created_by, created_by_key_prefix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            try_id,
            project_id,
            run_id,
            system_version_id,
            testset_id,
            testcase_ids,
            created_by,
            created_by_key_prefix,
        )

    async def get(self, try_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(_TRIES + " WHERE t.id = $1", try_id)

    async def list_tries(
        self, project_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """Newest first; ``after`` is the (created_at, id) of the previous page's last try."""
        if after is None:
            return await self._pool.fetch(
                _TRIES + " WHERE t.project_id = $1 ORDER BY t.created_at DESC, t.id DESC LIMIT $2", project_id, limit
            )
        return await self._pool.fetch(
            _TRIES + " WHERE t.project_id = $1 AND (t.created_at, t.id) < ($3, $4)"
            " ORDER BY t.created_at DESC, t.id DESC LIMIT $2",
            project_id,
            limit,
            after[0],
            after[1],
        )

    async def cases(self, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
        """Run id → the cases its try executed, in the try's order."""
        by_run: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
        for row in await self._pool.fetch(_CASES, run_ids):
            by_run[row["run_id"]].append(row)
        return by_run
