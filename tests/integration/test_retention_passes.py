"""Call retention on real PostgreSQL: a pass deletes the calls logged longer ago than their project
keeps them, batch after batch, but never a call a monitor's open window still holds, nor the calls
of a project that keeps them for ever; replicas passing at once delete each call once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.run_orchestrator.monitors.retention import CallRetention
from tests.support.db_seed import heuristic_monitor

pytestmark = [pytest.mark.postgres]


async def _project(db: asyncpg.Pool, retention_days: int) -> uuid.UUID:
    project = uuid.uuid4()
    await db.execute(
        "INSERT INTO projects (id, name, call_retention_days) VALUES ($1, 'p', $2)", project, retention_days
    )
    return project


async def _calls(db: asyncpg.Pool, project: uuid.UUID, n: int, days_ago: float) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    await db.execute(
        "INSERT INTO logged_calls (project_id, id, logged_at, inputs, outputs, metadata, status)"
        " SELECT $1, unnest($2::uuid[]), now() - make_interval(secs => $3), '{}', '{}', '{}', 'completed'",
        project,
        ids,
        days_ago * 86_400,
    )
    return ids


async def _sampled(db: asyncpg.Pool, project: uuid.UUID, calls: list[uuid.UUID]) -> None:
    """The calls waiting in the open window of a monitor of the project."""
    monitor = await heuristic_monitor(db, project, window_calls=1000)
    await db.execute(
        "INSERT INTO monitor_samples (monitor_id, call_id, logged_at) SELECT $1, unnest($2::uuid[]), now()",
        monitor,
        calls,
    )


async def _kept(db: asyncpg.Pool, project: uuid.UUID) -> set[uuid.UUID]:
    return {r["id"] for r in await db.fetch("SELECT id FROM logged_calls WHERE project_id = $1", project)}


async def test_old_calls_go_batch_after_batch_and_those_an_open_window_holds_stay(db: asyncpg.Pool) -> None:
    month = await _project(db, 30)
    old = await _calls(db, month, 7, days_ago=31)
    waiting = await _calls(db, month, 2, days_ago=45)
    await _sampled(db, month, waiting)
    recent = await _calls(db, month, 3, days_ago=29)
    forever = await _project(db, 0)
    ancient = await _calls(db, forever, 4, days_ago=400)
    assert await CallRetention(db, tick_s=60, batch=3).tick() == len(old)
    assert await _kept(db, month) == {*waiting, *recent}
    assert await _kept(db, forever) == set(ancient)
    assert await CallRetention(db, tick_s=60, batch=3).tick() == 0  # nothing more to do


async def test_replicas_passing_at_once_delete_each_call_once(db: asyncpg.Pool) -> None:
    week = await _project(db, 7)
    old = await _calls(db, week, 500, days_ago=8)
    kept = await _calls(db, week, 5, days_ago=1)
    passes = await asyncio.gather(*(CallRetention(db, tick_s=60, batch=50).tick() for _ in range(3)))
    assert sum(passes) == len(old)
    assert await _kept(db, week) == set(kept)


async def test_under_the_instances_limit_every_project_keeps_its_calls_no_longer(db: asyncpg.Pool) -> None:
    forever, long, short = await _project(db, 0), await _project(db, 100), await _project(db, 10)
    for p in (forever, long, short):
        await _calls(db, p, 2, days_ago=31)
    young = {p: await _calls(db, p, 2, days_ago=20) for p in (forever, long, short)}
    assert await CallRetention(db, tick_s=60, limit_days=30).tick() == 2 * 3 + 2
    assert await _kept(db, forever) == set(young[forever])  # 0: the limit's 30 days
    assert await _kept(db, long) == set(young[long])  # 100 capped to 30
    assert await _kept(db, short) == set()  # its own 10 days, shorter than the limit
