"""SQL of the query service (reads only)."""

from __future__ import annotations

import uuid

import asyncpg


class QueryRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def run(self, run_id: uuid.UUID) -> asyncpg.Record | None:
        """The run with its record counts (summed over the counter shards)."""
        return await self._pool.fetchrow(
            "SELECT r.*, coalesce(c.records, 0) AS records, coalesce(c.errored, 0) AS errored_records"
            " FROM runs r LEFT JOIN LATERAL (SELECT sum(records) AS records, sum(errored) AS errored"
            "   FROM run_record_counts WHERE run_id = r.id) c ON true"
            " WHERE r.id = $1",
            run_id,
        )

    async def run_exists(self, run_id: uuid.UUID) -> bool:
        return bool(await self._pool.fetchval("SELECT 1 FROM runs WHERE id = $1", run_id))

    async def run_metrics(self, run_id: uuid.UUID) -> list[asyncpg.Record]:
        """The run's pinned metric versions, in kick-off order, with their aggregates."""
        return await self._pool.fetch(
            "SELECT v.id AS metric_version_id, v.metric_id, m.name, v.output_type, v.eval_type,"
            " coalesce(a.scored, 0) AS scored, coalesce(a.passed, 0) AS passed, coalesce(a.sum, 0) AS sum,"
            " coalesce(a.errored, 0) AS errored"
            " FROM runs r CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
            " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
            " LEFT JOIN LATERAL (SELECT sum(scored) AS scored, sum(passed) AS passed, sum(sum) AS sum,"
            "   sum(errored) AS errored FROM run_metric_aggregates"
            "   WHERE run_id = r.id AND metric_version_id = v.id) a ON true"
            " WHERE r.id = $1 ORDER BY p.n",
            run_id,
        )

    async def records_page(self, run_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT * FROM records WHERE run_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
            run_id,
            after,
            limit,
        )

    async def scores_of(self, record_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT s.*, v.metric_id, m.name AS metric_name FROM scores s"
            " JOIN metric_versions v ON v.id = s.metric_version_id JOIN metrics m ON m.id = v.metric_id"
            " WHERE s.record_id = ANY($1::uuid[]) ORDER BY s.record_id, m.name",
            record_ids,
        )
