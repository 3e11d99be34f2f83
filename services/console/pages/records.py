"""A record's page (with the review form for human metrics) and the project-wide Records page."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import struct_pb2
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.pages.run import run_of_project, scores_by_metric
from services.console.record_filters import FORM_CONTEXT, RecordFilters, used
from services.console.reviewer import remember, reviewer, typed_name
from services.console.web import EXPORTS, Console, PageNotFound, api_message, download, redirect

# Runs offered in the Records page's run filter: the newest ones.
RUN_CHOICES = 50
# A record page shows its testcase's records in other runs, this many of the newest.
TESTCASE_HISTORY = 10


def review_value(output_type: str, raw: str) -> struct_pb2.Value:
    """The reviewer's verdict as the metric's type: pass / fail, or a number."""
    value = struct_pb2.Value()
    if output_type == "boolean":
        if raw not in ("pass", "fail"):
            raise ValueError("Choose pass or fail.")
        value.bool_value = raw == "pass"
    elif not raw.strip():
        raise ValueError("Choose a score.")
    else:
        try:
            value.number_value = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number.") from None
    return value


async def record_context(
    console: Console, request: Request, api: Api, error: str = "", saved: str = ""
) -> dict[str, Any]:
    """What record.html shows: the record, its run's metrics, its scores, the testsets it could join."""
    project_id, record_id = request.path_params["project_id"], request.path_params["record_id"]
    record = await api.call(api.stubs.query.GetRecord, qpb.GetRecordRequest(record_id=record_id), qpb.RecordView)
    testsets = api.call(
        api.stubs.testsets.ListTestsets,
        tpb.ListTestsetsRequest(project_id=project_id, page_size=100),
        tpb.ListTestsetsResponse,
    )
    history = api.call(
        api.stubs.query.ListRecords,
        qpb.ListRecordsRequest(project_id=project_id, testcase_id=record.testcase_id, page_size=TESTCASE_HISTORY + 1),
        qpb.ListRecordsResponse,
    )
    data = await console.project_page(
        request,
        api,
        project_id,
        {"run": run_of_project(api, project_id, record.run_id), "testsets": testsets, "history": history},
    )
    others = [r for r in data["history"].records if r.id != record.id]
    run: qpb.RunView = data["run"]
    human = [m for m in run.metrics if m.eval_type == "human"]
    current = scores_by_metric(record)
    older = [s for s in record.scores if not s.current]
    return {
        **data,
        "record": record,
        "metrics": run.metrics,
        "current": current,
        "older": older,
        "human": human,
        "error": error,
        "saved": saved,
        "curated": request.query_params.get("curated", ""),
        "reviewer": reviewer(request),
        # The same testcase in other runs (and other trials), newest first: how its output and scores moved.
        "others": others[:TESTCASE_HISTORY],
        "more_others": len(others) > TESTCASE_HISTORY or bool(data["history"].next_page_token),
        "scores_by_metric": scores_by_metric,
    }


async def records_context(console: Console, request: Request, api: Api, **extra: Any) -> dict[str, Any]:
    """What records.html shows: the project's records as filtered, a page of them, and what the
    filters and the "into a testset" form offer (metrics, recent runs, testsets)."""
    project_id = request.path_params["project_id"]
    meta = await console.project_page(
        request,
        api,
        project_id,
        {
            "metrics": api.call(
                api.stubs.catalog.ListMetrics,
                cpb.ListMetricsRequest(project_id=project_id, include_archived=True),
                cpb.ListMetricsResponse,
            ),
            "recent_runs": api.call(
                api.stubs.query.ListRuns,
                qpb.ListRunsRequest(project_id=project_id, page_size=RUN_CHOICES),
                qpb.ListRunsResponse,
            ),
            "testsets": api.call(
                api.stubs.testsets.ListTestsets,
                tpb.ListTestsetsRequest(project_id=project_id, page_size=100),
                tpb.ListTestsetsResponse,
            ),
        },
    )
    metrics = list(meta["metrics"].metrics)
    filters = RecordFilters.parse(request.query_params, {m.id for m in metrics})
    page = await api.call(
        api.stubs.query.ListRecords,
        qpb.ListRecordsRequest(project_id=project_id, page_size=console.settings.page_size, **filters.request_fields()),  # type: ignore[arg-type]
        qpb.ListRecordsResponse,
    )
    return {
        **meta,
        "metric_list": metrics,
        "metric_names": {m.id: m.name for m in metrics},
        "runs": meta["recent_runs"].runs,
        "records": page.records,
        "filters": filters,
        **FORM_CONTEXT,
        "used": used(page.records),
        "scores_by_metric": scores_by_metric,
        "next_query": filters.query(token=page.next_page_token) if page.next_page_token else "",
        "bulk_error": "",
        "tag_error": "",
        **extra,
    }


def routes(console: Console) -> list[Route]:
    async def record_page(request: Request) -> Response:
        return console.render(request, "record.html", await record_context(console, request, console.api(request)))

    async def review(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        project_id, record_id = request.path_params["project_id"], request.path_params["record_id"]
        context = await record_context(console, request, api)
        name = typed_name(form.get("reviewer"))
        context["reviewer"] = name or context["reviewer"]  # kept if the verdict is refused
        metric = next((m for m in context["human"] if m.metric_id == form.get("metric_id")), None)
        if metric is None:
            return console.render(request, "record.html", {**context, "error": "Choose a human metric."}, 400)
        try:
            value = review_value(metric.output_type, str(form.get("value", "")))
            await api.call(
                api.stubs.runs.SubmitHumanScore,
                rpb.SubmitHumanScoreRequest(
                    record_id=record_id,
                    metric_id=metric.metric_id,
                    value=value,
                    comment=str(form.get("comment", "")),
                    reviewer=name,
                ),
                rpb.SubmitHumanScoreResponse,
            )
        except ValueError as exc:
            return console.render(request, "record.html", {**context, "error": str(exc)}, 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                raise
            return console.render(request, "record.html", {**context, "error": api_message(exc)}, 400)
        reviewed = redirect(f"/projects/{project_id}/records/{record_id}?reviewed={metric.metric_id}")
        return remember(reviewed, name)  # the next record's form starts with this name

    async def records_page(request: Request) -> Response:
        return console.render(request, "records.html", await records_context(console, request, console.api(request)))

    async def export(request: Request) -> Response:
        """The records the page's filters match, every page of them, as a CSV or JSONL download."""
        project_id, fmt = request.path_params["project_id"], request.path_params["format"]
        if fmt not in EXPORTS:
            raise PageNotFound
        api = console.api(request)
        metrics = await api.call(
            api.stubs.catalog.ListMetrics,
            cpb.ListMetricsRequest(project_id=project_id, include_archived=True),
            cpb.ListMetricsResponse,
        )
        fields = RecordFilters.parse(request.query_params, {m.id for m in metrics.metrics}).request_fields()
        fields.pop("page_token")
        chunks = api.stream(
            api.stubs.query.ExportRecords,
            qpb.ExportRecordsRequest(project_id=project_id, format=fmt, **fields),  # type: ignore[arg-type]
        )
        media_type, suffix = EXPORTS[fmt]
        return await download(chunks, media_type, f"records.{suffix}")

    return [
        Route("/projects/{project_id}/records", records_page),
        Route("/projects/{project_id}/records-export.{format}", export),
        Route("/projects/{project_id}/records/{record_id}", record_page, methods=["GET"]),
        Route("/projects/{project_id}/records/{record_id}/review", review, methods=["POST"]),
    ]
