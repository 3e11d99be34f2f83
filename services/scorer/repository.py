"""SQL of the scorer (the writer of scores and run_metric_aggregates)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.ids import counter_shard
from shared.scoring.metric import MetricVersion, ScoreOutcome


@dataclass(frozen=True)
class RecordToScore:
    id: uuid.UUID
    run_id: uuid.UUID
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    expected: dict[str, Any]
    metric_version_ids: tuple[uuid.UUID, ...]


class ScoreRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._metrics: dict[uuid.UUID, MetricVersion] = {}

    async def metric_version(self, version_id: uuid.UUID) -> MetricVersion | None:
        """Metric versions are immutable, so they are cached for the life of the process."""
        cached = self._metrics.get(version_id)
        if cached is not None:
            return cached
        row = await self._pool.fetchrow(
            "SELECT v.*, m.name FROM metric_versions v JOIN metrics m ON m.id = v.metric_id WHERE v.id = $1",
            version_id,
        )
        if row is None:
            return None
        metric = MetricVersion(
            row["id"],
            row["metric_id"],
            row["name"],
            row["eval_type"],
            row["output_type"],
            row["passing_threshold"],
            row["config"],
        )
        self._metrics[version_id] = metric
        return metric

    async def record(self, record_id: uuid.UUID) -> RecordToScore | None:
        row = await self._pool.fetchrow(
            "SELECT r.id, r.run_id, r.status, r.inputs, r.outputs, r.expected, runs.metric_version_ids"
            " FROM records r JOIN runs ON runs.id = r.run_id WHERE r.id = $1",
            record_id,
        )
        if row is None:
            return None
        return RecordToScore(
            row["id"],
            row["run_id"],
            row["status"],
            row["inputs"],
            row["outputs"],
            row["expected"],
            tuple(row["metric_version_ids"]),
        )

    async def save(
        self, score_id: uuid.UUID, record: RecordToScore, metric: MetricVersion, outcome: ScoreOutcome
    ) -> bool:
        """Write the score once (deterministic id) and fold it into the run's aggregates, atomically.

        Returns False when the score already existed (a redelivery): nothing changes then.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value, value_num, passed,"
                " reasoning, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                score_id,
                record.id,
                record.run_id,
                metric.id,
                outcome.status,
                outcome.value,
                outcome.value_num,
                outcome.passed,
                outcome.reasoning,
                outcome.error,
            )
            if inserted is None:
                return False
            completed = outcome.status == "completed"
            value = outcome.value_num or 0.0
            await conn.execute(
                "INSERT INTO run_metric_aggregates AS a"
                " (run_id, metric_version_id, shard, scored, passed, sum, sum_sq, errored)"
                " VALUES ($1, $2, $8, $3, $4, $5, $6, $7)"
                " ON CONFLICT (run_id, metric_version_id, shard) DO UPDATE SET"
                " scored = a.scored + EXCLUDED.scored, passed = a.passed + EXCLUDED.passed,"
                " sum = a.sum + EXCLUDED.sum, sum_sq = a.sum_sq + EXCLUDED.sum_sq,"
                " errored = a.errored + EXCLUDED.errored",
                record.run_id,
                metric.id,
                int(completed),
                int(bool(outcome.passed)),
                value if completed else 0.0,
                value * value if completed else 0.0,
                int(not completed),
                counter_shard(record.id),
            )
            return True
