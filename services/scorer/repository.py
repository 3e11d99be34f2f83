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
        self,
        score_id: uuid.UUID,
        record: RecordToScore,
        metric: MetricVersion,
        outcome: ScoreOutcome,
        *,
        reviewer: str = "",
        comment: str = "",
        replace: bool = False,
    ) -> bool:
        """Write the score (deterministic id) and fold it into the run's aggregates, atomically.

        A new score is inserted. An existing one is left alone (a redelivery), except that an
        errored or pending score is replaced by a new outcome, and a human verdict replaces
        an earlier one when ``replace`` is set. The aggregates move by exactly the difference
        between the old and the new row. Returns whether anything changed.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value, value_num, passed,"
                " reasoning, error, reviewer, comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
                reviewer,
                comment,
            )
            if inserted is not None:
                old = None
            else:
                old = await conn.fetchrow(
                    "SELECT status, value_num, passed FROM scores WHERE id = $1 FOR UPDATE", score_id
                )
                assert old is not None
                replaceable = old["status"] in ("errored", "pending") or replace
                if not replaceable or outcome.status == "pending" or (old["status"] == outcome.status == "errored"):
                    return False
                await conn.execute(
                    "UPDATE scores SET status = $2, value = $3, value_num = $4, passed = $5, reasoning = $6,"
                    " error = $7, reviewer = $8, comment = $9, scored_at = now() WHERE id = $1",
                    score_id,
                    outcome.status,
                    outcome.value,
                    outcome.value_num,
                    outcome.passed,
                    outcome.reasoning,
                    outcome.error,
                    reviewer,
                    comment,
                )
            new = _contribution(outcome.status, outcome.value_num, outcome.passed)
            delta = [
                n - o
                for n, o in zip(
                    new,
                    _contribution(old["status"], old["value_num"], old["passed"])
                    if old is not None
                    else (0, 0, 0.0, 0.0, 0, 0),
                    strict=True,
                )
            ]
            await conn.execute(
                "INSERT INTO run_metric_aggregates AS a"
                " (run_id, metric_version_id, shard, scored, passed, sum, sum_sq, errored, pending)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (run_id, metric_version_id, shard) DO UPDATE SET"
                " scored = a.scored + EXCLUDED.scored, passed = a.passed + EXCLUDED.passed,"
                " sum = a.sum + EXCLUDED.sum, sum_sq = a.sum_sq + EXCLUDED.sum_sq,"
                " errored = a.errored + EXCLUDED.errored, pending = a.pending + EXCLUDED.pending",
                record.run_id,
                metric.id,
                counter_shard(record.id),
                *delta,
            )
            return True


def _contribution(status: str, value: float | None, passed: bool | None) -> tuple[int, int, float, float, int, int]:
    """What one score adds to its aggregates: scored, passed, sum, sum of squares, errored, pending."""
    if status == "completed":
        v = value or 0.0
        return 1, int(bool(passed)), v, v * v, 0, 0
    return 0, 0, 0.0, 0.0, int(status == "errored"), int(status == "pending")
