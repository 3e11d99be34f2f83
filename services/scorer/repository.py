"""SQL of the scorer (the writer of scores and run_metric_aggregates)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.scorer.aggregates import NOTHING, Contribution, contribution
from shared.ids import counter_shard, score_id
from shared.scoring.metric import MetricVersion, ScoreOutcome
from shared.scoring.record import ScoringInput
from shared.scoring.stats import expected_label


@dataclass(frozen=True)
class RecordToScore:
    id: uuid.UUID
    run_id: uuid.UUID
    trial: int
    status: str
    metric_version_ids: tuple[uuid.UUID, ...]
    data: ScoringInput


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
            row["guidelines"],
        )
        self._metrics[version_id] = metric
        return metric

    async def record(self, record_id: uuid.UUID) -> RecordToScore | None:
        row = await self._pool.fetchrow(
            "SELECT r.*, runs.metric_version_ids FROM records r JOIN runs ON runs.id = r.run_id WHERE r.id = $1",
            record_id,
        )
        return None if row is None else _record(row)

    async def records(self, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, RecordToScore]:
        """The records of a batch that exist, by id (one read)."""
        rows = await self._pool.fetch(
            "SELECT r.*, runs.metric_version_ids FROM records r JOIN runs ON runs.id = r.run_id"
            " WHERE r.id = ANY($1::uuid[])",
            record_ids,
        )
        return {row["id"]: _record(row) for row in rows}

    async def score_statuses(self, score_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self._pool.fetch("SELECT id, status FROM scores WHERE id = ANY($1::uuid[])", score_ids)
        return {r["id"]: r["status"] for r in rows}

    async def save_new(self, metric: MetricVersion, scored: list[tuple[RecordToScore, ScoreOutcome]]) -> set[uuid.UUID]:
        """Insert the scores that do not exist yet (deterministic ids) and fold them into the run's
        aggregates, summed per trial and shard, in one transaction. Returns the records whose score
        was new; a score that existed is left as it is (``save`` replaces an errored one)."""
        if not scored:
            return set()
        columns = list(zip(*(_score_row(score_id(r.id, metric.id), r, metric, o) for r, o in scored), strict=True))
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetch(
                f"INSERT INTO scores ({', '.join(_SCORE_COLUMNS)}) SELECT * FROM unnest({_SCORE_ARRAYS})"
                " ON CONFLICT (id) DO NOTHING RETURNING record_id",
                *columns,
            )
            new = {r["record_id"] for r in inserted}
            totals: dict[tuple[int, int], Contribution] = {}
            for record, outcome in scored:
                if record.id in new:
                    key = (record.trial, counter_shard(record.id))
                    totals[key] = totals.get(key, NOTHING) + _contribution(metric, record, outcome)
            await conn.executemany(
                _ADD_TO_AGGREGATES,
                [(scored[0][0].run_id, metric.id, trial, shard, *c.values()) for (trial, shard), c in totals.items()],
            )
        return new

    async def score_status(self, score_id: uuid.UUID) -> str | None:
        status: str | None = await self._pool.fetchval("SELECT status FROM scores WHERE id = $1", score_id)
        return status

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
                f"INSERT INTO scores ({', '.join(_SCORE_COLUMNS)})"
                f" VALUES ({', '.join(f'${i}' for i in range(1, len(_SCORE_COLUMNS) + 1))})"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                *_score_row(score_id, record, metric, outcome, reviewer, comment),
            )
            if inserted is not None:
                old = None
            else:
                old = await conn.fetchrow(
                    "SELECT status, value_num, passed, prompt_tokens, completion_tokens, cost_usd"
                    " FROM scores WHERE id = $1 FOR UPDATE",
                    score_id,
                )
                assert old is not None
                replaceable = old["status"] in ("errored", "pending") or replace
                if not replaceable or outcome.status == "pending" or (old["status"] == outcome.status == "errored"):
                    return False
                await conn.execute(
                    "UPDATE scores SET status = $2, value = $3, value_num = $4, passed = $5, reasoning = $6,"
                    " error = $7, reviewer = $8, comment = $9, prompt_tokens = $10, completion_tokens = $11,"
                    " cost_usd = $12, scored_at = now() WHERE id = $1",
                    score_id,
                    outcome.status,
                    outcome.value,
                    outcome.value_num,
                    outcome.passed,
                    outcome.reasoning,
                    outcome.error,
                    reviewer,
                    comment,
                    outcome.prompt_tokens,
                    outcome.completion_tokens,
                    outcome.cost_usd,
                )
            label = _label(metric, record)
            new = _contribution(metric, record, outcome)
            before = NOTHING
            if old is not None:
                before = contribution(
                    old["status"],
                    old["value_num"],
                    old["passed"],
                    label,
                    old["prompt_tokens"],
                    old["completion_tokens"],
                    old["cost_usd"],
                )
            await conn.execute(
                _ADD_TO_AGGREGATES,
                record.run_id,
                metric.id,
                record.trial,
                counter_shard(record.id),
                *(new - before).values(),
            )
            return True


def _record(row: asyncpg.Record) -> RecordToScore:
    return RecordToScore(
        row["id"],
        row["run_id"],
        row["trial"],
        row["status"],
        tuple(row["metric_version_ids"]),
        ScoringInput(
            outputs=row["outputs"],
            expected=row["expected"],
            inputs=row["inputs"],
            metadata=row["metadata"],
            latency_ms=row["latency_ms"],
            cost_usd=row["cost_usd"],
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
        ),
    )


def _contribution(metric: MetricVersion, record: RecordToScore, outcome: ScoreOutcome) -> Contribution:
    return contribution(
        outcome.status,
        outcome.value_num,
        outcome.passed,
        _label(metric, record),
        outcome.prompt_tokens,
        outcome.completion_tokens,
        outcome.cost_usd,
    )


# A score row's columns, and the types of their arrays for a batch's unnest.
_SCORE_COLUMNS = (
    "id", "record_id", "run_id", "metric_version_id", "status", "value", "value_num", "passed", "reasoning", "error",
    "reviewer", "comment", "prompt_tokens", "completion_tokens", "cost_usd",
)  # fmt: skip
_SCORE_ARRAYS = (
    "$1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::float8[], $8::bool[], $9::text[],"
    " $10::text[], $11::text[], $12::text[], $13::int[], $14::int[], $15::float8[]"
)


def _score_row(
    sid: uuid.UUID,
    record: RecordToScore,
    metric: MetricVersion,
    outcome: ScoreOutcome,
    reviewer: str = "",
    comment: str = "",
) -> tuple[object, ...]:
    """One score row, in the order of ``_SCORE_COLUMNS``."""
    return (
        sid,
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
        outcome.prompt_tokens,
        outcome.completion_tokens,
        outcome.cost_usd,
    )


def _label(metric: MetricVersion, record: RecordToScore) -> bool | None:
    """The testcase's expected label for a boolean metric: expected[label_field], by default the
    expected field named like the metric; None when there is none."""
    if metric.output_type != "boolean":
        return None
    field = metric.config.get("label_field") or metric.name
    return expected_label(record.data.expected.get(field))


# Adds a Contribution (its fields in order) to one shard of the aggregates.
_ADD_TO_AGGREGATES = (
    "INSERT INTO run_metric_aggregates AS a (run_id, metric_version_id, trial, shard, "
    + ", ".join(Contribution.columns())
    + ") VALUES ($1, $2, $3, $4, "
    + ", ".join(f"${i}" for i in range(5, 5 + len(Contribution.columns())))
    + ") ON CONFLICT (run_id, metric_version_id, trial, shard) DO UPDATE SET "
    + ", ".join(f"{c} = a.{c} + EXCLUDED.{c}" for c in Contribution.columns())
)
