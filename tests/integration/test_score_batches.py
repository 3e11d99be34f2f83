"""A score.requested batch on real PostgreSQL: every record scored once, the aggregates equal to the
score rows, a redelivery changing nothing, an errored score replaced, one score.completed."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from services.scorer.batches import BatchScoring
from services.scorer.repository import ScoreRepository
from shared.events import HumanVerdict, ScoreCompleted, ScoreRequested
from shared.ids import score_id
from shared.messaging.errors import InvalidEvent
from shared.scoring.metric import MetricVersion, ScoreOutcome
from shared.scoring.record import ScoringInput
from tests.integration.test_score_aggregates import add_record, seed

pytestmark = [pytest.mark.postgres]


class Published:
    """Stands in for the bus: what was published."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, event: Any) -> None:
        self.events.append(event)


class Counting:
    """A heuristic that passes odd lengths of the record's response, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, metric: MetricVersion, record: ScoringInput, verdict: HumanVerdict | None) -> ScoreOutcome:
        self.calls += 1
        passed = len(str(record.outputs.get("response", ""))) % 2 == 1
        return ScoreOutcome("completed", passed, passed, "counted")


async def aggregates(db: asyncpg.Pool, run: uuid.UUID) -> tuple[int, int, int]:
    row = await db.fetchrow(
        "SELECT coalesce(sum(scored), 0) AS scored, coalesce(sum(passed), 0) AS passed,"
        " coalesce(sum(errored), 0) AS errored FROM run_metric_aggregates WHERE run_id = $1",
        run,
    )
    assert row is not None
    return int(row["scored"]), int(row["passed"]), int(row["errored"])


async def test_a_batch_is_scored_once_with_exact_aggregates(db: asyncpg.Pool) -> None:
    run, cases, (version,) = await seed(db, 120, 1, [("odd", "boolean", {})])
    records = [await add_record(db, run, case, 0, {}) for case in cases]
    for i, record in enumerate(records):
        await db.execute("UPDATE records SET outputs = $2 WHERE id = $1", record.id, {"response": "x" * i})
    repo, bus, heuristic = ScoreRepository(db), Published(), Counting()
    batch = BatchScoring(repo, bus, {"heuristic": heuristic})  # type: ignore[arg-type]
    # One score already errored (a judge that failed, say): the batch replaces it.
    metric = await repo.metric_version(version)
    assert metric is not None
    await repo.save(score_id(records[5].id, version), records[5], metric, ScoreOutcome("errored", None, None, "", "x"))
    assert await aggregates(db, run) == (0, 0, 1)

    ids = [r.id for r in records[:100]]
    event = ScoreRequested(run_id=run, record_id=ids[0], record_ids=ids, metric_version_id=version)
    await batch(event)
    rows = await db.fetch("SELECT status, passed FROM scores WHERE run_id = $1", run)
    assert len(rows) == 100 and {r["status"] for r in rows} == {"completed"}
    passed = sum(r["passed"] for r in rows)
    assert await aggregates(db, run) == (100, passed, 0)
    assert heuristic.calls == 100
    (done,) = bus.events
    assert isinstance(done, ScoreCompleted) and done.record_ids == ids and done.run_id == run

    await batch(event)  # a redelivery: nothing computed or counted again, the completion told again
    assert heuristic.calls == 100
    assert await aggregates(db, run) == (100, passed, 0)
    assert len(bus.events) == 2


async def test_a_batch_of_records_that_are_not_the_runs_is_invalid(db: asyncpg.Pool) -> None:
    run, cases, (version,) = await seed(db, 3, 1, [("odd", "boolean", {})])
    records = [await add_record(db, run, case, 0, {}) for case in cases]
    batch = BatchScoring(ScoreRepository(db), Published(), {"heuristic": Counting()})  # type: ignore[arg-type]
    other_run = uuid.uuid4()
    ids = [r.id for r in records]
    with pytest.raises(InvalidEvent, match="none of the 3 records of the batch"):
        await batch(ScoreRequested(run_id=other_run, record_id=ids[0], record_ids=ids, metric_version_id=version))
