"""Scheduled runs (ScheduleService): a run of a testset, a system and metrics kicked off each time
a cron expression comes due, read in the schedule's time zone."""

from __future__ import annotations

from collections.abc import Sequence

from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import schedules_pb2 as spb

from scorekeeper_sdk.api.reads import ReadOperations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.models import Schedule
from scorekeeper_sdk.views import Run

SCHEDULES = "ScheduleService"


class ScheduleOperations(ReadOperations):
    async def create_schedule(
        self,
        project_id: str,
        name: str,
        cron: str,
        testset_id: str,
        metric_ids: Sequence[str] = (),
        *,
        system_version_id: str = "",
        system_id: str = "",
        metric_group_id: str = "",
        trials: int = 1,
        tags: Sequence[str] = (),
        paused: bool = False,
        timezone: str = "UTC",
    ) -> Schedule:
        """Kick off a run of ``testset_id`` each time ``cron`` (five fields: "0 2 * * *") comes due
        in ``timezone`` (an IANA name: "Europe/Berlin" keeps 02:00 at 02:00 through summer time),
        with the source ``schedule``: of ``system_version_id``, or of the production version of
        ``system_id`` at that time (give one of the two), scored with the latest version of each
        metric (and of the group's); ``tags`` label its runs."""
        request = spb.CreateScheduleRequest(
            project_id=project_id,
            name=name,
            cron=cron,
            testset_id=testset_id,
            system_version_id=system_version_id,
            system_id=system_id,
            metric_ids=list(metric_ids),
            metric_group_id=metric_group_id,
            trials=trials,
            tags=list(tags),
            paused=paused,
            timezone=timezone,
        )
        return from_proto(Schedule, await self._unary(SCHEDULES, "CreateSchedule", request, spb.Schedule, creates=True))

    async def list_schedules(self, project_id: str) -> list[Schedule]:
        """The project's schedules by name: when each fires next, and what it made last."""
        request = spb.ListSchedulesRequest(project_id=project_id)
        response = await self._unary(SCHEDULES, "ListSchedules", request, spb.ListSchedulesResponse)
        return [from_proto(Schedule, s) for s in response.schedules]

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        name: str | None = None,
        cron: str | None = None,
        paused: bool | None = None,
        timezone: str | None = None,
        testset_id: str | None = None,
        system_version_id: str | None = None,
        system_id: str | None = None,
        metric_ids: Sequence[str] | None = None,
        metric_group_id: str | None = None,
        trials: int | None = None,
        tags: Sequence[str] | None = None,
    ) -> Schedule:
        """Change what is given (None: unchanged): its name, when it fires (cron, time zone), pause
        or resume it, and what it runs — a system version or a system replaces the system choice,
        metrics or a group the metric choice, ``tags`` the runs' tags (``[]``: none)."""
        request = spb.UpdateScheduleRequest(schedule_id=schedule_id)
        for field, value in (
            ("name", name),
            ("cron", cron),
            ("paused", paused),
            ("timezone", timezone),
            ("testset_id", testset_id),
            ("trials", trials),
        ):
            if value is not None:
                setattr(request, field, value)
        if system_version_id is not None or system_id is not None:
            request.system_version_id = system_version_id or ""
            request.system_id = system_id or ""
        if metric_ids is not None or metric_group_id is not None:
            request.metric_ids.extend(metric_ids or [])
            request.metric_group_id = metric_group_id or ""
        if tags is not None:
            request.tags.tags.extend(tags)
        return from_proto(Schedule, await self._unary(SCHEDULES, "UpdateSchedule", request, spb.Schedule))

    async def delete_schedule(self, schedule_id: str) -> Schedule:
        """The schedule is gone; the runs it made stay."""
        request = spb.DeleteScheduleRequest(schedule_id=schedule_id)
        return from_proto(Schedule, await self._unary(SCHEDULES, "DeleteSchedule", request, spb.Schedule))

    async def run_schedule_now(self, schedule_id: str) -> Run:
        """Kick off the schedule's run now (its due times do not change)."""
        request = spb.RunScheduleNowRequest(schedule_id=schedule_id)
        made = await self._unary(SCHEDULES, "RunScheduleNow", request, rpb.Run, creates=True)
        return await self.get_run(made.id)
