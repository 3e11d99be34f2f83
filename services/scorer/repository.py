"""SQL of the scorer (the writer of scores and run_metric_aggregates)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.scorer.aggregates import Contribution, Deltas, contribution
from shared.db.pool import Connection
from shared.ids import counter_shard
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
        return (await self.records([record_id])).get(record_id)

    async def records(self, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, RecordToScore]:
        rows = await self._pool.fetch(
            "SELECT r.*, runs.metric_version_ids FROM records r JOIN runs ON runs.id = r.run_id"
            " WHERE r.id = ANY($1::uuid[])",
            record_ids,
        )
        return {
            row["id"]: RecordToScore(
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
                    record_id=row["id"],
                ),
            )
            for row in rows
        }

    async def client_scores(
        self, record_ids: list[uuid.UUID], metric_ids: list[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, uuid.UUID], asyncpg.Record]:
        """The scores a client's own code sent with these records for these metrics, by (record, metric)."""
        rows = await self._pool.fetch(
            "SELECT record_id, metric_id, value, reasoning, error FROM client_scores"
            " WHERE record_id = ANY($1::uuid[]) AND metric_id = ANY($2::uuid[])",
            record_ids,
            metric_ids,
        )
        return {(r["record_id"], r["metric_id"]): r for r in rows}

    async def score_statuses(self, score_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self._pool.fetch("SELECT id, status FROM scores WHERE id = ANY($1::uuid[])", score_ids)
        return {r["id"]: r["status"] for r in rows}

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
        """One score (see ``save_many``)."""
        write = ScoreWrite(score_id, record, metric, outcome, reviewer=reviewer, comment=comment, replace=replace)
        return (await self.save_many([write]))[0]

    async def save_many(self, writes: list[ScoreWrite]) -> list[bool]:
        """Write the scores (deterministic ids) and fold them into their runs' aggregates, in one
        transaction. Returns, for each, whether anything changed.

        A new score is inserted. An existing one is left alone (a redelivery), except that an
        errored or pending score is replaced by a new outcome, and a human verdict replaces
        an earlier one when ``replace`` is set. The aggregates move by exactly the difference
        between the old and the new rows, summed per aggregate row.
        """
        deltas = Deltas()
        changed: list[bool] = []
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = {row["id"] for row in await conn.fetch(_INSERT_SCORES, *_score_columns(writes))}
            for write in writes:
                key = (write.record.run_id, write.metric.id, write.record.trial, counter_shard(write.record.id))
                if write.score_id in inserted:
                    deltas.add(key, write.contribution())
                elif (old := await self._replaced(conn, write)) is not None:
                    deltas.add(key, write.contribution(), old)
                else:
                    changed.append(False)
                    continue
                changed.append(True)
            if deltas:
                rows = deltas.rows()
                await conn.execute(
                    _ADD_TO_AGGREGATES,
                    *([key[i] for key, _ in rows] for i in range(4)),
                    *([sums[i] for _, sums in rows] for i in range(len(Contribution.columns()))),
                )
        return changed

    @staticmethod
    async def _replaced(conn: Connection, write: ScoreWrite) -> Contribution | None:
        """Replace an existing score when the rules allow it; the old row's contribution, or None
        when it stays as it is."""
        old = await conn.fetchrow(
            "SELECT status, value_num, passed, prompt_tokens, completion_tokens, cost_usd"
            " FROM scores WHERE id = $1 FOR UPDATE",
            write.score_id,
        )
        assert old is not None
        outcome = write.outcome
        replaceable = old["status"] in ("errored", "pending") or write.replace
        if not replaceable or outcome.status == "pending" or (old["status"] == outcome.status == "errored"):
            return None
        await conn.execute(
            "UPDATE scores SET status = $2, value = $3, value_num = $4, passed = $5, reasoning = $6,"
            " error = $7, reviewer = $8, comment = $9, prompt_tokens = $10, completion_tokens = $11,"
            " cost_usd = $12, scored_at = now() WHERE id = $1",
            write.score_id,
            outcome.status,
            outcome.value,
            outcome.value_num,
            outcome.passed,
            outcome.reasoning,
            outcome.error,
            write.reviewer,
            write.comment,
            outcome.prompt_tokens,
            outcome.completion_tokens,
            outcome.cost_usd,
        )
        return contribution(
            old["status"],
            old["value_num"],
            old["passed"],
            _label(write.metric, write.record),
            old["prompt_tokens"],
            old["completion_tokens"],
            old["cost_usd"],
        )


@dataclass(frozen=True)
class ScoreWrite:
    """One score to write: its outcome for a record and a metric version."""

    score_id: uuid.UUID
    record: RecordToScore
    metric: MetricVersion
    outcome: ScoreOutcome
    reviewer: str = ""
    comment: str = ""
    replace: bool = False

    def contribution(self) -> Contribution:
        o = self.outcome
        label = _label(self.metric, self.record)
        return contribution(o.status, o.value_num, o.passed, label, o.prompt_tokens, o.completion_tokens, o.cost_usd)


def _score_columns(writes: list[ScoreWrite]) -> list[list[object]]:
    return [
        [w.score_id for w in writes],
        [w.record.id for w in writes],
        [w.record.run_id for w in writes],
        [w.metric.id for w in writes],
        [w.outcome.status for w in writes],
        [w.outcome.value for w in writes],
        [w.outcome.value_num for w in writes],
        [w.outcome.passed for w in writes],
        [w.outcome.reasoning for w in writes],
        [w.outcome.error for w in writes],
        [w.reviewer for w in writes],
        [w.comment for w in writes],
        [w.outcome.prompt_tokens for w in writes],
        [w.outcome.completion_tokens for w in writes],
        [w.outcome.cost_usd for w in writes],
    ]


def _label(metric: MetricVersion, record: RecordToScore) -> bool | None:
    """The testcase's expected label for a boolean metric: expected[label_field], by default the
    expected field named like the metric; None when there is none."""
    if metric.output_type != "boolean":
        return None
    field = metric.config.get("label_field") or metric.name
    return expected_label(record.data.expected.get(field))


# Scores inserted from arrays, one element per score; those already there are left to the caller.
_INSERT_SCORES = """
INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value, value_num, passed, reasoning, error,
                    reviewer, comment, prompt_tokens, completion_tokens, cost_usd)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::float8[],
                     $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::int[],
                     $15::float8[])
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

# Adds Contributions to shards of the aggregates: arrays of run ids, metric version ids, trials,
# shards, then one array per Contribution column.
_ADD_TO_AGGREGATES = (
    "INSERT INTO run_metric_aggregates AS a (run_id, metric_version_id, trial, shard, "
    + ", ".join(Contribution.columns())
    + ") SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], "
    + ", ".join(f"${i}::{t}[]" for i, t in enumerate(Contribution.sql_types(), start=5))
    + ") ON CONFLICT (run_id, metric_version_id, trial, shard) DO UPDATE SET "
    + ", ".join(f"{c} = a.{c} + EXCLUDED.{c}" for c in Contribution.columns())
)
