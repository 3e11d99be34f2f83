"""CatalogService (proto/scorekeeper/v1/catalog.proto): one implementation behind gRPC and HTTP."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from scorekeeper.v1 import catalog_pb2 as pb

from services.run_orchestrator.catalog import rules
from services.run_orchestrator.catalog.messages import (
    config_from_request,
    group_pb,
    metric_pb,
    project_pb,
    system_pb,
    version_pb,
)
from services.run_orchestrator.catalog.repository import CatalogRepository, NewSystem
from services.run_orchestrator.catalog.rules import MetricDefinition
from shared.auth.access import caller
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.outbound.secrets import SecretEnvPolicy

log = logging.getLogger(__name__)


class CatalogApi:
    """Projects, metrics (with immutable versions and groups) and systems (with immutable versions)."""

    def __init__(
        self, catalog_repo: CatalogRepository, secret_env: SecretEnvPolicy, call_retention_limit: int = 0
    ) -> None:
        self._catalog = catalog_repo
        self._secret_env = secret_env
        self._retention_limit = call_retention_limit

    def _project_pb(self, row: asyncpg.Record) -> pb.Project:
        return project_pb(row, self._retention_limit)

    async def project(self, project_id: str) -> uuid.UUID:
        """The id of an existing project; INVALID_ARGUMENT / NOT_FOUND otherwise."""
        pid: uuid.UUID = parse_uuid(project_id, "project_id")
        if await self._catalog.get_project(pid) is None:
            raise not_found(f"project {project_id} does not exist")
        return pid

    # -- projects ------------------------------------------------------------------------------

    async def create_project(self, request: pb.CreateProjectRequest) -> pb.Project:
        name = checked(rules.require_name, request.name)
        retention = checked(rules.check_call_retention, request.call_retention_days, self._retention_limit)
        return self._project_pb(await self._catalog.create_project(name, request.description, retention))

    async def list_projects(self, request: pb.ListProjectsRequest) -> pb.ListProjectsResponse:
        principal = caller()
        rows = await self._catalog.projects(None if principal.project_id is None else [principal.project_id])
        return pb.ListProjectsResponse(projects=[self._project_pb(r) for r in rows])

    async def update_project(self, request: pb.UpdateProjectRequest) -> pb.Project:
        pid = await self.project(request.project_id)
        name = checked(rules.require_name, request.name) if request.HasField("name") else None
        description = request.description if request.HasField("description") else None
        retention = (
            checked(rules.check_call_retention, request.call_retention_days, self._retention_limit)
            if request.HasField("call_retention_days")
            else None
        )
        row = await self._catalog.update_project(pid, name, description, retention)
        if row is None:
            raise not_found(f"project {request.project_id} does not exist")
        return self._project_pb(row)

    async def get_project(self, request: pb.GetProjectRequest) -> pb.Project:
        row = await self._catalog.get_project(parse_uuid(request.project_id, "project_id"))
        if row is None:
            raise not_found(f"project {request.project_id} does not exist")
        return self._project_pb(row)

    # -- metrics -------------------------------------------------------------------------------

    async def create_metric(self, request: pb.CreateMetricRequest) -> pb.Metric:
        pid = await self.project(request.project_id)
        name = checked(rules.require_name, request.name)
        definition = checked(
            rules.validate_metric,
            MetricDefinition(
                eval_type=request.eval_type,
                output_type=request.output_type,
                guidelines=request.guidelines,
                passing_threshold=request.passing_threshold if request.HasField("passing_threshold") else None,
                config=config_from_request(request.eval_type, request),
                label_field=request.expected_label_field,
            ),
        )
        checked(rules.check_secret_envs, self._secret_env, definition.eval_type, definition.config)
        return metric_pb(await self._catalog.create_metric(pid, name, request.description, definition))

    async def _metric(self, metric_id: str) -> tuple[uuid.UUID, asyncpg.Record]:
        mid: uuid.UUID = parse_uuid(metric_id, "metric_id")
        versions = await self._catalog.metric_versions(mid)
        if not versions:
            raise not_found(f"metric {metric_id} does not exist")
        return mid, versions[-1]

    async def update_metric(self, request: pb.UpdateMetricRequest) -> pb.Metric:
        mid, latest = await self._metric(request.metric_id)
        eval_type = latest["eval_type"]
        config = latest["config"]
        if request.HasField("heuristic") or request.HasField("ai"):
            config = config_from_request(eval_type, request)
        output_type = request.output_type if request.HasField("output_type") else latest["output_type"]
        threshold = latest["passing_threshold"] if output_type == latest["output_type"] else None
        if request.HasField("passing_threshold"):
            threshold = request.passing_threshold
        definition = checked(
            rules.validate_metric,
            MetricDefinition(
                eval_type=eval_type,
                output_type=output_type,
                guidelines=request.guidelines if request.HasField("guidelines") else latest["guidelines"],
                passing_threshold=threshold,
                config=config,
                label_field=request.expected_label_field
                if request.HasField("expected_label_field")
                else latest["config"].get("label_field", ""),
            ),
        )
        checked(rules.check_secret_envs, self._secret_env, definition.eval_type, definition.config)
        name = checked(rules.require_name, request.name) if request.HasField("name") else latest["name"]
        description = request.description if request.HasField("description") else latest["description"]
        return metric_pb(await self._catalog.update_metric(mid, name, description, definition))

    async def get_metric(self, request: pb.GetMetricRequest) -> pb.MetricWithVersions:
        mid, _ = await self._metric(request.metric_id)
        versions = [metric_pb(v) for v in await self._catalog.metric_versions(mid)]
        return pb.MetricWithVersions(metric=versions[-1], versions=versions)

    async def list_metrics(self, request: pb.ListMetricsRequest) -> pb.ListMetricsResponse:
        pid = await self.project(request.project_id)
        if request.archived and request.include_archived:
            raise invalid("archived (only archived metrics) and include_archived (every metric) exclude each other")
        archived = None if request.include_archived else request.archived
        rows = await self._catalog.latest_metric_versions(pid, archived=archived)
        return pb.ListMetricsResponse(metrics=[metric_pb(r) for r in rows])

    async def archive_metric(self, request: pb.ArchiveMetricRequest) -> pb.Metric:
        return await self._set_archived(request.metric_id, True)

    async def unarchive_metric(self, request: pb.UnarchiveMetricRequest) -> pb.Metric:
        return await self._set_archived(request.metric_id, False)

    async def _set_archived(self, metric_id: str, archived: bool) -> pb.Metric:
        mid, latest = await self._metric(metric_id)
        if not await self._catalog.set_metric_archived(mid, archived):
            state = "already archived" if archived else "not archived"
            raise ApiError(Code.FAILED_PRECONDITION, f"metric {latest['name']!r} ({metric_id}) is {state}")
        return metric_pb((await self._catalog.latest_metric_versions(latest["project_id"], [mid]))[0])

    async def create_metric_group(self, request: pb.CreateMetricGroupRequest) -> pb.MetricGroup:
        pid = await self.project(request.project_id)
        name = checked(rules.require_name, request.name)
        ids = [parse_uuid(m, "metric_ids") for m in request.metric_ids]
        if not ids:
            raise invalid("metric_ids must name at least one metric")
        if len(set(ids)) != len(ids):
            raise invalid("metric_ids lists a metric twice")
        found = {r["metric_id"] for r in await self._catalog.latest_metric_versions(pid, ids)}
        missing = [str(m) for m in ids if m not in found]
        if missing:
            raise not_found(f"metric(s) {', '.join(missing)} do not exist in project {request.project_id}")
        row = await self._catalog.create_metric_group(pid, name, ids)
        if row is None:
            raise ApiError(Code.ALREADY_EXISTS, f"a metric group named {name!r} already exists in this project")
        return group_pb(row)

    async def list_metric_groups(self, request: pb.ListMetricGroupsRequest) -> pb.ListMetricGroupsResponse:
        pid = await self.project(request.project_id)
        return pb.ListMetricGroupsResponse(groups=[group_pb(r) for r in await self._catalog.metric_groups(pid)])

    # -- systems -------------------------------------------------------------------------------

    async def create_system(self, request: pb.CreateSystemRequest) -> pb.System:
        pid = await self.project(request.project_id)
        name = checked(rules.require_name, request.name)
        return system_pb(await self._catalog.upsert_system(pid, name, request.description))

    async def _system(self, system_id: str) -> asyncpg.Record:
        sid = parse_uuid(system_id, "system_id")
        row = await self._catalog.get_system(sid)
        if row is None:
            raise not_found(f"system {system_id} does not exist")
        return row

    async def create_system_version(self, request: pb.CreateSystemVersionRequest) -> pb.SystemVersion:
        system = await self._version_of(request)
        config = checked(rules.validate_system_version, request.kind, struct_to_dict(request.config))
        checked(rules.check_secret_envs, self._secret_env, request.kind, config)
        row, created = await self._catalog.create_system_version(system, request.name.strip(), request.kind, config)
        # The stored config read as today's parser reads it: a version stored before a config field
        # existed is still the same version with that field's default.
        if not created and (row["kind"] != request.kind or _as_today(row["kind"], row["config"]) != config):
            raise ApiError(
                Code.ALREADY_EXISTS,
                f"system version {row['name']!r} already exists with another config; versions are immutable",
            )
        return version_pb(row)

    async def _version_of(self, request: pb.CreateSystemVersionRequest) -> uuid.UUID | NewSystem:
        """The system a new version belongs to: system_id, or a system named in project_id."""
        named = [f for f in ("project_id", "system_name", "system_description") if getattr(request, f)]
        if request.system_id:
            if named:
                raise invalid(f"{', '.join(named)}: only without system_id, to name the system instead")
            return uuid.UUID(str((await self._system(request.system_id))["id"]))
        if not request.project_id:
            raise invalid("name the system: its system_id, or the project_id and system_name of one to create")
        name = checked(rules.require_name, request.system_name, "system_name")
        return NewSystem(await self.project(request.project_id), name, request.system_description)

    async def get_system(self, request: pb.GetSystemRequest) -> pb.SystemWithVersions:
        system = await self._system(request.system_id)
        versions = await self._catalog.system_versions(system["id"])
        return pb.SystemWithVersions(system=system_pb(system), versions=[version_pb(v) for v in versions])

    async def list_systems(self, request: pb.ListSystemsRequest) -> pb.ListSystemsResponse:
        pid = await self.project(request.project_id)
        systems, versions = await self._catalog.systems_with_versions(pid)
        return pb.ListSystemsResponse(
            systems=[
                pb.SystemWithVersions(
                    system=system_pb(s), versions=[version_pb(v) for v in versions if v["system_id"] == s["id"]]
                )
                for s in systems
            ]
        )

    async def set_production_version(self, request: pb.SetProductionVersionRequest) -> pb.System:
        system = await self._system(request.system_id)
        vid = parse_uuid(request.version_id, "version_id")
        row = await self._catalog.set_production_version(system["id"], vid)
        if row is None:
            raise not_found(f"system version {request.version_id} does not exist in system {request.system_id}")
        return system_pb(row)


def _as_today(kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """A stored version's config with the fields added since filled in (None if it no longer parses)."""
    try:
        return rules.validate_system_version(kind, config)
    except ValueError:
        return None
