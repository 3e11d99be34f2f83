"""CatalogService (proto/scorekeeper/v1/catalog.proto): one implementation behind gRPC and HTTP."""

from __future__ import annotations

import logging
import uuid

import asyncpg
from scorekeeper.v1 import catalog_pb2 as pb

from services.run_orchestrator import catalog
from services.run_orchestrator.repository import CatalogRepository, RunRepository
from services.run_orchestrator.testsets.repository import TestsetRepository
from shared import metrics
from shared.edge.convert import dict_to_struct, parse_uuid, struct_to_dict, timestamp
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.events import RunCreated
from shared.logs import correlation_id
from shared.messaging.bus import Bus

log = logging.getLogger(__name__)


def _project_pb(row: asyncpg.Record) -> pb.Project:
    return pb.Project(
        id=str(row["id"]), name=row["name"], description=row["description"], created_at=timestamp(row["created_at"])
    )


def _metric_pb(row: asyncpg.Record) -> pb.Metric:
    config = row["config"]
    return pb.Metric(
        id=str(row["metric_id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        eval_type=row["eval_type"],
        output_type=row["output_type"],
        guidelines=row["guidelines"],
        passing_threshold=row["passing_threshold"],
        heuristic=pb.HeuristicConfig(kind=config.get("kind", ""), params=dict_to_struct(config.get("params"))),
        version_id=str(row["version_id"]),
        version=row["version"],
        created_at=timestamp(row["created_at"]),
    )


def _run_pb(row: asyncpg.Record) -> pb.Run:
    return pb.Run(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        testset_id=str(row["testset_id"]),
        testset_version=row["testset_version"],
        system_version_id=str(row["system_version_id"]),
        metric_version_ids=[str(m) for m in row["metric_version_ids"]],
        source=row["source"],
        status=row["status"],
        trials=row["trials"],
        expected_records=row["expected_records"],
        notes=row["notes"],
        created_at=timestamp(row["created_at"]),
    )


class CatalogApi:
    """Catalog writes and run kick-off."""

    def __init__(
        self, catalog_repo: CatalogRepository, testsets: TestsetRepository, runs: RunRepository, bus: Bus
    ) -> None:
        self._catalog = catalog_repo
        self._testsets = testsets
        self._runs = runs
        self._bus = bus

    async def _project(self, project_id: str) -> uuid.UUID:
        pid = parse_uuid(project_id, "project_id")
        if await self._catalog.get_project(pid) is None:
            raise not_found(f"project {project_id} does not exist")
        return pid  # type: ignore[no-any-return]

    async def create_project(self, request: pb.CreateProjectRequest) -> pb.Project:
        name = checked(catalog.require_name, request.name)
        return _project_pb(await self._catalog.create_project(name, request.description))

    async def get_project(self, request: pb.GetProjectRequest) -> pb.Project:
        pid = parse_uuid(request.project_id, "project_id")
        row = await self._catalog.get_project(pid)
        if row is None:
            raise not_found(f"project {request.project_id} does not exist")
        return _project_pb(row)

    async def create_metric(self, request: pb.CreateMetricRequest) -> pb.Metric:
        pid = await self._project(request.project_id)
        name = checked(catalog.require_name, request.name)
        threshold = request.passing_threshold if request.HasField("passing_threshold") else None
        config = checked(
            catalog.validate_metric,
            request.eval_type,
            request.output_type,
            threshold,
            request.heuristic.kind,
            struct_to_dict(request.heuristic.params),
        )
        row = await self._catalog.create_metric(
            pid,
            name,
            request.description,
            request.eval_type,
            request.output_type,
            request.guidelines,
            threshold,
            config,
        )
        return _metric_pb(row)

    async def create_system(self, request: pb.CreateSystemRequest) -> pb.System:
        pid = await self._project(request.project_id)
        name = checked(catalog.require_name, request.name)
        row = await self._catalog.upsert_system(pid, name, request.description)
        return pb.System(
            id=str(row["id"]),
            project_id=str(pid),
            name=row["name"],
            description=row["description"],
            production_version_id=str(row["production_version_id"] or ""),
            created_at=timestamp(row["created_at"]),
        )

    async def create_system_version(self, request: pb.CreateSystemVersionRequest) -> pb.SystemVersion:
        sid = parse_uuid(request.system_id, "system_id")
        if await self._catalog.get_system(sid) is None:
            raise not_found(f"system {request.system_id} does not exist")
        config = checked(catalog.validate_system_version, request.kind, struct_to_dict(request.config))
        row, created = await self._catalog.create_system_version(sid, request.name.strip(), request.kind, config)
        if not created and (row["kind"] != request.kind or row["config"] != config):
            raise ApiError(
                Code.ALREADY_EXISTS,
                f"system version {row['name']!r} already exists with another config; versions are immutable",
            )
        return pb.SystemVersion(
            id=str(row["id"]),
            system_id=str(sid),
            name=row["name"],
            kind=row["kind"],
            config=dict_to_struct(row["config"]),
            created_at=timestamp(row["created_at"]),
        )

    async def create_run(self, request: pb.CreateRunRequest) -> pb.Run:
        pid = await self._project(request.project_id)
        source, trials = checked(catalog.validate_run, request.source, request.trials, request.max_concurrency)
        tid = parse_uuid(request.testset_id, "testset_id")
        testset = await self._testsets.get_testset(tid)
        if testset is None or testset["project_id"] != pid:
            raise not_found(f"testset {request.testset_id} does not exist in project {request.project_id}")
        if testset["testcase_count"] == 0:
            raise invalid(f"testset {request.testset_id} has no testcases")
        vid = parse_uuid(request.system_version_id, "system_version_id")
        version = await self._catalog.get_system_version(vid)
        if version is None or version["project_id"] != pid:
            raise not_found(
                f"system version {request.system_version_id} does not exist in project {request.project_id}"
            )
        metric_ids = [parse_uuid(m, "metric_ids") for m in request.metric_ids]
        if len(set(metric_ids)) != len(metric_ids):
            raise invalid("metric_ids lists a metric twice")
        found = {r["metric_id"]: r for r in await self._catalog.latest_metric_versions(pid, metric_ids)}
        missing = [str(m) for m in metric_ids if m not in found]
        if missing:
            raise not_found(f"metric(s) {', '.join(missing)} do not exist in project {request.project_id}")
        run = await self._runs.create_run(
            project_id=pid,
            testset_id=tid,
            testset_version=testset["version"],
            system_version_id=vid,
            metric_version_ids=[found[m]["version_id"] for m in metric_ids],
            source=source,
            trials=trials,
            max_concurrency=request.max_concurrency or None,
            expected_records=testset["testcase_count"] * trials,
            notes=request.notes,
        )
        token = correlation_id.set(f"run:{run['id']}")
        try:
            await self._bus.publish(RunCreated(run_id=run["id"], project_id=pid, correlation_id=correlation_id.get()))
        except Exception as exc:
            log.exception("could not publish run.created")
            await self._runs.set_status(
                run["id"], "failed", only_from="pending", error=f"could not publish run.created: {exc!r}"
            )
            metrics.RUN_TRANSITIONS.labels("failed").inc()
            raise ApiError(Code.UNAVAILABLE, "the event bus is unavailable; the run was marked failed") from exc
        finally:
            correlation_id.reset(token)
        updated = await self._runs.set_status(run["id"], "awaiting_execution", only_from="pending")
        metrics.RUN_TRANSITIONS.labels("awaiting_execution").inc()
        log.info("run created", extra={"run_id": str(run["id"]), "expected_records": run["expected_records"]})
        return _run_pb(updated or run)
