"""The review queue's leases on PostgreSQL (services/run_orchestrator/reviews/repository.py): many
reviewers asking at once take different items, one reviewer asking twice at once takes one, a
lapsed lease is taken over, a submitted review keeps its item out of the queue until its verdict
is in."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
import pytest

from services.run_orchestrator.reviews.repository import Item, ReviewRepository
from tests.support.db_seed import project_and_testset

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Queue:
    metric: uuid.UUID
    version: uuid.UUID
    run: uuid.UUID
    items: list[Item]


async def seed(db: asyncpg.Pool, records: int) -> Queue:
    """A run pinning a human metric, each of its records with a pending score."""
    project, testset = await project_and_testset(db)
    metric, version, run = (uuid.uuid4() for _ in range(3))
    await db.execute("INSERT INTO metrics (id, project_id, name) VALUES ($1, $2, 'helpful')", metric, project)
    await db.execute(
        "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
        " VALUES ($1, $2, 1, 'human', 'int', '{}')",
        version,
        metric,
    )
    await db.execute(
        "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, human_metric_version_ids,"
        " source, status, trials, expected_records) VALUES ($1, $2, $3, 1, $4, $4, 'api', 'awaiting_human_scoring',"
        " 1, $5)",
        run,
        project,
        testset,
        [version],
        records,
    )
    items = []
    for i in range(records):
        case, record, score = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await db.execute("INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", case, testset)
        await db.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status)"
            " VALUES ($1, $2, $3, 0, '{}', '{}', '{}', 'completed')",
            record,
            run,
            case,
        )
        await db.execute(
            "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, scored_at)"
            " VALUES ($1, $2, $3, $4, 'pending', now() + make_interval(secs => $5))",
            score,
            record,
            run,
            version,
            float(i),
        )
        items.append(Item(score, metric, run, record))
    return Queue(metric, version, run, items)


async def test_reviewers_asking_at_once_take_different_items(db: asyncpg.Pool) -> None:
    queue = await seed(db, 12)
    repo = ReviewRepository(db)
    reviewers = [f"r{i}" for i in range(10)]
    taken = await asyncio.gather(*(repo.next_item(queue.metric, [queue.version], name, None, 60) for name in reviewers))
    assert all(t is not None for t in taken)
    assert len({t.score_id for t in taken if t is not None}) == 10
    assert await repo.remaining([queue.version], None) == 2
    # The same reviewer asking twice at once (two tabs) holds one item: the one asked before.
    again = await asyncio.gather(*(repo.next_item(queue.metric, [queue.version], "r0", None, 60) for _ in range(3)))
    assert {a.score_id for a in again if a is not None} == {taken[0].score_id}  # type: ignore[union-attr]
    # Two more reviewers take the last two; the next one finds nothing.
    last = [await repo.next_item(queue.metric, [queue.version], name, None, 60) for name in ("x", "y")]
    assert {t.score_id for t in last if t is not None} == {i.score_id for i in queue.items} - {
        t.score_id for t in taken if t is not None
    }
    assert await repo.next_item(queue.metric, [queue.version], "z", None, 60) is None


async def test_a_lapsed_lease_is_taken_over_and_a_held_item_is_not(db: asyncpg.Pool) -> None:
    queue = await seed(db, 2)
    repo = ReviewRepository(db)
    first = await repo.next_item(queue.metric, [queue.version], "ann", None, 1)
    assert first == queue.items[0]
    assert await repo.take(first, "bob", 60) is False
    second = await repo.next_item(queue.metric, [queue.version], "bob", None, 60)
    assert second == queue.items[1]
    await asyncio.sleep(1.2)
    # Ann's lease lapsed: her item is free, and bob (still holding his) may open it, giving his back.
    assert await repo.remaining([queue.version], None) == 1
    assert await repo.take(first, "bob", 60) is True
    assert (await repo.item(first.score_id))["held_by"] == "bob"  # type: ignore[index]
    assert (await repo.item(second.score_id))["held_by"] is None  # type: ignore[index]
    assert await repo.skip(first, "ann") == "bob"


async def test_a_submitted_review_keeps_its_item_until_the_verdict_is_in(db: asyncpg.Pool) -> None:
    queue = await seed(db, 1)
    repo = ReviewRepository(db)
    item = await repo.next_item(queue.metric, [queue.version], "ann", None, 60)
    assert item is not None
    assert await repo.submitting(item, "bob") == "ann"
    assert await repo.submitting(item, "ann") is None
    # While the scorer has not written the verdict, nobody is offered the item.
    assert await repo.next_item(queue.metric, [queue.version], "bob", None, 60) is None
    assert await repo.submitting(item, "bob") == "ann"
    await db.execute("UPDATE scores SET status = 'completed', value_num = 4 WHERE id = $1", item.score_id)
    # Once it is in, another reviewer may change it (going back to it, say).
    assert await repo.take(item, "bob", 60) is True
    assert await repo.submitting(item, "bob") is None
    assert [r["action"] for r in await db.fetch("SELECT action FROM review_log ORDER BY at")] == [
        "reviewed",
        "reviewed",
    ]
