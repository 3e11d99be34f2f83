"""Firing schedules: the run a schedule kicks off, and the loop of every orchestrator replica that
fires the due ones (a replica takes a due schedule with FOR UPDATE SKIP LOCKED, so no two fire
it; the run's id is drawn from the schedule and the due time, so a replica taking over after a
crash finds the run instead of making another)."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs.authors import Author
from services.run_orchestrator.runs.kickoff import Kickoff, KickoffRequest
from services.run_orchestrator.schedules import rules
from services.run_orchestrator.schedules.repository import ScheduleRepository
from shared.edge.errors import ApiError, Code, not_found
from shared.logs import correlation_id
from shared.periodic import every
from shared.run_status import RunSource

log = logging.getLogger(__name__)

# Due schedules one tick fires at most (the rest the next tick, a moment later).
_PER_TICK = 5


class Firing:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schedules: ScheduleRepository,
        catalog: CatalogRepository,
        kickoff: Kickoff,
        tick_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._schedules = schedules
        self._catalog = catalog
        self._kickoff = kickoff
        self._tick_s = tick_s

    async def production_version(self, project_id: uuid.UUID, system_id: uuid.UUID) -> uuid.UUID:
        """The system's production version (NOT_FOUND for a system not of the project,
        FAILED_PRECONDITION for one without a production version)."""
        system = await self._catalog.get_system(system_id)
        if system is None or system["project_id"] != project_id:
            raise not_found(f"system {system_id} does not exist in project {project_id}")
        version_id: uuid.UUID | None = system["production_version_id"]
        if version_id is None:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"system {system['name']!r} has no production version: set one, or schedule a system version",
            )
        return version_id

    async def kick(
        self, schedule: asyncpg.Record, run_id: uuid.UUID | None = None, by: Author | None = None
    ) -> asyncpg.Record:
        """The schedule's run, kicked off (ApiError saying why when none can be): by the schedule
        when it came due, or by ``by`` (its Run now)."""
        version_id = schedule["system_version_id"]
        if version_id is None:
            version_id = await self.production_version(schedule["project_id"], schedule["system_id"])
        return await self._kickoff(
            KickoffRequest(
                project_id=schedule["project_id"],
                testset_id=schedule["testset_id"],
                system_version_id=version_id,
                source=RunSource.SCHEDULE,
                trials=schedule["trials"],
                metric_ids=list(schedule["metric_ids"]),
                metric_group_id=schedule["metric_group_id"],
                notes=f"Scheduled run {schedule['name']!r} ({schedule['cron']} {schedule['timezone']})",
                tags=list(schedule["tags"]),
                run_id=run_id,
                created_by=by or Author(f"schedule {schedule['name']!r}"),
                schedule_id=schedule["id"],
            )
        )

    async def run(self) -> None:
        await every(self._tick_s, "schedules", self.tick)

    async def tick(self) -> int:
        """Fire the due schedules; how many made a run."""
        made = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for schedule in await self._schedules.due(conn, _PER_TICK):
                run_id, error = await self._fire(schedule)
                made += run_id is not None
                following = rules.next_due(schedule["cron"], schedule["now"], schedule["timezone"])
                await self._schedules.fired(schedule["id"], run_id, error, following, conn=conn)
        return made

    async def _fire(self, schedule: asyncpg.Record) -> tuple[uuid.UUID | None, str]:
        token = correlation_id.set(f"schedule:{schedule['id']}")
        try:
            run = await self.kick(schedule, rules.firing_run_id(schedule["id"], schedule["next_run_at"]))
        except ApiError as exc:
            log.warning("scheduled run not made", extra={"schedule_id": str(schedule["id"]), "error": exc.message})
            return None, exc.message
        except Exception as exc:
            log.exception("scheduled run not made", extra={"schedule_id": str(schedule["id"])})
            return None, f"could not kick off the run: {type(exc).__name__}: {exc}"
        finally:
            correlation_id.reset(token)
        log.info("scheduled run made", extra={"schedule_id": str(schedule["id"]), "run_id": str(run["id"])})
        return run["id"], ""
