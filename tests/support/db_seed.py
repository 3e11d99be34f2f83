"""Rows written straight into a test database: a project, a testset of bare testcases, heuristic
metric versions and a run over them, or a run of an http system (for tests of one layer, without
the services)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg


async def project_and_testset(db: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    """A project and an empty testset of it: (project id, testset id)."""
    project, testset = uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    await db.execute(
        "INSERT INTO testsets (id, project_id, name, field_mapping) VALUES ($1, $2, 't', '{}')", testset, project
    )
    return project, testset


async def seed(
    db: asyncpg.Pool, testcases: int, trials: int, metrics: Sequence[tuple[str, str, dict[str, object]]]
) -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
    """A project, a testset, metric versions (name, output type, config) and a run; returns
    (run id, testcase ids, metric version ids)."""
    project, testset = await project_and_testset(db)
    run = uuid.uuid4()
    case_ids = [uuid.uuid4() for _ in range(testcases)]
    for case in case_ids:
        await db.execute("INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", case, testset)
    version_ids = []
    for name, output_type, config in metrics:
        metric, version = uuid.uuid4(), uuid.uuid4()
        await db.execute("INSERT INTO metrics (id, project_id, name) VALUES ($1, $2, $3)", metric, project, name)
        await db.execute(
            "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
            " VALUES ($1, $2, 1, 'heuristic', $3, $4)",
            version,
            metric,
            output_type,
            config,
        )
        version_ids.append(version)
    await db.execute(
        "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, source, status, trials,"
        " expected_records) VALUES ($1, $2, $3, 1, $4, 'api', 'running_scoring', $5, $6)",
        run,
        project,
        testset,
        version_ids,
        trials,
        testcases * trials,
    )
    return run, case_ids, version_ids


async def seed_http_run(db: asyncpg.Pool, *, max_concurrency: int = 10) -> uuid.UUID:
    """A project, a testset, an http system version and a run executing it; returns the run id."""
    project, testset = await project_and_testset(db)
    system, version, run = (uuid.uuid4() for _ in range(3))
    await db.execute("INSERT INTO systems (id, project_id, name) VALUES ($1, $2, 's')", system, project)
    await db.execute(
        "INSERT INTO system_versions (id, system_id, name, kind, config) VALUES ($1, $2, 'v1', 'http', $3)",
        version,
        system,
        {"url": "http://127.0.0.1:1/unused"},
    )
    await db.execute(
        "INSERT INTO runs (id, project_id, testset_id, testset_version, system_version_id, metric_version_ids,"
        " source, status, trials, max_concurrency, expected_records)"
        " VALUES ($1, $2, $3, 1, $4, '{}', 'api', 'running_execution', 1, $5, 100)",
        run,
        project,
        testset,
        version,
        max_concurrency,
    )
    return run


async def heuristic_monitor(
    db: asyncpg.Pool, project: uuid.UUID, *, rate: float = 100.0, window_minutes: int = 0, window_calls: int = 0
) -> uuid.UUID:
    """An active monitor of the project scoring with one boolean heuristic metric; its id."""
    metric, version, monitor = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO metrics (id, project_id, name) VALUES ($1, $2, 'm')", metric, project)
    await db.execute(
        "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
        " VALUES ($1, $2, 1, 'heuristic', 'boolean', '{}')",
        version,
        metric,
    )
    await db.execute(
        "INSERT INTO monitors (id, project_id, name, metric_version_ids, sample_rate, window_minutes, window_calls,"
        " status) VALUES ($1, $2, 'mon', $3, $4, $5, $6, 'active')",
        monitor,
        project,
        [version],
        rate,
        window_minutes or None,
        window_calls or None,
    )
    return monitor
