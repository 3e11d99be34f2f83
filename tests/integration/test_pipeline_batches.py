"""The orchestrator's and the scorer's batch handlers on a real PostgreSQL, called directly (what
they publish is collected): a batch is written once whatever is replayed or was half-committed
before, an invalid event fails its batch before anything is written, and scores and aggregates
equal the rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from services.run_orchestrator.runs.attempts import AttemptRepository
from services.run_orchestrator.runs.handlers import OrchestratorHandlers
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.scoring import ScoreRequests
from services.run_orchestrator.runs.settlement import Settlement
from services.scorer.handlers import ScorerHandlers
from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.repository import ScoreRepository
from services.scorer.scorers import Item
from shared.events import Event, ProducedRecord, RecordsProduced, ScoresCompleted, ScoresRequested
from shared.ids import record_id
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.scoring.metric import ScoreOutcome
from tests.support.db_seed import seed

pytestmark = [pytest.mark.postgres]

CONTAINS_A: dict[str, object] = {"kind": "contains", "params": {"value": "a"}}
CONTAINS_B: dict[str, object] = {"kind": "contains", "params": {"value": "b"}}


class Published:
    """Stands in for the bus: keeps what a handler publishes."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event, **_: Any) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def record(case: uuid.UUID, answer: str, *, trial: int = 0, errored: bool = False) -> ProducedRecord:
    if errored:
        return ProducedRecord(testcase_id=case, trial=trial, status="errored", error="HTTP 503", latency_ms=5)
    return ProducedRecord(
        testcase_id=case, trial=trial, outputs={"response": answer}, status="completed", latency_ms=10, cost_usd=0.5
    )


async def counts(db: asyncpg.Pool, run: uuid.UUID) -> tuple[int, int, int, float, float]:
    """(record rows, counted records, counted errored, counted latency, counted cost) of a run."""
    rows = await db.fetchval("SELECT count(*) FROM records WHERE run_id = $1", run)
    c = await db.fetchrow(
        "SELECT coalesce(sum(records), 0) AS n, coalesce(sum(errored), 0) AS e, coalesce(sum(latency_ms), 0) AS l,"
        " coalesce(sum(cost_usd), 0) AS c FROM run_record_counts WHERE run_id = $1",
        run,
    )
    assert c is not None
    return rows, c["n"], c["e"], c["l"], c["c"]


def _handlers(db: asyncpg.Pool, bus: Any, runs: RunRepository | None = None) -> OrchestratorHandlers:
    runs = runs or RunRepository(db)
    settlement = Settlement(runs, AttemptRepository(db))
    return OrchestratorHandlers(runs, cast(Bus, bus), ScoreRequests(cast(Bus, bus)), settlement)


@pytest.fixture
async def pool() -> AsyncIterator[HeuristicPool]:
    heuristics = HeuristicPool(1, 2.0)
    yield heuristics
    heuristics.close()


async def test_a_batch_of_records_is_stored_counted_and_sent_to_scoring_once(db: asyncpg.Pool) -> None:
    run, cases, versions = await seed(db, 5, 1, [("a", "boolean", CONTAINS_A), ("b", "boolean", CONTAINS_B)])
    bus = Published()
    handlers = _handlers(db, bus)
    first = RecordsProduced(run_id=run, records=[record(cases[0], "a"), record(cases[1], "ab")])
    second = RecordsProduced(
        run_id=run, records=[record(cases[2], "b"), record(cases[3], "", errored=True), record(cases[4], "x")]
    )

    await handlers.on_records_produced([first, second])
    assert await counts(db, run) == (5, 5, 1, 45.0, 2.0)
    (requested,) = bus.of(ScoresRequested)
    completed = [record_id(run, case, 0) for case in (cases[0], cases[1], cases[2], cases[4])]
    assert (requested.run_id, requested.record_ids, requested.metric_version_ids) == (run, completed, versions)

    # A replayed batch writes nothing more, and asks for the same scores again (the first
    # delivery may have died between its commit and its publish).
    await handlers.on_records_produced([second, first])
    assert await counts(db, run) == (5, 5, 1, 45.0, 2.0)
    assert sorted(bus.of(ScoresRequested)[1].record_ids) == sorted(completed)


async def test_a_half_committed_batch_is_completed_without_counting_twice(db: asyncpg.Pool) -> None:
    run, cases, _ = await seed(db, 4, 2, [("a", "boolean", CONTAINS_A)])
    runs = RunRepository(db)
    batch = [record(case, "a", trial=trial) for case in cases for trial in (0, 1)]
    # What a delivery committed before it died: a part of the batch.
    _, new = await runs.save_records(run, batch[:3])
    assert new == 3
    bus = Published()
    await _handlers(db, bus, runs).on_records_produced([RecordsProduced(run_id=run, records=batch)])
    assert await counts(db, run) == (8, 8, 0, 80.0, 4.0)
    assert await db.fetchval("SELECT status FROM runs WHERE id = $1", run) == "running_scoring"
    # The same testcase × trial twice in one batch is one record.
    _, new = await runs.save_records(run, [record(cases[0], "a", trial=1), record(cases[0], "zzz", trial=1)])
    assert new == 0


async def test_an_invalid_event_fails_its_batch_before_anything_is_written(db: asyncpg.Pool) -> None:
    run, cases, _ = await seed(db, 2, 1, [("a", "boolean", CONTAINS_A)])
    bus = Published()
    handlers = _handlers(db, bus)
    good = RecordsProduced(run_id=run, records=[record(cases[0], "a")])
    stranger = uuid.uuid4()
    bad = RecordsProduced(run_id=run, records=[record(cases[1], "a"), record(stranger, "a")])
    with pytest.raises(InvalidEvent, match=f"testcase {stranger} is not in the testset of run {run}"):
        await handlers.on_records_produced([good, bad])
    assert await counts(db, run) == (0, 0, 0, 0.0, 0.0)
    assert bus.events == []
    too_many = RecordsProduced(run_id=run, records=[record(cases[0], "a", trial=1)])
    with pytest.raises(InvalidEvent, match=f"trial 1 is out of range for run {run} \\(1 trials\\)"):
        await handlers.on_records_produced([too_many])


async def test_scores_and_aggregates_of_a_batch_equal_the_rows_and_a_replay_computes_nothing(
    db: asyncpg.Pool, pool: HeuristicPool
) -> None:
    run, cases, versions = await seed(db, 6, 1, [("a", "boolean", CONTAINS_A), ("b", "boolean", CONTAINS_B)])
    answers = ["a", "ab", "b", "", "ba", "x"]
    ids, _ = await RunRepository(db).save_records(run, [record(c, a) for c, a in zip(cases, answers, strict=True)])
    computed: list[int] = []

    async def heuristics(items: list[Item]) -> list[ScoreOutcome]:
        computed.append(len(items))
        return await pool.score_many(items)

    bus = Published()
    handlers = ScorerHandlers(ScoreRepository(db), cast(Bus, bus), {"heuristic": heuristics})
    events = [
        ScoresRequested(run_id=run, record_ids=ids[:4], metric_version_ids=versions),
        ScoresRequested(run_id=run, record_ids=ids[4:], metric_version_ids=versions),
    ]
    await handlers.on_scores_requested(events)
    assert computed == [12]
    rows = await db.fetch("SELECT metric_version_id, status, passed FROM scores WHERE run_id = $1", run)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"completed"}
    passed = {v: sum(1 for r in rows if r["metric_version_id"] == v and r["passed"]) for v in versions}
    assert passed == {versions[0]: 3, versions[1]: 3}  # a, ab, ba contain "a"; ab, b, ba contain "b"
    aggregates = await db.fetch(
        "SELECT metric_version_id, sum(scored) AS scored, sum(passed) AS passed FROM run_metric_aggregates"
        " WHERE run_id = $1 GROUP BY 1",
        run,
    )
    assert {a["metric_version_id"]: (a["scored"], a["passed"]) for a in aggregates} == {v: (6, 3) for v in versions}
    (done,) = bus.of(ScoresCompleted)
    assert (done.run_id, done.completed, done.errored) == (run, 12, 0)

    await handlers.on_scores_requested(list(reversed(events)))
    assert computed == [12]  # nothing computed (or paid for) twice
    assert await db.fetchval("SELECT sum(scored) FROM run_metric_aggregates WHERE run_id = $1", run) == 12
    assert (bus.of(ScoresCompleted)[1].completed, bus.of(ScoresCompleted)[1].errored) == (12, 0)


async def test_a_score_request_for_another_runs_record_fails_its_batch_before_anything_is_written(
    db: asyncpg.Pool, pool: HeuristicPool
) -> None:
    run, cases, versions = await seed(db, 1, 1, [("a", "boolean", CONTAINS_A)])
    other, other_cases, _ = await seed(db, 1, 1, [("a", "boolean", CONTAINS_A)])
    runs = RunRepository(db)
    ours, _ = await runs.save_records(run, [record(cases[0], "a")])
    theirs, _ = await runs.save_records(other, [record(other_cases[0], "a")])
    bus = Published()
    handlers = ScorerHandlers(ScoreRepository(db), cast(Bus, bus), {"heuristic": pool.score_many})
    events = [
        ScoresRequested(run_id=run, record_ids=ours, metric_version_ids=versions),
        ScoresRequested(run_id=run, record_ids=theirs, metric_version_ids=versions),
    ]
    with pytest.raises(InvalidEvent, match=f"record {theirs[0]} does not exist in run {run}"):
        await handlers.on_scores_requested(events)
    assert await db.fetchval("SELECT count(*) FROM scores") == 0
    assert bus.events == []


async def test_a_slow_run_in_a_batch_does_not_hold_back_another_runs_scores(db: asyncpg.Pool) -> None:
    slow_run, slow_cases, slow_versions = await seed(db, 2, 1, [("a", "boolean", CONTAINS_A)])
    fast_run, fast_cases, fast_versions = await seed(db, 3, 1, [("a", "boolean", CONTAINS_A)])
    runs = RunRepository(db)
    slow_ids, _ = await runs.save_records(slow_run, [record(c, "a") for c in slow_cases])
    fast_ids, _ = await runs.save_records(fast_run, [record(c, "a") for c in fast_cases])
    release = asyncio.Event()

    async def heuristics(items: list[Item]) -> list[ScoreOutcome]:
        if items[0][0].id == slow_versions[0]:
            await release.wait()  # a regex at its time limit, say
        return [ScoreOutcome("completed", True, True, "") for _ in items]

    bus = Published()
    handlers = ScorerHandlers(ScoreRepository(db), cast(Bus, bus), {"heuristic": heuristics})
    batch = asyncio.create_task(
        handlers.on_scores_requested(
            [
                ScoresRequested(run_id=slow_run, record_ids=slow_ids, metric_version_ids=slow_versions),
                ScoresRequested(run_id=fast_run, record_ids=fast_ids, metric_version_ids=fast_versions),
            ]
        )
    )
    async with asyncio.timeout(10):
        while not bus.of(ScoresCompleted):
            await asyncio.sleep(0.01)
    (fast,) = bus.of(ScoresCompleted)
    assert (fast.run_id, fast.completed, fast.errored) == (fast_run, 3, 0)
    assert await db.fetchval("SELECT count(*) FROM scores WHERE run_id = $1", fast_run) == 3
    assert not batch.done()

    release.set()
    await batch
    assert [(e.run_id, e.completed) for e in bus.of(ScoresCompleted)] == [(fast_run, 3), (slow_run, 2)]
    assert await db.fetchval("SELECT count(*) FROM scores WHERE run_id = $1", slow_run) == 2
