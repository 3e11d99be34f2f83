"""SQL of retries: a finished run's errored records set pending again (and taken out of its
counts), what each of them was kept in ``record_attempts``, and the run back to execution — in
one transaction on the locked run row, so two retries at once never execute anything twice."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg

from services.run_orchestrator.runs import rules
from services.run_orchestrator.runs.counts import RecordCounts, add_counts
from services.run_orchestrator.runs.repository import RunRepository
from shared.edge.errors import ApiError, Code
from shared.ids import counter_shard
from shared.run_status import RunStatus


@dataclass(frozen=True)
class RetryStarted:
    run: asyncpg.Record  # the run, back to awaiting_execution
    retry: int  # its retry number (1 for the first)
    retried: int  # records set pending


class AttemptRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def start_retry(self, run_id: uuid.UUID) -> RetryStarted:
        """Set the run's errored records pending and the run awaiting execution, or
        FAILED_PRECONDITION naming why not (the run is not finished, or nothing errored)."""
        async with self._pool.acquire() as conn, conn.transaction():
            run = await conn.fetchrow("SELECT * FROM runs WHERE id = $1 FOR UPDATE", run_id)
            if run is None:
                raise ApiError(Code.NOT_FOUND, f"run {run_id} does not exist")
            # An errored record is never scored; one that somehow was is left as it is, so that
            # no score is orphaned.
            errored = await conn.fetch(
                "SELECT id, latency_ms, prompt_tokens, completion_tokens, cost_usd FROM records r"
                " WHERE run_id = $1 AND status = 'errored'"
                " AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.record_id = r.id) FOR UPDATE",
                run_id,
            )
            refusal = rules.retry_refusal(run_id, run["status"], len(errored))
            if refusal is not None:
                raise ApiError(Code.FAILED_PRECONDITION, refusal)
            retry = run["retries"] + 1
            ids = [r["id"] for r in errored]
            await conn.execute(
                "INSERT INTO record_attempts (record_id, attempt, run_id, status, outputs, error, latency_ms,"
                " prompt_tokens, completion_tokens, cost_usd, retry)"
                " SELECT r.id, 1 + (SELECT count(*) FROM record_attempts a WHERE a.record_id = r.id), r.run_id,"
                " r.status, r.outputs, r.error, r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cost_usd, $2"
                " FROM records r WHERE r.id = ANY($1::uuid[])",
                ids,
                retry,
            )
            await conn.execute(
                "UPDATE records SET status = 'pending', outputs = '{}', error = '', latency_ms = 0,"
                " prompt_tokens = 0, completion_tokens = 0, cost_usd = NULL WHERE id = ANY($1::uuid[])",
                ids,
            )
            # The steps were the earlier execution's: the next one brings its own, or none.
            await conn.execute("DELETE FROM record_spans WHERE record_id = ANY($1::uuid[])", ids)
            # The counts lose exactly what these records added; their new answers add it back.
            by_shard: dict[int, RecordCounts] = defaultdict(RecordCounts)
            for r in errored:
                usage = (r["latency_ms"], r["prompt_tokens"], r["completion_tokens"], r["cost_usd"])
                by_shard[counter_shard(r["id"])] += -RecordCounts.of("errored", *usage)
            for shard, delta in sorted(by_shard.items()):
                await add_counts(conn, run_id, shard, delta)
            row = await conn.fetchrow(
                "UPDATE runs SET status = $2, retries = $3, finished_at = NULL, updated_at = now()"
                " WHERE id = $1 RETURNING *",
                run_id,
                RunStatus.AWAITING_EXECUTION,
                retry,
            )
            await RunRepository.transition(conn, run_id, RunStatus.AWAITING_EXECUTION)
        assert row is not None
        return RetryStarted(row, retry, len(ids))

    async def pending_records(self, run_id: uuid.UUID) -> list[asyncpg.Record]:
        """The run's records a retry set pending: testcase_id, trial, inputs, expected, metadata."""
        return await self._pool.fetch(
            "SELECT testcase_id, trial, inputs, expected, metadata FROM records"
            " WHERE run_id = $1 AND status = 'pending'",
            run_id,
        )
