"""ScheduleService (proto/scorekeeper/v1/schedules.proto): proto ⇄ domain, then the use case. The
guard has already checked the caller's role and that the ids named are of the caller's project."""

from __future__ import annotations

import uuid

import asyncpg
from scorekeeper.v1 import schedules_pb2 as pb
from scorekeeper.v1.runs_pb2 import Run

from services.run_orchestrator.catalog import rules as catalog_rules
from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.runs import rules as run_rules
from services.run_orchestrator.runs.authors import the_caller
from services.run_orchestrator.runs.kickoff import Kickoff
from services.run_orchestrator.runs.messages import run_pb
from services.run_orchestrator.schedules import rules
from services.run_orchestrator.schedules.firing import Firing
from services.run_orchestrator.schedules.repository import ScheduleFields, ScheduleRepository
from shared.edge.convert import parse_uuid, timestamp
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.scoring.eval_types import refuse_client_scored


def _text(value: uuid.UUID | None) -> str:
    return str(value) if value is not None else ""


def schedule_pb(row: asyncpg.Record) -> pb.Schedule:
    return pb.Schedule(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        cron=row["cron"],
        testset_id=str(row["testset_id"]),
        system_version_id=_text(row["system_version_id"]),
        system_id=_text(row["system_id"]),
        metric_ids=[str(m) for m in row["metric_ids"]],
        metric_group_id=_text(row["metric_group_id"]),
        trials=row["trials"],
        tags=row["tags"],
        paused_at=timestamp(row["paused_at"]),
        next_run_at="" if row["paused_at"] else timestamp(row["next_run_at"]),
        last_fired_at=timestamp(row["last_fired_at"]),
        last_run_id=_text(row["last_run_id"]),
        last_error=row["last_error"],
        created_at=timestamp(row["created_at"]),
        timezone=row["timezone"],
    )


class ScheduleApi:
    def __init__(
        self,
        catalog_api: CatalogApi,
        kickoff: Kickoff,
        schedules: ScheduleRepository,
        firing: Firing,
    ) -> None:
        self._project = catalog_api.project
        self._kickoff = kickoff
        self._schedules = schedules
        self._firing = firing

    async def create_schedule(self, request: pb.CreateScheduleRequest) -> pb.Schedule:
        pid = await self._project(request.project_id)
        cron = checked(rules.check_cron, request.cron)
        timezone = checked(rules.check_timezone, request.timezone)
        _, trials = checked(run_rules.validate_run, "", request.trials, 0)
        version_id, system_id = await self._system(pid, request.system_version_id, request.system_id)
        metric_ids, group = await self._metrics(pid, list(request.metric_ids), request.metric_group_id)
        fields = ScheduleFields(
            name=checked(catalog_rules.require_name, request.name),
            cron=cron,
            timezone=timezone,
            testset_id=await self._testset(pid, request.testset_id),
            system_version_id=version_id,
            system_id=system_id,
            metric_ids=metric_ids,
            metric_group_id=group,
            trials=trials,
            tags=checked(run_rules.run_tags, [], list(request.tags), []),
            paused=request.paused,
            next_run_at=rules.next_due(cron, await self._schedules.now(), timezone),
        )
        row = await self._schedules.create(pid, fields)
        if row is None:
            raise ApiError(Code.ALREADY_EXISTS, f"the project already has a schedule named {fields.name!r}")
        return schedule_pb(row)

    async def _testset(self, pid: uuid.UUID, given: str) -> uuid.UUID:
        testset_id: uuid.UUID = parse_uuid(given, "testset_id")
        await self._kickoff.testset(pid, testset_id)
        return testset_id

    async def _system(
        self, pid: uuid.UUID, system_version_id: str, system_id: str
    ) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(system_version_id, system_id): exactly one given; a system needs a production version."""
        if bool(system_version_id) == bool(system_id):
            raise invalid(
                "name exactly one of system_version_id (a pinned version) and system_id (its production version)"
            )
        if system_version_id:
            version_id = parse_uuid(system_version_id, "system_version_id")
            await self._kickoff.system_version(pid, version_id)
            return version_id, None
        system = parse_uuid(system_id, "system_id")
        await self._firing.production_version(pid, system)
        return None, system

    async def _metrics(
        self, pid: uuid.UUID, metric_ids: list[str], metric_group_id: str
    ) -> tuple[list[uuid.UUID], uuid.UUID | None]:
        """The metrics and the group its runs are scored with: at least one, none archived."""
        metrics = [parse_uuid(m, "metric_ids") for m in metric_ids]
        group = parse_uuid(metric_group_id, "metric_group_id") if metric_group_id else None
        if not metrics and group is None:
            raise invalid("name at least one metric (metric_ids) or a metric_group_id")
        versions = await self._kickoff.metric_versions(pid, metrics, group)  # archived or unknown: refused now
        checked(refuse_client_scored, versions, "a schedule's runs are executed and scored by the platform")
        return metrics, group

    async def list_schedules(self, request: pb.ListSchedulesRequest) -> pb.ListSchedulesResponse:
        pid = await self._project(request.project_id)
        return pb.ListSchedulesResponse(schedules=[schedule_pb(r) for r in await self._schedules.of_project(pid)])

    async def update_schedule(self, request: pb.UpdateScheduleRequest) -> pb.Schedule:
        schedule = await self._schedule(request.schedule_id)
        pid = schedule["project_id"]
        given = request.HasField
        cron = checked(rules.check_cron, request.cron) if given("cron") else schedule["cron"]
        timezone = checked(rules.check_timezone, request.timezone) if given("timezone") else schedule["timezone"]
        paused = request.paused if given("paused") else schedule["paused_at"] is not None
        version_id, system_id = schedule["system_version_id"], schedule["system_id"]
        if given("system_version_id") or given("system_id"):
            version_id, system_id = await self._system(pid, request.system_version_id, request.system_id)
        metric_ids, group = list(schedule["metric_ids"]), schedule["metric_group_id"]
        if request.metric_ids or given("metric_group_id"):
            metric_ids, group = await self._metrics(pid, list(request.metric_ids), request.metric_group_id)
        following = schedule["next_run_at"]
        resumed = schedule["paused_at"] is not None and not paused
        if cron != schedule["cron"] or timezone != schedule["timezone"] or resumed:
            following = rules.next_due(cron, await self._schedules.now(), timezone)
        fields = ScheduleFields(
            name=checked(catalog_rules.require_name, request.name) if given("name") else schedule["name"],
            cron=cron,
            timezone=timezone,
            testset_id=await self._testset(pid, request.testset_id) if given("testset_id") else schedule["testset_id"],
            system_version_id=version_id,
            system_id=system_id,
            metric_ids=metric_ids,
            metric_group_id=group,
            trials=checked(run_rules.validate_run, "", request.trials, 0)[1] if given("trials") else schedule["trials"],
            tags=checked(run_rules.run_tags, [], list(request.tags.tags), []) if given("tags") else schedule["tags"],
            paused=paused,
            next_run_at=following,
        )
        row = await self._schedules.update(schedule["id"], fields)
        if row is None:
            if await self._schedules.get(schedule["id"]) is None:  # deleted meanwhile
                raise not_found(f"schedule {request.schedule_id} does not exist")
            raise ApiError(Code.ALREADY_EXISTS, f"the project already has a schedule named {fields.name!r}")
        return schedule_pb(row)

    async def delete_schedule(self, request: pb.DeleteScheduleRequest) -> pb.Schedule:
        row = await self._schedules.delete(parse_uuid(request.schedule_id, "schedule_id"))
        if row is None:
            raise not_found(f"schedule {request.schedule_id} does not exist")
        return schedule_pb(row)

    async def run_schedule_now(self, request: pb.RunScheduleNowRequest) -> Run:
        schedule = await self._schedule(request.schedule_id)
        try:
            run = await self._firing.kick(schedule, by=the_caller())
        except ApiError as exc:
            await self._schedules.fired(schedule["id"], None, exc.message)
            raise
        await self._schedules.fired(schedule["id"], run["id"], "")
        return run_pb(run)

    async def _schedule(self, schedule_id: str) -> asyncpg.Record:
        row = await self._schedules.get(parse_uuid(schedule_id, "schedule_id"))
        if row is None:
            raise not_found(f"schedule {schedule_id} does not exist")
        return row
