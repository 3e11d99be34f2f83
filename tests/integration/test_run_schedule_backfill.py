"""Migration 0031 on real PostgreSQL: runs a schedule made before it get the schedule's id, found by
the name they were made under, in their own project only (the migration is idempotent, so it is
applied again over rows written as an older version wrote them)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared.db.migrate import MIGRATIONS_DIR
from tests.support.db_seed import project_and_testset

pytestmark = [pytest.mark.postgres]


async def _schedule(db: asyncpg.Pool, project: uuid.UUID, testset: uuid.UUID, name: str) -> uuid.UUID:
    system, version, schedule = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO systems (id, project_id, name) VALUES ($1, $2, $3)", system, project, name)
    await db.execute(
        "INSERT INTO system_versions (id, system_id, name, kind, config) VALUES ($1, $2, 'v1', 'http', '{}')",
        version,
        system,
    )
    await db.execute(
        "INSERT INTO schedules (id, project_id, name, cron, testset_id, system_version_id, next_run_at)"
        " VALUES ($1, $2, $3, '0 2 * * *', $4, $5, now())",
        schedule,
        project,
        name,
        testset,
        version,
    )
    return schedule


async def _old_run(db: asyncpg.Pool, project: uuid.UUID, testset: uuid.UUID, source: str, created_by: str) -> uuid.UUID:
    run = uuid.uuid4()
    await db.execute(
        "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, source, status,"
        " trials, expected_records, created_by) VALUES ($1, $2, $3, 1, '{}', $4, 'completed', 1, 0, $5)",
        run,
        project,
        testset,
        source,
        created_by,
    )
    return run


async def test_runs_made_before_get_their_schedule_by_its_name_in_their_project(db: asyncpg.Pool) -> None:
    project, testset = await project_and_testset(db)
    other_project, other_testset = await project_and_testset(db)
    nightly = await _schedule(db, project, testset, "nightly")
    await _schedule(db, other_project, other_testset, "nightly")
    fired = await _old_run(db, project, testset, "schedule", "schedule 'nightly'")
    pressed = await _old_run(db, project, testset, "schedule", "lead")  # a Run now: its key's name
    renamed = await _old_run(db, project, testset, "schedule", "schedule 'weekly'")
    by_hand = await _old_run(db, project, testset, "api", "schedule 'nightly'")
    await db.execute((MIGRATIONS_DIR / "0031_run_schedules.sql").read_text())
    rows = await db.fetch("SELECT id, schedule_id FROM runs WHERE project_id = $1", project)
    found = {r["id"]: r["schedule_id"] for r in rows}
    assert found == {fired: nightly, pressed: None, renamed: None, by_hand: None}
