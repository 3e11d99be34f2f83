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
        """The run's pinned metric versions, in kick-off order, with their aggregates summed over
        shards and trials."""
        return await self._pool.fetch(
            "SELECT v.id AS metric_version_id, v.metric_id, m.name, v.output_type, v.eval_type,"
            " coalesce(a.scored, 0) AS scored, coalesce(a.passed, 0) AS passed, coalesce(a.sum, 0) AS sum,"
            " coalesce(a.errored, 0) AS errored, coalesce(a.true_pos, 0) AS true_pos,"
            " coalesce(a.false_pos, 0) AS false_pos, coalesce(a.false_neg, 0) AS false_neg,"
            " coalesce(a.true_neg, 0) AS true_neg, coalesce(a.prompt_tokens, 0) AS prompt_tokens,"
            " coalesce(a.completion_tokens, 0) AS completion_tokens, coalesce(a.cost_usd, 0) AS cost_usd"
            " FROM runs r CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
            " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
            " LEFT JOIN LATERAL (SELECT sum(scored) AS scored, sum(passed) AS passed, sum(sum) AS sum,"
            "   sum(errored) AS errored, sum(true_pos) AS true_pos, sum(false_pos) AS false_pos,"
            "   sum(false_neg) AS false_neg, sum(true_neg) AS true_neg,"
            "   sum(prompt_tokens)::bigint AS prompt_tokens, sum(completion_tokens)::bigint AS completion_tokens,"
            "   sum(cost_usd) AS cost_usd FROM run_metric_aggregates"
            "   WHERE run_id = r.id AND metric_version_id = v.id) a ON true"
            " WHERE r.id = $1 ORDER BY p.n",
            run_id,
        )

    async def run_metric_trials(self, run_id: uuid.UUID) -> list[asyncpg.Record]:
        """Per metric version and trial: the sums behind means, standard deviations and intervals."""
        return await self._pool.fetch(
            "SELECT metric_version_id, trial, sum(scored)::int AS scored, sum(passed)::int AS passed,"
            " sum(sum) AS sum, sum(sum_sq) AS sum_sq FROM run_metric_aggregates WHERE run_id = $1"
            " GROUP BY metric_version_id, trial ORDER BY metric_version_id, trial",
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
