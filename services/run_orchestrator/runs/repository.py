"""SQL of the run lifecycle (the orchestrator writes runs, records and their counters)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.run_orchestrator.runs.authors import Author
from services.run_orchestrator.runs.client_scores import ClientScore
from services.run_orchestrator.runs.lifecycle import RunProgress, next_status
from shared import telemetry
from shared.db import latency
from shared.db.pool import Connection, fetch_one, transaction
from shared.db.shards import fold_run_shards
from shared.events import ProducedRecord
from shared.ids import counter_shard, record_id
from shared.json_limits import json_text
from shared.run_status import LIVE, SCORABLE, TERMINAL, RunStatus


@dataclass(frozen=True)
class RunHeader:
    """What a record handler needs to know of its run (fields that never change)."""

    id: uuid.UUID
    testset_id: uuid.UUID
    testset_version: int
    trials: int


# Told of every status a run moves to, in the transaction that moves it (the webhooks' outbox).
RunMoved = Callable[[Connection, uuid.UUID, str], Awaitable[object]]


class RunRepository:
    def __init__(self, pool: asyncpg.Pool, run_moved: RunMoved | None = None) -> None:
        self._pool = pool
        self._run_moved = run_moved
        self._headers: dict[uuid.UUID, RunHeader] = {}

    async def create_run(
        self,
        *,
        project_id: uuid.UUID,
        testset_id: uuid.UUID,
        testset_version: int,
        system_version_id: uuid.UUID | None,
        metric_version_ids: list[uuid.UUID],
        human_metric_version_ids: list[uuid.UUID],
        source: str,
        trials: int,
        max_concurrency: int | None,
        expected_records: int,
        notes: str,
        llm_config: dict[str, Any] | None = None,
        playground_try: bool = False,
        testcase_ids: list[uuid.UUID] | None = None,
        subset: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        conn: Connection | None = None,
        run_id: uuid.UUID | None = None,
        created_by: Author | None = None,
        schedule_id: uuid.UUID | None = None,
    ) -> asyncpg.Record:
        """A pending run of a system version, or (a playground try) of ``llm_config``; in the
        caller's transaction on ``conn``, if given; ``run_id``: its id (a new one by default);
        ``schedule_id``: the schedule that kicked it off."""
        async with transaction(self._pool, conn) as conn:
            row = await fetch_one(
                conn,
                "INSERT INTO runs (id, project_id, testset_id, testset_version, system_version_id,"
                " metric_version_ids, human_metric_version_ids, source, status, trials, max_concurrency,"
                " expected_records, notes, llm_config, playground_try, subset, tags, created_by, created_by_key_prefix,"
                " schedule_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12, $13, $14, $15,"
                " $16, $17, $18, $19)"
                " RETURNING *",
                run_id or uuid.uuid4(),
                project_id,
                testset_id,
                testset_version,
                system_version_id,
                metric_version_ids,
                human_metric_version_ids,
                source,
                trials,
                max_concurrency,
                expected_records,
                notes,
                llm_config,
                playground_try,
                subset,
                tags or [],
                *(created_by or Author("", "")),
                schedule_id,
            )
            if testcase_ids is not None:
                await conn.execute(
                    "INSERT INTO run_subsets (run_id, testcase_id) SELECT $1, unnest($2::uuid[])",
                    row["id"],
                    testcase_ids,
                )
            await self.transition(conn, row["id"], "pending")
        return row

    async def outside_subset(self, run_id: uuid.UUID, testcase_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Those of ``testcase_ids`` the run did not choose (ask only for a run that chose part of its testset)."""
        rows = await self._pool.fetch(
            "SELECT t FROM unnest($2::uuid[]) AS t"
            " WHERE NOT EXISTS (SELECT 1 FROM run_subsets s WHERE s.run_id = $1 AND s.testcase_id = t)",
            run_id,
            testcase_ids,
        )
        return [r["t"] for r in rows]

    async def get(self, run_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)

    @staticmethod
    async def transition(conn: Connection, run_id: uuid.UUID, status: str) -> None:
        """Every status a run goes through is written here, and counted here; its latency
        percentiles follow it."""
        await conn.execute("INSERT INTO run_status_transitions (run_id, status) VALUES ($1, $2)", run_id, status)
        await latency.follow_status(conn, run_id, status)
        telemetry.RUN_TRANSITIONS.labels(status).inc()

    async def _moved(self, conn: Connection, run_id: uuid.UUID, status: str) -> None:
        """After a status change, in its transaction: a finished run's shards folded, webhooks told."""
        if status in TERMINAL:
            await fold_run_shards(conn, run_id)
        if self._run_moved is not None:
            await self._run_moved(conn, run_id, status)

    async def set_status(
        self, run_id: uuid.UUID, status: str, *, only_from: tuple[str, ...], error: str = ""
    ) -> asyncpg.Record | None:
        """Move the run to ``status`` if it is in one of ``only_from``; None otherwise."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE runs SET status = $2, error = $4, updated_at = now(),"
                " finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN now() ELSE NULL END"
                " WHERE id = $1 AND status = ANY($3::text[]) RETURNING *",
                run_id,
                status,
                list(only_from),
                error,
            )
            if row is not None:
                await self.transition(conn, run_id, status)
                await self._moved(conn, run_id, status)
            return row

    async def cancel(self, run_id: uuid.UUID) -> asyncpg.Record | None:
        """Cancel a run that has not finished; None when it already has."""
        return await self.set_status(run_id, RunStatus.CANCELLED, only_from=tuple(LIVE))

    async def archive(self, run_id: uuid.UUID, statuses: Sequence[str]) -> asyncpg.Record | None:
        """Archive a run that is not archived and is in one of ``statuses``; None otherwise."""
        return await self._pool.fetchrow(
            "UPDATE runs SET archived_at = now(), updated_at = now()"
            " WHERE id = $1 AND archived_at IS NULL AND status = ANY($2::text[]) RETURNING *",
            run_id,
            list(statuses),
        )

    async def unarchive(self, run_id: uuid.UUID) -> asyncpg.Record | None:
        """Bring back an archived run; None when it is not archived."""
        return await self._pool.fetchrow(
            "UPDATE runs SET archived_at = NULL, updated_at = now() WHERE id = $1 AND archived_at IS NOT NULL"
            " RETURNING *",
            run_id,
        )

    async def update_tags(self, run_id: uuid.UUID, change: Callable[[list[str]], list[str]]) -> asyncpg.Record | None:
        """The run with its tags changed by ``change`` (given the current ones, under a row lock);
        None when there is no such run."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval("SELECT tags FROM runs WHERE id = $1 FOR UPDATE", run_id)
            if current is None:
                return None
            return await conn.fetchrow(
                "UPDATE runs SET tags = $2, updated_at = now() WHERE id = $1 RETURNING *", run_id, change(current)
            )

    async def update_notes(self, run_id: uuid.UUID, notes: str) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "UPDATE runs SET notes = $2, updated_at = now() WHERE id = $1 RETURNING *", run_id, notes
        )

    async def rescore(
        self, run_id: uuid.UUID, metric_version_ids: list[uuid.UUID], human_metric_version_ids: list[uuid.UUID]
    ) -> asyncpg.Record | None:
        """Pin new metric versions and move the run back to scoring; None unless every record is in."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE runs SET metric_version_ids = $2, human_metric_version_ids = $3, status = 'awaiting_scoring',"
                " finished_at = NULL, updated_at = now() WHERE id = $1 AND status = ANY($4::text[]) RETURNING *",
                run_id,
                metric_version_ids,
                human_metric_version_ids,
                sorted(SCORABLE),
            )
            if row is not None:
                await self.transition(conn, run_id, "awaiting_scoring")
            return row

    async def completed_record_ids(self, run_id: uuid.UUID, batch: int = 1000) -> AsyncIterator[list[uuid.UUID]]:
        after = uuid.UUID(int=0)
        while True:
            rows = await self._pool.fetch(
                "SELECT id FROM records WHERE run_id = $1 AND status = 'completed' AND id > $2 ORDER BY id LIMIT $3",
                run_id,
                after,
                batch,
            )
            if not rows:
                return
            yield [r["id"] for r in rows]
            after = rows[-1]["id"]

    async def header(self, run_id: uuid.UUID) -> RunHeader | None:
        cached = self._headers.get(run_id)
        if cached is not None:
            return cached
        row = await self._pool.fetchrow(
            "SELECT id, testset_id, testset_version, trials FROM runs WHERE id = $1", run_id
        )
        if row is None:
            return None
        header = RunHeader(row["id"], row["testset_id"], row["testset_version"], row["trials"])
        if len(self._headers) > 10_000:
            self._headers.clear()
        self._headers[run_id] = header
        return header

    async def scoring_targets(self, run_id: uuid.UUID) -> tuple[str, list[uuid.UUID]]:
        """The run's status and current metric versions (they change when a run is re-scored)."""
        row = await fetch_one(self._pool, "SELECT status, metric_version_ids FROM runs WHERE id = $1", run_id)
        return row["status"], list(row["metric_version_ids"])

    async def testcases_in_testset(self, testcase_ids: set[uuid.UUID], testset_id: uuid.UUID) -> set[uuid.UUID]:
        """Which of the testcases belong to the testset."""
        rows = await self._pool.fetch(
            "SELECT id FROM testcases WHERE id = ANY($1::uuid[]) AND testset_id = $2", list(testcase_ids), testset_id
        )
        return {r["id"] for r in rows}

    async def testcases_at(
        self, testset_id: uuid.UUID, version: int, testcase_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, asyncpg.Record]:
        """Inputs, expected values and metadata of the given testcases as they are in one testset version."""
        rows = await self._pool.fetch(
            "SELECT testcase_id, inputs, expected, metadata FROM testcase_revisions"
            " WHERE testset_id = $1 AND testcase_id = ANY($2::uuid[]) AND from_version <= $3"
            " AND (to_version IS NULL OR to_version > $3)",
            testset_id,
            testcase_ids,
            version,
        )
        return {r["testcase_id"]: r for r in rows}

    async def testcases_between(
        self, testset_id: uuid.UUID, version: int, first_position: int, last_position: int
    ) -> list[asyncpg.Record]:
        """The testcases of one testset version between two positions (inclusive), as ``testcases_at``."""
        return await self._pool.fetch(
            "SELECT testcase_id, inputs, expected, metadata FROM testcase_revisions"
            " WHERE testset_id = $1 AND from_version <= $2 AND (to_version IS NULL OR to_version > $2)"
            " AND position BETWEEN $3 AND $4 ORDER BY position",
            testset_id,
            version,
            first_position,
            last_position,
        )

    async def save_client_scores(self, scores: list[tuple[uuid.UUID, uuid.UUID, ClientScore]]) -> None:
        """(record id, metric id, score) of ingested records; the first sent for a record and metric stays."""
        await self._pool.execute(
            "INSERT INTO client_scores (record_id, metric_id, value, reasoning, error)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::text[], $5::text[])"
            " ON CONFLICT (record_id, metric_id) DO NOTHING",
            [r for r, _, _ in scores],
            [m for _, m, _ in scores],
            [s.value for _, _, s in scores],
            [s.reasoning for _, _, s in scores],
            [s.error for _, _, s in scores],
        )

    async def existing_records(self, record_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self._pool.fetch("SELECT id FROM records WHERE id = ANY($1::uuid[])", record_ids)
        return {r["id"] for r in rows}

    async def record_run(self, record_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT r.id, r.run_id, r.status, runs.project_id, runs.metric_version_ids"
            " FROM records r JOIN runs ON runs.id = r.run_id WHERE r.id = $1",
            record_id,
        )

    async def tag_records(
        self, run_id: uuid.UUID, record_ids: list[uuid.UUID], add: list[str], remove: list[str]
    ) -> int:
        """Add then remove tags (each tag once, sorted); returns how many records of the run matched."""
        result: str = await self._pool.execute(
            "UPDATE records SET tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || $3::text[]) AS t"
            "   WHERE t <> ALL($4::text[]) ORDER BY t)"
            " WHERE run_id = $1 AND id = ANY($2::uuid[])",
            run_id,
            record_ids,
            add,
            remove,
        )
        return int(result.split()[-1])

    async def save_records(self, run_id: uuid.UUID, records: list[ProducedRecord]) -> tuple[list[uuid.UUID], int]:
        """Store the records once each (deterministic ids) and count them, in one statement. A
        record a retry set pending takes its answer (and is counted again); any other record already
        there (a redelivery, a re-execution) is left as it is and not counted again. Returns the
        records' ids, in order, and how many were stored."""
        ids = [record_id(run_id, r.testcase_id, r.trial) for r in records]
        unique: dict[uuid.UUID, ProducedRecord] = {}
        for rid, record in zip(ids, records, strict=True):
            unique.setdefault(rid, record)
        rows = list(unique.values())
        # The steps of the calls that had some, stored with their records (and only with them).
        stepped = [(rid, r.spans) for rid, r in unique.items() if r.spans]
        # As JSON text: a list of lists would be read as a two-dimensional array.
        with_steps = [[rid for rid, _ in stepped], [json_text(steps) for _, steps in stepped]] if stepped else []
        inserted = await self._pool.fetchval(
            _INSERT_RECORDS_AND_SPANS if stepped else _INSERT_RECORDS,
            run_id,
            list(unique),
            [r.testcase_id for r in rows],
            [r.trial for r in rows],
            [r.inputs for r in rows],
            [r.expected for r in rows],
            [r.outputs for r in rows],
            [r.status for r in rows],
            [r.error for r in rows],
            [r.latency_ms for r in rows],
            [r.metadata for r in rows],
            [r.prompt_tokens for r in rows],
            [r.completion_tokens for r in rows],
            [r.cost_usd for r in rows],
            [counter_shard(rid) for rid in unique],
            *with_steps,
        )
        return ids, int(inserted)

    async def advance(self, run_id: uuid.UUID) -> str | None:
        async with self._pool.acquire() as conn:
            return await self._advance(conn, run_id)

    async def _advance(self, conn: Connection, run_id: uuid.UUID) -> str | None:
        """Move the run to the status its counts call for.

        Called after the caller's own write committed, so the last writer always sees every
        write before it. The counts are read without a lock; the run row is locked (and the
        counts read again) only when the status really changes, which happens a handful of
        times per run, so concurrent handlers do not queue on the run row.
        """
        progress = await self._progress(conn, run_id, lock=False)
        if progress is None or next_status(progress) == progress.status:
            return None
        async with conn.transaction():
            progress = await self._progress(conn, run_id, lock=True)
            assert progress is not None
            target = next_status(progress)
            if target == progress.status:
                return None
            await conn.execute(
                "UPDATE runs SET status = $2, updated_at = now(),"
                " started_at = CASE WHEN started_at IS NULL AND $2 <> 'awaiting_execution'"
                "   THEN now() ELSE started_at END,"
                " finished_at = CASE WHEN $2 = 'completed' THEN now() ELSE finished_at END"
                " WHERE id = $1",
                run_id,
                target,
            )
            await self.transition(conn, run_id, target)
            await self._moved(conn, run_id, target)
            return target

    @staticmethod
    async def _progress(conn: Connection, run_id: uuid.UUID, *, lock: bool) -> RunProgress | None:
        row = await conn.fetchrow(
            "SELECT status, expected_records, cardinality(metric_version_ids) AS metrics,"
            " cardinality(human_metric_version_ids) AS human_metrics,"
            " (SELECT coalesce(sum(c.records), 0) FROM run_record_counts c WHERE c.run_id = runs.id) AS records,"
            " (SELECT coalesce(sum(c.errored), 0) FROM run_record_counts c WHERE c.run_id = runs.id) AS errored,"
            " (SELECT coalesce(sum(a.scored + a.errored), 0) FROM run_metric_aggregates a"
            "   WHERE a.run_id = runs.id AND a.metric_version_id = ANY(runs.metric_version_ids)) AS scores_done,"
            " (SELECT coalesce(sum(a.scored + a.errored), 0) FROM run_metric_aggregates a"
            "   WHERE a.run_id = runs.id AND a.metric_version_id = ANY(runs.human_metric_version_ids)) AS human_done"
            " FROM runs WHERE id = $1" + (" FOR NO KEY UPDATE" if lock else ""),
            run_id,
        )
        if row is None:
            return None
        return RunProgress(
            row["status"],
            row["expected_records"],
            int(row["records"]),
            int(row["errored"]),
            row["metrics"],
            int(row["scores_done"]),
            row["human_metrics"],
            int(row["human_done"]),
        )

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._pool.fetch("SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}


# Records of one run inserted from arrays ($2 …, one element per record), and the new ones
# counted into the run's sharded counters (the usage sums let a run page show totals without
# scanning its records) — one statement, so a batch is one round trip and one transaction. Each
# record gets its own created_at (clock_timestamp, in the batch's order), as if stored one by one:
# the reads that split the time line into windows need records apart in time.
_INSERT_RECORDS = """
WITH batch AS (
    SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::int[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::text[],
                         $9::text[], $10::float8[], $11::jsonb[], $12::int[], $13::int[], $14::float8[], $15::int[])
        AS b(id, testcase_id, trial, inputs, expected, outputs, status, error, latency_ms, metadata,
             prompt_tokens, completion_tokens, cost_usd, shard)
), inserted AS (
    INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, error, latency_ms,
                         metadata, prompt_tokens, completion_tokens, cost_usd, created_at)
    SELECT id, $1, testcase_id, trial, inputs, expected, outputs, status, error, latency_ms, metadata,
           prompt_tokens, completion_tokens, cost_usd, clock_timestamp()
    FROM batch
    ON CONFLICT (id) DO UPDATE SET outputs = EXCLUDED.outputs, status = EXCLUDED.status, error = EXCLUDED.error,
        latency_ms = EXCLUDED.latency_ms, prompt_tokens = EXCLUDED.prompt_tokens,
        completion_tokens = EXCLUDED.completion_tokens, cost_usd = EXCLUDED.cost_usd
        WHERE records.status = 'pending'
    RETURNING id
), counted AS (
    INSERT INTO run_record_counts AS c (run_id, shard, records, errored, latency_ms, prompt_tokens,
                                        completion_tokens, cost_usd, costed)
    SELECT $1, b.shard, count(*), count(*) FILTER (WHERE b.status = 'errored'), sum(b.latency_ms),
           sum(b.prompt_tokens), sum(b.completion_tokens), coalesce(sum(b.cost_usd), 0), count(b.cost_usd)
    FROM inserted JOIN batch b USING (id)
    GROUP BY b.shard
    ORDER BY b.shard  -- the same lock order in every transaction: no deadlock between batches
    ON CONFLICT (run_id, shard) DO UPDATE SET records = c.records + EXCLUDED.records,
        errored = c.errored + EXCLUDED.errored, latency_ms = c.latency_ms + EXCLUDED.latency_ms,
        prompt_tokens = c.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = c.completion_tokens + EXCLUDED.completion_tokens,
        cost_usd = c.cost_usd + EXCLUDED.cost_usd, costed = c.costed + EXCLUDED.costed
    RETURNING 1
)
SELECT count(*) FROM inserted
"""
# The same, with the steps ($16 record ids, $17 their steps as JSON text) of the records it stores: a record left
# as it was (a redelivery) keeps its steps too. A record a retry set pending takes its new ones.
_INSERT_RECORDS_AND_SPANS = _INSERT_RECORDS.replace(
    "\nSELECT count(*) FROM inserted",
    """, stepped AS (
    INSERT INTO record_spans (record_id, spans)
    SELECT s.id, s.spans::jsonb FROM unnest($16::uuid[], $17::text[]) AS s(id, spans) JOIN inserted USING (id)
    ON CONFLICT (record_id) DO UPDATE SET spans = EXCLUDED.spans
    RETURNING 1
)
SELECT count(*) FROM inserted""",
)
assert _INSERT_RECORDS_AND_SPANS != _INSERT_RECORDS
