"""CatalogService (proto/scorekeeper/v1/catalog.proto): one implementation behind gRPC and HTTP."""

from __future__ import annotations

import logging
import uuid

import asyncpg
from google.protobuf import json_format
from scorekeeper.v1 import catalog_pb2 as pb

from services.run_orchestrator import catalog
from services.run_orchestrator.catalog import MetricDefinition
from services.run_orchestrator.repository import CatalogRepository
from shared.auth.access import caller
from shared.edge.convert import dict_to_struct, parse_uuid, struct_to_dict, timestamp
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.outbound.secrets import SecretEnvPolicy

log = logging.getLogger(__name__)


def _project_pb(row: asyncpg.Record) -> pb.Project:
    return pb.Project(
        id=str(row["id"]), name=row["name"], description=row["description"], created_at=timestamp(row["created_at"])
    )


def metric_pb(row: asyncpg.Record) -> pb.Metric:
    config = row["config"]
    metric = pb.Metric(
        id=str(row["metric_id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        eval_type=row["eval_type"],
        output_type=row["output_type"],
        guidelines=row["guidelines"],
        passing_threshold=row["passing_threshold"],
        version_id=str(row["version_id"]),
        version=row["version"],
        created_at=timestamp(row["created_at"]),
    )
    if row["eval_type"] == "heuristic":
        metric.heuristic.CopyFrom(pb.HeuristicConfig(kind=config["kind"], params=dict_to_struct(config["params"])))
    elif row["eval_type"] == "ai":
        json_format.ParseDict({k: v for k, v in config.items() if k != "label_field" and v is not None}, metric.ai)
    metric.expected_label_field = config.get("label_field", "")
    return metric


def _definition_config(eval_type: str, heuristic: pb.HeuristicConfig, ai: pb.AiConfig) -> dict[str, object]:
    if eval_type == "heuristic":
        return {"kind": heuristic.kind, "params": struct_to_dict(heuristic.params)}
    if eval_type == "ai":
        # Only the fields the request set; the judge config's defaults fill the rest.
        return json_format.MessageToDict(ai, preserving_proto_field_name=True)
    return {}


def _system_pb(row: asyncpg.Record) -> pb.System:
    return pb.System(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        production_version_id=str(row["production_version_id"] or ""),
        created_at=timestamp(row["created_at"]),
    )


def _version_pb(row: asyncpg.Record) -> pb.SystemVersion:
    return pb.SystemVersion(
        id=str(row["id"]),
        system_id=str(row["system_id"]),
        name=row["name"],
        kind=row["kind"],
        config=dict_to_struct(row["config"]),
        created_at=timestamp(row["created_at"]),
    )


class CatalogApi:
    """Projects, metrics (with immutable versions and groups) and systems (with immutable versions)."""

    def __init__(self, catalog_repo: CatalogRepository, secret_env: SecretEnvPolicy) -> None:
        self._catalog = catalog_repo
        self._secret_env = secret_env

    async def project(self, project_id: str) -> uuid.UUID:
        """The id of an existing project; INVALID_ARGUMENT / NOT_FOUND otherwise."""
        pid: uuid.UUID = parse_uuid(project_id, "project_id")
        if await self._catalog.get_project(pid) is None:
            raise not_found(f"project {project_id} does not exist")
        return pid

    # -- projects ------------------------------------------------------------------------------

    async def create_project(self, request: pb.CreateProjectRequest) -> pb.Project:
        name = checked(catalog.require_name, request.name)
        return _project_pb(await self._catalog.create_project(name, request.description))

    async def list_projects(self, request: pb.ListProjectsRequest) -> pb.ListProjectsResponse:
        principal = caller()
        rows = await self._catalog.projects(None if principal.project_id is None else [principal.project_id])
        return pb.ListProjectsResponse(projects=[_project_pb(r) for r in rows])

    async def get_project(self, request: pb.GetProjectRequest) -> pb.Project:
        row = await self._catalog.get_project(parse_uuid(request.project_id, "project_id"))
        if row is None:
            raise not_found(f"project {request.project_id} does not exist")
        return _project_pb(row)

    # -- metrics -------------------------------------------------------------------------------

    async def create_metric(self, request: pb.CreateMetricRequest) -> pb.Metric:
        pid = await self.project(request.project_id)
        name = checked(catalog.require_name, request.name)
        definition = checked(
            catalog.validate_metric,
            MetricDefinition(
                eval_type=request.eval_type,
                output_type=request.output_type,
                guidelines=request.guidelines,
                passing_threshold=request.passing_threshold if request.HasField("passing_threshold") else None,
                config=_definition_config(request.eval_type, request.heuristic, request.ai),
                label_field=request.expected_label_field,
            ),
        )
        checked(catalog.check_secret_envs, self._secret_env, definition.eval_type, definition.config)
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
            config = _definition_config(eval_type, request.heuristic, request.ai)
        output_type = request.output_type if request.HasField("output_type") else latest["output_type"]
        threshold = latest["passing_threshold"] if output_type == latest["output_type"] else None
        if request.HasField("passing_threshold"):
            threshold = request.passing_threshold
        definition = checked(
            catalog.validate_metric,
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
        checked(catalog.check_secret_envs, self._secret_env, definition.eval_type, definition.config)
        name = checked(catalog.require_name, request.name) if request.HasField("name") else latest["name"]
        description = request.description if request.HasField("description") else latest["description"]
        return metric_pb(await self._catalog.update_metric(mid, name, description, definition))

    async def get_metric(self, request: pb.GetMetricRequest) -> pb.MetricWithVersions:
        mid, _ = await self._metric(request.metric_id)
        versions = [metric_pb(v) for v in await self._catalog.metric_versions(mid)]
        return pb.MetricWithVersions(metric=versions[-1], versions=versions)

    async def list_metrics(self, request: pb.ListMetricsRequest) -> pb.ListMetricsResponse:
        pid = await self.project(request.project_id)
        return pb.ListMetricsResponse(metrics=[metric_pb(r) for r in await self._catalog.latest_metric_versions(pid)])

    async def create_metric_group(self, request: pb.CreateMetricGroupRequest) -> pb.MetricGroup:
        pid = await self.project(request.project_id)
        name = checked(catalog.require_name, request.name)
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
        return self._group_pb(row)

    async def list_metric_groups(self, request: pb.ListMetricGroupsRequest) -> pb.ListMetricGroupsResponse:
        pid = await self.project(request.project_id)
        return pb.ListMetricGroupsResponse(groups=[self._group_pb(r) for r in await self._catalog.metric_groups(pid)])

    @staticmethod
    def _group_pb(row: asyncpg.Record) -> pb.MetricGroup:
        return pb.MetricGroup(
            id=str(row["id"]),
            project_id=str(row["project_id"]),
            name=row["name"],
            metric_ids=[str(m) for m in row["metric_ids"]],
            created_at=timestamp(row["created_at"]),
        )

    # -- systems -------------------------------------------------------------------------------

    async def create_system(self, request: pb.CreateSystemRequest) -> pb.System:
        pid = await self.project(request.project_id)
        name = checked(catalog.require_name, request.name)
        return _system_pb(await self._catalog.upsert_system(pid, name, request.description))

    async def _system(self, system_id: str) -> asyncpg.Record:
        sid = parse_uuid(system_id, "system_id")
        row = await self._catalog.get_system(sid)
        if row is None:
            raise not_found(f"system {system_id} does not exist")
        return row

    async def create_system_version(self, request: pb.CreateSystemVersionRequest) -> pb.SystemVersion:
        system = await self._system(request.system_id)
        config = checked(catalog.validate_system_version, request.kind, struct_to_dict(request.config))
        checked(catalog.check_secret_envs, self._secret_env, request.kind, config)
        row, created = await self._catalog.create_system_version(
            system["id"], request.name.strip(), request.kind, config
        )
        if not created and (row["kind"] != request.kind or row["config"] != config):
            raise ApiError(
                Code.ALREADY_EXISTS,
                f"system version {row['name']!r} already exists with another config; versions are immutable",
            )
        return _version_pb(row)

    async def get_system(self, request: pb.GetSystemRequest) -> pb.SystemWithVersions:
        system = await self._system(request.system_id)
        versions = await self._catalog.system_versions(system["id"])
        return pb.SystemWithVersions(system=_system_pb(system), versions=[_version_pb(v) for v in versions])

    async def list_systems(self, request: pb.ListSystemsRequest) -> pb.ListSystemsResponse:
        pid = await self.project(request.project_id)
        systems, versions = await self._catalog.systems_with_versions(pid)
        return pb.ListSystemsResponse(
            systems=[
                pb.SystemWithVersions(
                    system=_system_pb(s), versions=[_version_pb(v) for v in versions if v["system_id"] == s["id"]]
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
        return _system_pb(row)
