"""A thin gRPC client over the orchestrator (catalog, runs) and the query service (reads)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import catalog_pb2_grpc, query_pb2_grpc, testsets_pb2_grpc
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.calls import struct
from scorekeeper_sdk.testsets import TestsetMethods

__all__ = ["FINAL_STATUSES", "Client", "RunTimeout", "cpb", "qpb", "tpb"]

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class RunTimeout(TimeoutError):
    """The run did not reach a final status in time."""


class Client(TestsetMethods):
    """Async client; ``async with Client(...) as client``."""

    def __init__(
        self, orchestrator: str = "127.0.0.1:50051", query: str = "127.0.0.1:50052", timeout_s: float = 30.0
    ) -> None:
        self._orchestrator_channel = grpc.aio.insecure_channel(
            orchestrator, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        )
        self._query_channel = grpc.aio.insecure_channel(query)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self._orchestrator_channel)
        self.testsets = testsets_pb2_grpc.TestsetServiceStub(self._orchestrator_channel)
        self.query = query_pb2_grpc.QueryServiceStub(self._query_channel)
        self._timeout = timeout_s

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._orchestrator_channel.close()
        await self._query_channel.close()

    async def create_project(self, name: str, description: str = "") -> cpb.Project:
        request = cpb.CreateProjectRequest(name=name, description=description)
        return await self._call(self.catalog.CreateProject, request, cpb.Project)

    async def create_heuristic_metric(
        self,
        project_id: str,
        name: str,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        output_type: str = "boolean",
        threshold: float | None = None,
        description: str = "",
    ) -> cpb.Metric:
        request = cpb.CreateMetricRequest(
            project_id=project_id,
            name=name,
            description=description,
            eval_type="heuristic",
            output_type=output_type,
            heuristic=cpb.HeuristicConfig(kind=kind, params=struct(params)),
        )
        if threshold is not None:
            request.passing_threshold = threshold
        return await self._call(self.catalog.CreateMetric, request, cpb.Metric)

    async def create_http_system(
        self, project_id: str, name: str, config: dict[str, Any], version_name: str = ""
    ) -> cpb.SystemVersion:
        system_request = cpb.CreateSystemRequest(project_id=project_id, name=name)
        system = await self._call(self.catalog.CreateSystem, system_request, cpb.System)
        request = cpb.CreateSystemVersionRequest(
            system_id=system.id, name=version_name, kind="http", config=struct(config)
        )
        return await self._call(self.catalog.CreateSystemVersion, request, cpb.SystemVersion)

    async def create_run(
        self,
        project_id: str,
        testset_id: str,
        system_version_id: str,
        metric_ids: list[str],
        *,
        source: str = "api",
        trials: int = 1,
        notes: str = "",
        max_concurrency: int = 0,
    ) -> cpb.Run:
        request = cpb.CreateRunRequest(
            project_id=project_id,
            testset_id=testset_id,
            system_version_id=system_version_id,
            metric_ids=metric_ids,
            source=source,
            trials=trials,
            notes=notes,
            max_concurrency=max_concurrency,
        )
        return await self._call(self.catalog.CreateRun, request, cpb.Run)

    async def get_run(self, run_id: str) -> qpb.RunView:
        return await self._call(self.query.GetRun, qpb.GetRunRequest(run_id=run_id), qpb.RunView)

    async def wait_for_run(self, run_id: str, timeout_s: float = 300.0, poll_s: float = 0.2) -> qpb.RunView:
        deadline = time.monotonic() + timeout_s
        while True:
            run = await self.get_run(run_id)
            if run.status in FINAL_STATUSES:
                return run
            if time.monotonic() > deadline:
                raise RunTimeout(
                    f"run {run_id} is still {run.status} after {timeout_s:g}s "
                    f"({run.records}/{run.expected_records} records, {run.scores}/{run.expected_scores} scores)"
                )
            await asyncio.sleep(poll_s)

    async def records(self, run_id: str, page_size: int = 500) -> AsyncIterator[qpb.RecordView]:
        token = ""
        while True:
            request = qpb.ListRecordsRequest(run_id=run_id, page_size=page_size, page_token=token)
            page = await self._call(self.query.ListRecords, request, qpb.ListRecordsResponse)
            for record in page.records:
                yield record
            if not page.next_page_token:
                return
            token = page.next_page_token
