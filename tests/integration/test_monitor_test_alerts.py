"""Monitor test alerts on real PostgreSQL: two executor replicas claiming at once send each test
once; a claim whose replica died is taken again; a test no executor sent within 10 minutes is given
up, saying why; a test whose monitor lost its alert meanwhile fails without a POST."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest

from services.system_executor.alerts import AlertDeliveries, AlertRepository
from services.system_executor.posts import DeliverySettings
from tests.support.db_seed import heuristic_monitor

pytestmark = [pytest.mark.postgres]

TTL = timedelta(seconds=30)


async def _monitor(db: asyncpg.Pool, alert_url: str) -> uuid.UUID:
    project = uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    monitor = await heuristic_monitor(db, project, window_calls=10)
    await db.execute("UPDATE monitors SET alert_url = $2 WHERE id = $1", monitor, alert_url)
    return monitor


async def _test(db: asyncpg.Pool, monitor: uuid.UUID, minutes_ago: float = 0) -> uuid.UUID:
    test = uuid.uuid4()
    await db.execute(
        "INSERT INTO monitor_test_alerts (id, monitor_id, payload, created_at)"
        " VALUES ($1, $2, $3, now() - make_interval(secs => $4))",
        test,
        monitor,
        {"type": "monitor.test", "alert_id": str(test), "text": "a test"},
        minutes_ago * 60,
    )
    return test


async def _state(db: asyncpg.Pool, test: uuid.UUID) -> tuple[str, int, str]:
    row = await db.fetchrow("SELECT status, attempts, error FROM monitor_test_alerts WHERE id = $1", test)
    assert row is not None
    return row["status"], row["attempts"], row["error"]


async def test_replicas_claiming_at_once_take_each_test_once_and_a_dead_claim_is_taken_again(
    db: asyncpg.Pool,
) -> None:
    monitor = await _monitor(db, "http://127.0.0.1:9/hook")
    tests = {await _test(db, monitor) for _ in range(5)}
    replicas = [AlertRepository(db) for _ in range(3)]
    claimed = await asyncio.gather(*(r.claim_tests(TTL, limit=5) for r in replicas))
    ids = [row["id"] for rows in claimed for row in rows]
    assert sorted(ids) == sorted(tests)  # every test, each by one replica
    assert {row["alert_url"] for rows in claimed for row in rows} == {"http://127.0.0.1:9/hook"}
    assert await replicas[0].claim_tests(TTL) == []  # held
    dead = ids[0]
    await db.execute("UPDATE monitor_test_alerts SET claimed_until = now() - interval '1 second' WHERE id = $1", dead)
    (again,) = await replicas[1].claim_tests(TTL)
    assert again["id"] == dead and await _state(db, dead) == ("sending", 2, "")


async def test_a_test_not_sent_within_10_minutes_is_given_up_and_never_sent(db: asyncpg.Pool) -> None:
    monitor = await _monitor(db, "http://127.0.0.1:9/hook")
    stale, fresh = await _test(db, monitor, minutes_ago=11), await _test(db, monitor, minutes_ago=9)
    repo = AlertRepository(db)
    assert await repo.expire_tests() == 1
    assert await _state(db, stale) == ("failed", 0, "given up: no executor sent it within 10 minutes")
    assert [r["id"] for r in await repo.claim_tests(TTL)] == [fresh]
    assert await repo.expire_tests() == 0  # a fresh claim is not given up


async def test_a_test_of_a_monitor_whose_alert_was_removed_fails_without_a_post(db: asyncpg.Pool) -> None:
    monitor = await _monitor(db, "http://127.0.0.1:9/hook")
    test = await _test(db, monitor)
    await db.execute("UPDATE monitors SET alert_url = '' WHERE id = $1", monitor)
    posted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        assert await AlertDeliveries(AlertRepository(db), client, DeliverySettings()).tick() == 0
    assert posted == []
    assert await _state(db, test) == ("failed", 1, "the monitor has no alert URL any more")
