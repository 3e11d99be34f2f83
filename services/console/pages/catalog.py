"""Metrics: the list and the groups, a metric with its versions, create, edit into a new version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console import metric_versions
from services.console.backend import Api
from services.console.metric_form import (
    AI_TEMPLATES,
    EVAL_TYPES,
    OUTPUT_TYPES,
    MetricFormError,
    create_request,
    form_values,
    posted_values,
    update_request,
)
from services.console.web import INPUT_ERRORS, Console, PageNotFound, api_message, redirect

# The runs a metric's page lists: the most recent scored with it.
RECENT_RUNS = 10


async def metric_of_project(api: Api, project_id: str, metric_id: str) -> cpb.MetricWithVersions:
    metric = await api.call(
        api.stubs.catalog.GetMetric, cpb.GetMetricRequest(metric_id=metric_id), cpb.MetricWithVersions
    )
    if metric.metric.project_id != project_id:
        raise PageNotFound
    return metric


def routes(console: Console) -> list[Route]:
    choices = {"eval_types": EVAL_TYPES, "output_types": OUTPUT_TYPES, "ai_templates": AI_TEMPLATES}

    async def metrics_page(
        request: Request, group_values: dict[str, Any] | None = None, error: str = "", status_code: int = 200
    ) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "all_metrics": api.call(
                    api.stubs.catalog.ListMetrics,
                    cpb.ListMetricsRequest(project_id=project_id, include_archived=True),
                    cpb.ListMetricsResponse,
                ),
                "groups": api.call(
                    api.stubs.catalog.ListMetricGroups,
                    cpb.ListMetricGroupsRequest(project_id=project_id),
                    cpb.ListMetricGroupsResponse,
                ),
            },
        )
        every = list(data.pop("all_metrics").metrics)
        archived = request.query_params.get("archived") == "1"
        context = {
            **data,
            "archived": archived,
            # the table: the metrics in use, or (?archived=1) the archived ones; groups and the
            # group form still know every metric, each group's archived ones marked
            "listed": [m for m in every if bool(m.archived_at) == archived],
            "active": [m for m in every if not m.archived_at],
            "archived_count": sum(1 for m in every if m.archived_at),
            "by_id": {m.id: m for m in every},
            "group_values": group_values or {},
            "error": error,
        }
        return console.render(request, "metrics.html", context, status_code=status_code)

    async def create_group(request: Request) -> Response:
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        name, metric_ids = str(form.get("name", "")), [str(v) for v in form.getlist("metric_id")]
        values = {"name": name, "metric_ids": metric_ids}
        if not metric_ids:
            return await metrics_page(request, values, "Choose the group's metrics.", 400)
        try:
            await api.call(
                api.stubs.catalog.CreateMetricGroup,
                cpb.CreateMetricGroupRequest(project_id=project_id, name=name, metric_ids=metric_ids),
                cpb.MetricGroup,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await metrics_page(request, values, api_message(exc), 400)
        return redirect(f"/projects/{project_id}/metrics?group=saved#metric-groups")

    async def form_page(
        request: Request,
        api: Api,
        values: dict[str, Any] | None,
        error: str = "",
        status_code: int = 200,
    ) -> Response:
        """The metric form; ``values`` None shows the metric at the version the address asks for
        (the latest by default) with what changed from the version before it."""
        project_id = request.path_params["project_id"]
        metric_id = request.path_params.get("metric_id")
        loads = {"metric": metric_of_project(api, project_id, metric_id)} if metric_id else {}
        data = await console.project_page(request, api, project_id, loads)
        history = None
        if metric_id:  # the runs scored with it lately, and with which version (once it is known to be ours)
            history = await api.call(
                api.stubs.query.GetRunHistory,
                qpb.GetRunHistoryRequest(project_id=project_id, metrics=[metric_id], limit=RECENT_RUNS),
                qpb.GetRunHistoryResponse,
            )
        metric: cpb.MetricWithVersions | None = data.get("metric")
        shown = previous = None
        if metric is not None:
            by_number = {v.version: v for v in metric.versions}
            asked = request.query_params.get("version", "")
            shown = by_number.get(int(asked)) if asked.isdigit() else metric.metric
            if shown is None:
                raise PageNotFound
            previous = by_number.get(shown.version - 1)
        context = {
            **data,
            **choices,
            "values": form_values(shown) if values is None else values,
            "error": error,
            "metric": metric,
            "shown": shown,
            "previous": previous,
            "changes": metric_versions.changes(previous, shown) if shown and previous else [],
            "old_version": shown is not None and metric is not None and shown.version != metric.metric.version,
            "version_numbers": {v.version_id: v.version for v in metric.versions} if metric else {},
            "recent_runs": list(reversed(history.series[0].points)) if history else [],
        }
        return console.render(request, "metric.html", context, status_code=status_code)

    async def new_metric(request: Request) -> Response:
        return await form_page(request, console.api(request), form_values(None))

    async def create_metric(request: Request) -> Response:
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        try:
            metric = await api.call(api.stubs.catalog.CreateMetric, create_request(project_id, form), cpb.Metric)
        except MetricFormError as exc:
            return await form_page(request, api, posted_values(form), str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await form_page(request, api, posted_values(form), api_message(exc), 400)
        return redirect(f"/projects/{project_id}/metrics/{metric.id}")

    async def metric_page(request: Request) -> Response:
        return await form_page(request, console.api(request), None)

    async def restore(request: Request) -> Response:
        """An earlier version's definition saved again, as the newest version."""
        form = await console.form(request)
        api = console.api(request)
        project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
        current = await metric_of_project(api, project_id, metric_id)
        wanted = str(form.get("version", ""))
        old = next((v for v in current.versions if str(v.version) == wanted), None)
        if old is None:
            raise PageNotFound
        values = FormData({k: v for k, v in form_values(old).items() if isinstance(v, str)})
        saved = await api.call(api.stubs.catalog.UpdateMetric, update_request(current.metric, values), cpb.Metric)
        outcome = f"restored&from={old.version}" if saved.version != current.metric.version else "unchanged"
        return redirect(f"/projects/{project_id}/metrics/{metric_id}?saved={outcome}")

    async def update_metric(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
        current = await metric_of_project(api, project_id, metric_id)
        try:
            saved = await api.call(api.stubs.catalog.UpdateMetric, update_request(current.metric, form), cpb.Metric)
        except MetricFormError as exc:
            return await form_page(request, api, posted_values(form), str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await form_page(request, api, posted_values(form), api_message(exc), 400)
        outcome = "version" if saved.version != current.metric.version else "unchanged"
        return redirect(f"/projects/{project_id}/metrics/{metric_id}?saved={outcome}")

    def archiving(rpc: str) -> Callable[[Request], Awaitable[Response]]:
        """ArchiveMetric or UnarchiveMetric from the metric page's button, back to the metric page."""

        async def act(request: Request) -> Response:
            project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
            await console.form(request)
            api = console.api(request)
            await metric_of_project(api, project_id, metric_id)
            message = getattr(cpb, f"{rpc}Request")(metric_id=metric_id)
            await api.call(getattr(api.stubs.catalog, rpc), message, cpb.Metric)
            return redirect(f"/projects/{project_id}/metrics/{metric_id}")

        return act

    base = "/projects/{project_id}"
    return [
        Route(f"{base}/metrics", metrics_page, methods=["GET"]),
        Route(f"{base}/metric-groups", create_group, methods=["POST"]),
        Route(f"{base}/metrics", create_metric, methods=["POST"]),
        Route(f"{base}/metrics/new", new_metric, methods=["GET"]),
        Route(base + "/metrics/{metric_id}", metric_page, methods=["GET"]),
        Route(base + "/metrics/{metric_id}", update_metric, methods=["POST"]),
        Route(base + "/metrics/{metric_id}/restore", restore, methods=["POST"]),
        Route(base + "/metrics/{metric_id}/archive", archiving("ArchiveMetric"), methods=["POST"]),
        Route(base + "/metrics/{metric_id}/unarchive", archiving("UnarchiveMetric"), methods=["POST"]),
    ]
