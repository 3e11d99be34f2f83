"""schedules (written by the run-orchestrator)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.db.pool import Connection


@dataclass(frozen=True)
class ScheduleFields:
    """What a schedule is, as it is written: when it fires and what it runs."""

    name: str
    cron: str
    timezone: str
    testset_id: uuid.UUID
    system_version_id: uuid.UUID | None
    system_id: uuid.UUID | None
    metric_ids: list[uuid.UUID]
    metric_group_id: uuid.UUID | None
    trials: int
    tags: list[str]
    paused: bool
    next_run_at: datetime


def _values(s: ScheduleFields) -> tuple[object, ...]:
    """The fields in the order of the statements' parameters."""
    return (
        s.name,
        s.cron,
        s.timezone,
        s.testset_id,
        s.system_version_id,
        s.system_id,
        s.metric_ids,
        s.metric_group_id,
        s.trials,
        s.tags,
        s.paused,
        s.next_run_at,
    )


class ScheduleRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def now(self) -> datetime:
        now: datetime = await self._pool.fetchval("SELECT now()")
        return now

    async def create(self, project_id: uuid.UUID, s: ScheduleFields) -> asyncpg.Record | None:
        """The new schedule; None when the project has one of that name."""
        return await self._pool.fetchrow(
            "INSERT INTO schedules (id, project_id, name, cron, timezone, testset_id, system_version_id, system_id,"
            " metric_ids, metric_group_id, trials, tags, paused_at, next_run_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $13 THEN now() END, $14)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING *",
            uuid.uuid4(),
            project_id,
            *_values(s),
        )

    async def get(self, schedule_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("SELECT * FROM schedules WHERE id = $1", schedule_id)

    async def of_project(self, project_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch("SELECT * FROM schedules WHERE project_id = $1 ORDER BY name, id", project_id)

    async def update(self, schedule_id: uuid.UUID, s: ScheduleFields) -> asyncpg.Record | None:
        """None when there is no such schedule, or another of the project has that name."""
        try:
            return await self._pool.fetchrow(
                "UPDATE schedules SET name = $2, cron = $3, timezone = $4, testset_id = $5, system_version_id = $6,"
                " system_id = $7, metric_ids = $8, metric_group_id = $9, trials = $10, tags = $11,"
                " paused_at = CASE WHEN NOT $12 THEN NULL ELSE coalesce(paused_at, now()) END, next_run_at = $13"
                " WHERE id = $1 RETURNING *",
                schedule_id,
                *_values(s),
            )
        except asyncpg.UniqueViolationError:
            return None

    async def delete(self, schedule_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow("DELETE FROM schedules WHERE id = $1 RETURNING *", schedule_id)

    @staticmethod
    async def due(conn: Connection, limit: int) -> list[asyncpg.Record]:
        """Active schedules whose time has come, each locked for this transaction (a replica firing
        one skips it)."""
        return await conn.fetch(
            "SELECT *, now() AS now FROM schedules WHERE paused_at IS NULL AND next_run_at <= now()"
            " ORDER BY next_run_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )

    async def fired(
        self,
        schedule_id: uuid.UUID,
        run_id: uuid.UUID | None,
        error: str,
        next_run_at: datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """What a firing made (a run, or why none); the next due time when it moves on."""
        await (conn or self._pool).execute(
            "UPDATE schedules SET last_fired_at = now(), last_run_id = $2, last_error = $3,"
            " next_run_at = coalesce($4, next_run_at) WHERE id = $1",
            schedule_id,
            run_id,
            error[:2000],
            next_run_at,
        )
