"""A thin gRPC client over the orchestrator (catalog, runs) and the query service (reads)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import (
    access_pb2_grpc,
    catalog_pb2_grpc,
    monitors_pb2_grpc,
    playground_pb2_grpc,
    query_pb2_grpc,
    runs_pb2_grpc,
    schedules_pb2_grpc,
    testsets_pb2_grpc,
    webhooks_pb2_grpc,
)
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import playground_pb2 as ppb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.api.reads import RunTimeout
from scorekeeper_sdk.auth import interceptors
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.testsets import TestsetMethods

__all__ = ["FINAL_STATUSES", "Client", "RunTimeout", "apb", "cpb", "ppb", "qpb", "rpb", "tpb"]

from scorekeeper_sdk.views import FINAL_STATUSES


def _heuristic(config: dict[str, Any]) -> cpb.HeuristicConfig:
    return cpb.HeuristicConfig(kind=config["kind"], params=struct(config.get("params")))


class Client(TestsetMethods):
    """Async client; ``async with Client(...) as client``."""

    def __init__(
        self,
        orchestrator: str = "127.0.0.1:50051",
        query: str = "127.0.0.1:50052",
        timeout_s: float = 30.0,
        *,
        api_key: str | None = None,
    ) -> None:
        self._orchestrator_channel = grpc.aio.insecure_channel(
            orchestrator,
            options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
            interceptors=interceptors(api_key),
        )
        self._query_channel = grpc.aio.insecure_channel(query, interceptors=interceptors(api_key))
        self.access = access_pb2_grpc.AccessServiceStub(self._orchestrator_channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self._orchestrator_channel)
        self.testsets = testsets_pb2_grpc.TestsetServiceStub(self._orchestrator_channel)
        self.runs = runs_pb2_grpc.RunServiceStub(self._orchestrator_channel)
        self.playground = playground_pb2_grpc.PlaygroundServiceStub(self._orchestrator_channel)
        self.monitors = monitors_pb2_grpc.MonitorServiceStub(self._orchestrator_channel)
        self.webhooks = webhooks_pb2_grpc.WebhookServiceStub(self._orchestrator_channel)
        self.schedules = schedules_pb2_grpc.ScheduleServiceStub(self._orchestrator_channel)
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

    async def list_projects(self) -> list[cpb.Project]:
        response = await self._call(self.catalog.ListProjects, cpb.ListProjectsRequest(), cpb.ListProjectsResponse)
        return list(response.projects)

    async def create_api_key(
        self, project_id: str, name: str, role: str, expires_in_days: int = 0
    ) -> apb.CreateApiKeyResponse:
        """A new key of the project (read, write or admin), expiring after ``expires_in_days``
        (0: never); ``.secret`` is shown only here."""
        request = apb.CreateApiKeyRequest(project_id=project_id, name=name, role=role, expires_in_days=expires_in_days)
        return await self._call(self.access.CreateApiKey, request, apb.CreateApiKeyResponse)

    async def list_api_keys(self, project_id: str) -> list[apb.ApiKey]:
        request = apb.ListApiKeysRequest(project_id=project_id)
        return list((await self._call(self.access.ListApiKeys, request, apb.ListApiKeysResponse)).keys)

    async def revoke_api_key(self, key_id: str) -> apb.ApiKey:
        return await self._call(self.access.RevokeApiKey, apb.RevokeApiKeyRequest(key_id=key_id), apb.ApiKey)

    async def rotate_api_key(self, key_id: str, grace_hours: int = 0) -> apb.RotateApiKeyResponse:
        request = apb.RotateApiKeyRequest(key_id=key_id, grace_hours=grace_hours)
        return await self._call(self.access.RotateApiKey, request, apb.RotateApiKeyResponse)

    async def who_am_i(self) -> apb.ApiKey:
        return (await self._call(self.access.WhoAmI, apb.WhoAmIRequest(), apb.WhoAmIResponse)).key

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
        return await self.create_metric(
            project_id,
            name,
            eval_type="heuristic",
            output_type=output_type,
            threshold=threshold,
            description=description,
            heuristic={"kind": kind, "params": params},
        )

    async def create_ai_metric(
        self,
        project_id: str,
        name: str,
        *,
        model: str,
        template: str = "",
        prompt_template: str = "",
        output_type: str = "boolean",
        guidelines: str = "",
        threshold: float | None = None,
        description: str = "",
        expected_label_field: str = "",
        **judge: Any,
    ) -> cpb.Metric:
        """An LLM-judged metric: a built-in ``template`` or a ``prompt_template``; ``judge`` takes the
        other AiConfig fields (base_url, api_key_env, answer_format, context_field, temperature …)."""
        return await self.create_metric(
            project_id,
            name,
            eval_type="ai",
            output_type=output_type,
            guidelines=guidelines,
            threshold=threshold,
            description=description,
            expected_label_field=expected_label_field,
            ai={"model": model, "template": template, "prompt_template": prompt_template, **judge},
        )

    async def create_http_system(
        self, project_id: str, name: str, config: dict[str, Any], version_name: str = ""
    ) -> cpb.SystemVersion:
        """A version of the project's system of that name, made with it when there is none (a
        refused version makes no system)."""
        request = cpb.CreateSystemVersionRequest(
            project_id=project_id, system_name=name, name=version_name, kind="http", config=struct(config)
        )
        return await self._call(self.catalog.CreateSystemVersion, request, cpb.SystemVersion)

    async def create_metric(
        self,
        project_id: str,
        name: str,
        *,
        eval_type: str,
        output_type: str = "boolean",
        guidelines: str = "",
        threshold: float | None = None,
        description: str = "",
        heuristic: dict[str, Any] | None = None,
        ai: dict[str, Any] | None = None,
        expected_label_field: str = "",
    ) -> cpb.Metric:
        request = cpb.CreateMetricRequest(
            project_id=project_id,
            name=name,
            description=description,
            eval_type=eval_type,
            output_type=output_type,
            guidelines=guidelines,
            expected_label_field=expected_label_field,
        )
        if threshold is not None:
            request.passing_threshold = threshold
        if heuristic is not None:
            request.heuristic.CopyFrom(_heuristic(heuristic))
        if ai is not None:
            request.ai.CopyFrom(cpb.AiConfig(**ai))
        return await self._call(self.catalog.CreateMetric, request, cpb.Metric)

    async def update_metric(self, metric_id: str, **changes: Any) -> cpb.Metric:
        """A new metric version; ``changes`` are UpdateMetricRequest fields (heuristic as a dict)."""
        heuristic = changes.pop("heuristic", None)
        request = cpb.UpdateMetricRequest(metric_id=metric_id, **changes)
        if heuristic is not None:
            request.heuristic.CopyFrom(
                cpb.HeuristicConfig(kind=heuristic["kind"], params=struct(heuristic.get("params")))
            )
        return await self._call(self.catalog.UpdateMetric, request, cpb.Metric)

    async def get_metric(self, metric_id: str) -> cpb.MetricWithVersions:
        return await self._call(
            self.catalog.GetMetric, cpb.GetMetricRequest(metric_id=metric_id), cpb.MetricWithVersions
        )

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
        metric_group_id: str = "",
    ) -> rpb.Run:
        request = rpb.CreateRunRequest(
            project_id=project_id,
            testset_id=testset_id,
            system_version_id=system_version_id,
            metric_ids=metric_ids,
            source=source,
            trials=trials,
            notes=notes,
            max_concurrency=max_concurrency,
            metric_group_id=metric_group_id,
        )
        return await self._call(self.runs.CreateRun, request, rpb.Run)

    async def cancel_run(self, run_id: str) -> rpb.Run:
        return await self._call(self.runs.CancelRun, rpb.CancelRunRequest(run_id=run_id), rpb.Run)

    async def archive_run(self, run_id: str) -> rpb.Run:
        return await self._call(self.runs.ArchiveRun, rpb.ArchiveRunRequest(run_id=run_id), rpb.Run)

    async def unarchive_run(self, run_id: str) -> rpb.Run:
        return await self._call(self.runs.UnarchiveRun, rpb.UnarchiveRunRequest(run_id=run_id), rpb.Run)

    async def update_run_notes(self, run_id: str, notes: str) -> rpb.Run:
        return await self._call(
            self.runs.UpdateRunNotes, rpb.UpdateRunNotesRequest(run_id=run_id, notes=notes), rpb.Run
        )

    async def rescore_run(self, run_id: str, metrics: list[tuple[str, str]]) -> rpb.Run:
        """Re-score with (metric_id, version_id) pairs; an empty version_id means the latest."""
        choices = [rpb.MetricChoice(metric_id=m, version_id=v) for m, v in metrics]
        return await self._call(self.runs.RescoreRun, rpb.RescoreRunRequest(run_id=run_id, metrics=choices), rpb.Run)

    async def submit_human_score(
        self, record_id: str, metric_id: str, value: bool | float, *, reviewer: str, comment: str = ""
    ) -> rpb.SubmitHumanScoreResponse:
        request = rpb.SubmitHumanScoreRequest(
            record_id=record_id, metric_id=metric_id, reviewer=reviewer, comment=comment
        )
        if isinstance(value, bool):
            request.value.bool_value = value
        else:
            request.value.number_value = value
        return await self._call(self.runs.SubmitHumanScore, request, rpb.SubmitHumanScoreResponse)

    async def ingest_records(self, run_id: str, records: list[dict[str, Any]]) -> rpb.IngestRecordsResponse:
        """Records executed client-side: dicts with testcase_id, trial, outputs, status, error, latency_ms,
        prompt_tokens, completion_tokens, cost_usd (omit it when unknown)."""
        request = rpb.IngestRecordsRequest(run_id=run_id)
        for r in records:
            record = request.records.add(
                testcase_id=r["testcase_id"],
                trial=r.get("trial", 0),
                outputs=struct(r.get("outputs")),
                status=r.get("status", "completed"),
                error=r.get("error", ""),
                latency_ms=r.get("latency_ms", 0.0),
                prompt_tokens=r.get("prompt_tokens", 0),
                completion_tokens=r.get("completion_tokens", 0),
            )
            if r.get("cost_usd") is not None:
                record.cost_usd = r["cost_usd"]
        return await self._call(self.runs.IngestRecords, request, rpb.IngestRecordsResponse)

    async def tag_records(
        self, run_id: str, record_ids: list[str], *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> rpb.TagRecordsResponse:
        request = rpb.TagRecordsRequest(run_id=run_id, record_ids=record_ids, add=list(add), remove=list(remove))
        return await self._call(self.runs.TagRecords, request, rpb.TagRecordsResponse)

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

    async def list_records(self, page_size: int = 500, **filters: Any) -> AsyncIterator[qpb.RecordView]:
        """Records of a run (``run_id=``) or of a project (``project_id=``), every page; ``filters`` are
        ListRecordsRequest fields: run_ids, testcase_id, statuses, tags, fields, where (["exact:failed",
        "overlap:lt:0.5"]), usage (["latency_ms:gt:2000"]), search, order_by ("latency_ms desc",
        "cost_usd desc", "score.<metric> desc")."""
        token = ""
        while True:
            request = qpb.ListRecordsRequest(page_size=page_size, page_token=token, **filters)
            page = await self._call(self.query.ListRecords, request, qpb.ListRecordsResponse)
            for record in page.records:
                yield record
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def get_record(self, record_id: str) -> qpb.RecordView:
        return await self._call(self.query.GetRecord, qpb.GetRecordRequest(record_id=record_id), qpb.RecordView)

    async def list_runs(self, project_id: str, page_size: int = 100, **filters: Any) -> AsyncIterator[qpb.RunView]:
        """The project's runs, newest first; ``filters`` are ListRunsRequest fields (sources, statuses,
        testset_id, system_id, system_version_id, created_after, created_before, archived)."""
        token = ""
        while True:
            request = qpb.ListRunsRequest(project_id=project_id, page_size=page_size, page_token=token, **filters)
            page = await self._call(self.query.ListRuns, request, qpb.ListRunsResponse)
            for run in page.runs:
                yield run
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def run_history(self, project_id: str, metrics: Sequence[str], **filters: Any) -> qpb.GetRunHistoryResponse:
        """Per-metric series over runs (metric ids or names); ``filters`` are GetRunHistoryRequest
        fields (testset_id, system_id, system_version_id, sources, limit, created_after/before, and
        fields: a slice's "metadata.lang=fr")."""
        request = qpb.GetRunHistoryRequest(project_id=project_id, metrics=list(metrics), **filters)
        return await self._call(self.query.GetRunHistory, request, qpb.GetRunHistoryResponse)

    async def score_distribution(self, run_id: str) -> qpb.ScoreDistribution:
        request = qpb.GetScoreDistributionRequest(run_id=run_id)
        return await self._call(self.query.GetScoreDistribution, request, qpb.ScoreDistribution)

    async def run_breakdown(
        self, run_id: str, field: str = "", baseline_run_id: str = "", max_values: int = 0
    ) -> qpb.RunBreakdown:
        request = qpb.GetRunBreakdownRequest(
            run_id=run_id, field=field, baseline_run_id=baseline_run_id, max_values=max_values
        )
        return await self._call(self.query.GetRunBreakdown, request, qpb.RunBreakdown)

    async def weak_slices(
        self, run_id: str, metric: str = "", min_records: int = 0, limit: int = 0, baseline_run_id: str = ""
    ) -> qpb.WeakSlices:
        request = qpb.GetWeakSlicesRequest(
            run_id=run_id, metric=metric, min_records=min_records, limit=limit, baseline_run_id=baseline_run_id
        )
        return await self._call(self.query.GetWeakSlices, request, qpb.WeakSlices)

    async def metric_agreement(self, run_id: str, metric_a: str, metric_b: str) -> qpb.MetricAgreement:
        request = qpb.GetMetricAgreementRequest(run_id=run_id, metric_a=metric_a, metric_b=metric_b)
        return await self._call(self.query.GetMetricAgreement, request, qpb.MetricAgreement)

    async def compare_runs(
        self,
        run_id: str,
        baseline_run_id: str,
        *,
        metrics: Sequence[str] = (),
        regressions_only: bool = False,
        page_size: int = 100,
        page_token: str = "",
        fields: Sequence[str] = (),
        order_by: str = "",
        testcase_ids: Sequence[str] = (),
        around_testcase_id: str = "",
    ) -> qpb.CompareRunsResponse:
        """One page of the comparison of ``run_id`` against ``baseline_run_id`` (``fields``: of a
        slice's testcases alone; ``order_by``, ``testcase_ids``, ``around_testcase_id`` as
        CompareRunsRequest's)."""
        request = qpb.CompareRunsRequest(
            fields=list(fields),
            order_by=order_by,
            testcase_ids=list(testcase_ids),
            around_testcase_id=around_testcase_id,
            run_id=run_id,
            baseline_run_id=baseline_run_id,
            metrics=list(metrics),
            regressions_only=regressions_only,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._call(self.query.CompareRuns, request, qpb.CompareRunsResponse)

    async def export_run(self, run_id: str, format: str = "csv") -> AsyncIterator[bytes]:
        """The run's records as CSV or JSONL, chunk by chunk (no deadline: it lasts as long as the
        caller reads)."""
        async for chunk in self.query.ExportRun(qpb.ExportRunRequest(run_id=run_id, format=format)):
            if chunk.data:
                yield chunk.data
