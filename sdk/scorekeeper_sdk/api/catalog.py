"""Projects, metrics, systems and API keys (CatalogService, AccessService)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from google.protobuf import json_format
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import catalog_pb2 as cpb

from scorekeeper_sdk.api.base import Operations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.models import (
    ApiKey,
    AuditEvent,
    Metric,
    MetricGroup,
    NewApiKey,
    Project,
    RotatedApiKey,
    System,
    SystemVersion,
    SystemWithVersions,
)

CATALOG = "CatalogService"
ACCESS = "AccessService"


def _metric_config(request: Any, heuristic: dict[str, Any] | None, ai: dict[str, Any] | None) -> None:
    if heuristic is not None:
        request.heuristic.CopyFrom(cpb.HeuristicConfig(kind=heuristic["kind"], params=struct(heuristic.get("params"))))
    if ai is not None:
        json_format.ParseDict(ai, request.ai)


class CatalogOperations(Operations):
    """Projects, metrics (immutable versions, groups), systems (immutable versions) and API keys."""

    # -- projects -----------------------------------------------------------------------------

    async def list_projects(self) -> list[Project]:
        """The projects the key may see: its own, or all of them for the instance admin key."""
        response = await self._unary(CATALOG, "ListProjects", cpb.ListProjectsRequest(), cpb.ListProjectsResponse)
        return [from_proto(Project, p) for p in response.projects]

    async def get_project(self, project_id: str) -> Project:
        request = cpb.GetProjectRequest(project_id=project_id)
        return from_proto(Project, await self._unary(CATALOG, "GetProject", request, cpb.Project))

    async def create_project(self, name: str, description: str = "", *, call_retention_days: int = 0) -> Project:
        """A new project (the instance admin key only); ``call_retention_days``: how long its logged
        calls are kept (0: for ever)."""
        request = cpb.CreateProjectRequest(name=name, description=description, call_retention_days=call_retention_days)
        return from_proto(Project, await self._unary(CATALOG, "CreateProject", request, cpb.Project, creates=True))

    async def update_project(
        self,
        project_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        call_retention_days: int | None = None,
    ) -> Project:
        """Rename the project, change its description, or how many days its logged calls are kept
        (0: for ever) — the project's admin role."""
        request = cpb.UpdateProjectRequest(project_id=project_id)
        if name is not None:
            request.name = name
        if description is not None:
            request.description = description
        if call_retention_days is not None:
            request.call_retention_days = call_retention_days
        return from_proto(Project, await self._unary(CATALOG, "UpdateProject", request, cpb.Project))

    # -- metrics ------------------------------------------------------------------------------

    async def list_metrics(
        self, project_id: str, *, archived: bool = False, include_archived: bool = False
    ) -> list[Metric]:
        """The project's metrics at their latest version: those not archived, only the archived
        ones (``archived``), or every one (``include_archived``)."""
        request = cpb.ListMetricsRequest(project_id=project_id, archived=archived, include_archived=include_archived)
        response = await self._unary(CATALOG, "ListMetrics", request, cpb.ListMetricsResponse)
        return [from_proto(Metric, m) for m in response.metrics]

    async def archive_metric(self, metric_id: str) -> Metric:
        """Retire a metric: left out of metric lists and refused for new runs; nothing is deleted."""
        return from_proto(
            Metric,
            await self._unary(CATALOG, "ArchiveMetric", cpb.ArchiveMetricRequest(metric_id=metric_id), cpb.Metric),
        )

    async def unarchive_metric(self, metric_id: str) -> Metric:
        request = cpb.UnarchiveMetricRequest(metric_id=metric_id)
        return from_proto(Metric, await self._unary(CATALOG, "UnarchiveMetric", request, cpb.Metric))

    async def get_metric(self, metric_id: str) -> Metric:
        """The metric at its latest version."""
        return (await self.get_metric_versions(metric_id))[-1]

    async def get_metric_versions(self, metric_id: str) -> list[Metric]:
        """Every version of the metric, oldest first."""
        request = cpb.GetMetricRequest(metric_id=metric_id)
        response = await self._unary(CATALOG, "GetMetric", request, cpb.MetricWithVersions)
        return [from_proto(Metric, m) for m in response.versions]

    async def create_metric(
        self,
        project_id: str,
        name: str,
        *,
        eval_type: str,
        output_type: str = "boolean",
        guidelines: str = "",
        passing_threshold: float | None = None,
        description: str = "",
        heuristic: dict[str, Any] | None = None,
        ai: dict[str, Any] | None = None,
        expected_label_field: str = "",
    ) -> Metric:
        """A metric: ``eval_type`` heuristic (``heuristic={"kind", "params"}``), ai (``ai={"model",
        "template" | "prompt_template", …}``) or human; ``output_type`` boolean, int or float."""
        request = cpb.CreateMetricRequest(
            project_id=project_id,
            name=name,
            description=description,
            eval_type=eval_type,
            output_type=output_type,
            guidelines=guidelines,
            expected_label_field=expected_label_field,
        )
        if passing_threshold is not None:
            request.passing_threshold = passing_threshold
        _metric_config(request, heuristic, ai)
        return from_proto(Metric, await self._unary(CATALOG, "CreateMetric", request, cpb.Metric, creates=True))

    async def create_heuristic_metric(
        self,
        project_id: str,
        name: str,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        output_type: str = "boolean",
        passing_threshold: float | None = None,
        description: str = "",
    ) -> Metric:
        """A heuristic metric (exact_match, contains, regex …) with its params."""
        return await self.create_metric(
            project_id,
            name,
            eval_type="heuristic",
            output_type=output_type,
            passing_threshold=passing_threshold,
            description=description,
            heuristic={"kind": kind, "params": params},
        )

    async def update_metric(
        self,
        metric_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        output_type: str | None = None,
        guidelines: str | None = None,
        passing_threshold: float | None = None,
        heuristic: dict[str, Any] | None = None,
        ai: dict[str, Any] | None = None,
        expected_label_field: str | None = None,
    ) -> Metric:
        """A new version of the metric; what is not given keeps its value."""
        given = {
            "name": name,
            "description": description,
            "output_type": output_type,
            "guidelines": guidelines,
            "passing_threshold": passing_threshold,
            "expected_label_field": expected_label_field,
        }
        request = cpb.UpdateMetricRequest(metric_id=metric_id)
        for field, value in given.items():
            if value is not None:
                setattr(request, field, value)
        _metric_config(request, heuristic, ai)
        return from_proto(Metric, await self._unary(CATALOG, "UpdateMetric", request, cpb.Metric, creates=True))

    async def list_metric_groups(self, project_id: str) -> list[MetricGroup]:
        request = cpb.ListMetricGroupsRequest(project_id=project_id)
        response = await self._unary(CATALOG, "ListMetricGroups", request, cpb.ListMetricGroupsResponse)
        return [from_proto(MetricGroup, g) for g in response.groups]

    async def create_metric_group(self, project_id: str, name: str, metric_ids: list[str]) -> MetricGroup:
        request = cpb.CreateMetricGroupRequest(project_id=project_id, name=name, metric_ids=metric_ids)
        return from_proto(MetricGroup, await self._unary(CATALOG, "CreateMetricGroup", request, cpb.MetricGroup))

    # -- systems ------------------------------------------------------------------------------

    async def list_systems(self, project_id: str) -> list[SystemWithVersions]:
        """The project's systems by name, each with its versions (oldest first)."""
        request = cpb.ListSystemsRequest(project_id=project_id)
        response = await self._unary(CATALOG, "ListSystems", request, cpb.ListSystemsResponse)
        return [from_proto(SystemWithVersions, s) for s in response.systems]

    async def get_system(self, system_id: str) -> SystemWithVersions:
        request = cpb.GetSystemRequest(system_id=system_id)
        return from_proto(SystemWithVersions, await self._unary(CATALOG, "GetSystem", request, cpb.SystemWithVersions))

    async def create_system(self, project_id: str, name: str, description: str = "") -> System:
        """The system of that name, created when the project has none (its description is set)."""
        request = cpb.CreateSystemRequest(project_id=project_id, name=name, description=description)
        return from_proto(System, await self._unary(CATALOG, "CreateSystem", request, cpb.System))

    async def create_system_version(
        self, system_id: str, kind: str, config: dict[str, Any] | None = None, name: str = ""
    ) -> SystemVersion:
        """A version (``kind`` http, llm or sdk); the same name and config return the existing one."""
        request = cpb.CreateSystemVersionRequest(system_id=system_id, name=name, kind=kind, config=struct(config))
        return from_proto(SystemVersion, await self._unary(CATALOG, "CreateSystemVersion", request, cpb.SystemVersion))

    async def create_system_version_by_name(
        self,
        project_id: str,
        system_name: str,
        kind: str,
        config: dict[str, Any] | None = None,
        name: str = "",
        system_description: str = "",
    ) -> SystemVersion:
        """A version of the project's system of that name; a system that does not exist yet is made
        with it (and its description), in one transaction: a version refused makes no system."""
        request = cpb.CreateSystemVersionRequest(
            project_id=project_id,
            system_name=system_name,
            system_description=system_description,
            name=name,
            kind=kind,
            config=struct(config),
        )
        return from_proto(SystemVersion, await self._unary(CATALOG, "CreateSystemVersion", request, cpb.SystemVersion))

    async def set_production_version(self, system_id: str, version_id: str) -> System:
        request = cpb.SetProductionVersionRequest(system_id=system_id, version_id=version_id)
        return from_proto(System, await self._unary(CATALOG, "SetProductionVersion", request, cpb.System))

    # -- API keys -----------------------------------------------------------------------------

    async def who_am_i(self) -> ApiKey:
        """The key this client uses: its project and role."""
        response = await self._unary(ACCESS, "WhoAmI", apb.WhoAmIRequest(), apb.WhoAmIResponse)
        return from_proto(ApiKey, response.key)

    async def create_api_key(self, project_id: str, name: str, role: str, *, expires_in_days: int = 0) -> NewApiKey:
        """A new key of the project (read, write or admin), refused as expired ``expires_in_days``
        after it is made (0: it never expires); its secret is in this answer only."""
        request = apb.CreateApiKeyRequest(project_id=project_id, name=name, role=role, expires_in_days=expires_in_days)
        response = await self._unary(ACCESS, "CreateApiKey", request, apb.CreateApiKeyResponse, creates=True)
        return from_proto(NewApiKey, response)

    async def list_api_keys(self, project_id: str) -> list[ApiKey]:
        request = apb.ListApiKeysRequest(project_id=project_id)
        response = await self._unary(ACCESS, "ListApiKeys", request, apb.ListApiKeysResponse)
        return [from_proto(ApiKey, k) for k in response.keys]

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        request = apb.RevokeApiKeyRequest(key_id=key_id)
        return from_proto(ApiKey, await self._unary(ACCESS, "RevokeApiKey", request, apb.ApiKey))

    async def rotate_api_key(
        self, key_id: str, *, grace_hours: int = 0, expires_in_days: int | None = None
    ) -> RotatedApiKey:
        """A new key in place of ``key_id`` (its name and role; its secret in this answer only),
        the old one working ``grace_hours`` more (0: revoked now; at most 720). The new key lives
        ``expires_in_days`` (0: for ever), or as long as the old one was made to when not given."""
        request = apb.RotateApiKeyRequest(key_id=key_id, grace_hours=grace_hours)
        if expires_in_days is not None:
            request.expires_in_days = expires_in_days
        response = await self._unary(ACCESS, "RotateApiKey", request, apb.RotateApiKeyResponse, creates=True)
        return from_proto(RotatedApiKey, response)

    async def list_audit_events(
        self,
        project_id: str,
        *,
        actions: Sequence[str] = (),
        key_id: str = "",
        failed_only: bool = False,
        page_size: int = 100,
    ) -> AsyncIterator[AuditEvent]:
        """The project's audit log, newest first (the admin role): every change a key made through
        the API and every attempt at one it was refused; only ``actions`` (RPC names: CreateApiKey …),
        only the calls of ``key_id``, only those that did not succeed."""
        request = apb.ListAuditEventsRequest(
            project_id=project_id, actions=actions, key_id=key_id, failed_only=failed_only, page_size=page_size
        )
        async for found in self._pages(
            ACCESS, "ListAuditEvents", request, apb.ListAuditEventsResponse, lambda p: p.events
        ):
            yield from_proto(AuditEvent, found)
