"""Retrying errored records on PostgreSQL (services/run_orchestrator/runs/attempts.py and the
record store): retries started at once start one, the errored records leave the counts exactly,
their attempts are kept, a new answer fills a pending record once, and the run's latency
percentiles are cleared while it executes again and kept once it has finished."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.run_orchestrator.runs.attempts import AttemptRepository
from services.run_orchestrator.runs.counts import RecordCounts, add_counts
from services.run_orchestrator.runs.repository import RunRepository
from shared.db import latency as run_latency
from shared.edge.errors import ApiError, Code
from shared.events import ProducedRecord
from shared.ids import counter_shard, record_id

pytestmark = pytest.mark.postgres


async def seed(db: asyncpg.Pool) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A completed run of three testcases: the first completed, the other two errored."""
    project, testset, run = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    await db.execute(
        "INSERT INTO testsets (id, project_id, name, field_mapping) VALUES ($1, $2, 't', '{}')", testset, project
    )
    await db.execute(
        "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, source, status, trials,"
        " expected_records) VALUES ($1, $2, $3, 1, '{}', 'api', 'completed', 1, 3)",
        run,
        project,
        testset,
    )
    cases = []
    for status, latency, cost in (("completed", 10.0, 0.5), ("errored", 3.0, None), ("errored", 4.0, 0.25)):
        case = uuid.uuid4()
        cases.append(case)
        await db.execute("INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", case, testset)
        rid = record_id(run, case, 0)
        await db.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, error, latency_ms,"
            " cost_usd) VALUES ($1, $2, $3, 0, '{}', '{}', '{}', $4, $5, $6, $7)",
            rid,
            run,
            case,
            status,
            "boom" if status == "errored" else "",
            latency,
            cost,
        )
        async with db.acquire() as conn:
            await add_counts(conn, run, counter_shard(rid), RecordCounts.of(status, latency, 0, 0, cost))
    return run, cases


async def counts(db: asyncpg.Pool, run: uuid.UUID) -> tuple[int, int, float, float, int]:
    row = await db.fetchrow(
        "SELECT sum(records), sum(errored), sum(latency_ms), sum(cost_usd), sum(costed) FROM run_record_counts"
        " WHERE run_id = $1",
        run,
    )
    assert row is not None
    return tuple(row)


async def percentiles(db: asyncpg.Pool, run: uuid.UUID) -> tuple[float | None, ...]:
    row = await db.fetchrow("SELECT latency_p50_ms, latency_p95_ms, latency_p99_ms FROM runs WHERE id = $1", run)
    assert row is not None
    return tuple(row)


async def test_retries_at_once_start_one_and_take_exactly_the_errored_records_out(db: asyncpg.Pool) -> None:
    run, cases = await seed(db)
    async with db.acquire() as conn:  # as the run's completion kept them: over 10, 3 and 4 ms
        await run_latency.follow_status(conn, run, "completed")
    assert await percentiles(db, run) == pytest.approx((4.0, 9.4, 9.88))
    attempts = AttemptRepository(db)
    outcomes = await asyncio.gather(*(attempts.start_retry(run) for _ in range(5)), return_exceptions=True)
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, ApiError)]
    assert len(started) == 1 and len(refused) == 4
    assert all(r.code is Code.FAILED_PRECONDITION and "awaiting_execution" in r.message for r in refused)
    assert (started[0].retry, started[0].retried, started[0].run["status"]) == (1, 2, "awaiting_execution")
    assert await counts(db, run) == (1, 0, 10.0, 0.5, 1)
    kept = await db.fetch("SELECT record_id, attempt, status, error, retry FROM record_attempts ORDER BY latency_ms")
    assert [(r["attempt"], r["status"], r["error"], r["retry"]) for r in kept] == [(1, "errored", "boom", 1)] * 2
    assert len(await attempts.pending_records(run)) == 2

    # A new answer fills a pending record once; a replay of it changes nothing.
    runs = RunRepository(db)
    answer = ProducedRecord(testcase_id=cases[1], trial=0, status="completed", latency_ms=7.0, cost_usd=1.0)
    for _ in range(2):
        await runs.save_records(run, [answer])
    assert await counts(db, run) == (2, 0, 17.0, 1.5, 2)
    # The last one errors again: counted as errored, the run completed again, retried again as attempt 2.
    again = ProducedRecord(testcase_id=cases[2], trial=0, status="errored", error="still", latency_ms=2.0)
    await runs.save_records(run, [again])
    assert await percentiles(db, run) == (None, None, None)  # cleared while it executes again
    status = await runs.advance(run)
    assert status == "completed"
    assert await counts(db, run) == (3, 1, 19.0, 1.5, 2)
    # Finished again: its latency percentiles over 10, 7 and 2 ms, exact (interpolated).
    assert await percentiles(db, run) == pytest.approx((7.0, 9.7, 9.94))
    second = await attempts.start_retry(run)
    assert (second.retry, second.retried) == (2, 1)
    assert await percentiles(db, run) == (None, None, None)
    rid = record_id(run, cases[2], 0)
    history = await db.fetch("SELECT attempt, error, retry FROM record_attempts WHERE record_id = $1 ORDER BY 1", rid)
    assert [tuple(r) for r in history] == [(1, "boom", 1), (2, "still", 2)]
