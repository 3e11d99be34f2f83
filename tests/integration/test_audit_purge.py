"""The audit log's retention on real PostgreSQL: a pass deletes the events older than the days kept,
batch after batch, and nothing newer; replicas passing at once delete each event once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from shared.auth.audit import AuditLog
from shared.auth.scope import Owners

pytestmark = [pytest.mark.postgres]


async def _events(db: asyncpg.Pool, project: uuid.UUID, n: int, days_ago: float) -> None:
    await db.execute(
        "INSERT INTO audit_events (id, at, project_id, key_name, key_prefix, key_role, action, edge, outcome)"
        " SELECT gen_random_uuid(), now() - make_interval(secs => $2), $1, 'ci', 'sk_1', 'write', 'CreateRun',"
        " 'grpc', 'OK' FROM generate_series(1, $3)",
        project,
        days_ago * 86_400,
        n,
    )


async def test_events_older_than_the_days_kept_go_and_newer_ones_stay(db: asyncpg.Pool) -> None:
    project = uuid.uuid4()
    await _events(db, project, 25, days_ago=366)
    await _events(db, project, 4, days_ago=364)
    log = AuditLog(db, Owners(db))
    passes = await asyncio.gather(*(log.purge(365, batch=7) for _ in range(3)))
    assert sum(passes) == 25
    assert await log.purge(365) == 0
    kept = await db.fetchval("SELECT count(*) FROM audit_events WHERE project_id = $1", project)
    assert kept == 4
