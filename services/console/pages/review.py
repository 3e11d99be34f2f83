"""The Review pages: each human metric's queue with its progress, and reviewing one item at a time
(submit, skip, back) under a lease the page renews while it is open.

The reviewer's name is kept in a cookie (``sk_reviewer``) and sent with every call; each item has
its own address, so a reload, back and forward show the item again (opening it renews its lease).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import review_pb2 as rvpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.pages.home import safe_next
from services.console.pages.records import review_value
from services.console.pages.run import run_of_project, scores_by_metric
from services.console.reviewer import remember, reviewer, typed_name
from services.console.web import Console, PageNotFound, api_message, redirect

# The page renews its lease this often while it is open (the lease lasts the API's default, 10 min).
RENEW_EVERY_S = 60


def routes(console: Console) -> list[Route]:
    def with_query(path: str, **params: str) -> str:
        given = {k: v for k, v in params.items() if v}
        return path + (f"?{urlencode(given)}" if given else "")

    def queue_url(project_id: str, metric_id: str, run_id: str) -> str:
        return with_query(f"/projects/{project_id}/review/{metric_id}", run=run_id)

    def item_url(project_id: str, metric_id: str, record_id: str, run_id: str, note: str = "") -> str:
        return with_query(f"/projects/{project_id}/review/{metric_id}/records/{record_id}", run=run_id, note=note)

    async def metric_of_project(api: Api, project_id: str, metric_id: str) -> cpb.MetricWithVersions:
        metric = await api.call(
            api.stubs.catalog.GetMetric, cpb.GetMetricRequest(metric_id=metric_id), cpb.MetricWithVersions
        )
        if metric.metric.project_id != project_id:
            raise PageNotFound
        return metric

    def progress(api: Api, project_id: str, metric_id: str = "") -> Awaitable[rvpb.ListReviewQueuesResponse]:
        request = rvpb.ListReviewQueuesRequest(project_id=project_id, metric_id=metric_id)
        return api.call(api.stubs.query.ListReviewQueues, request, rvpb.ListReviewQueuesResponse)

    async def queues(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(request, api, project_id, {"queues": progress(api, project_id)})
        return console.render(request, "review_queues.html", {**data, "reviewer": reviewer(request)})

    async def set_reviewer(request: Request) -> Response:
        form = await console.form(request)
        target = safe_next(str(form.get("next", "")) or f"/projects/{request.path_params['project_id']}/review")
        return remember(redirect(target), typed_name(form.get("reviewer")))

    async def next_item(request: Request) -> Response:
        """The reviewer's next item: its page, or the queue's end."""
        project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
        run_id = request.query_params.get("run", "")
        api = console.api(request)
        name = reviewer(request)
        if not name:
            # Who reviews is asked once; the form comes back here.
            data = await console.project_page(
                request, api, project_id, {"metric": metric_of_project(api, project_id, metric_id)}
            )
            here = queue_url(project_id, metric_id, run_id)
            return console.render(request, "review_name.html", {**data, "metric": data["metric"].metric, "next": here})
        metric = await metric_of_project(api, project_id, metric_id)
        found = await api.call(
            api.stubs.reviews.NextReviewItem,
            rvpb.NextReviewItemRequest(metric_id=metric_id, reviewer=name, run_id=run_id),
            rvpb.ReviewItemResponse,
        )
        if found.HasField("item"):
            return redirect(item_url(project_id, metric_id, found.item.record_id, run_id))
        data = await console.project_page(request, api, project_id, {"queues": progress(api, project_id, metric_id)})
        queue = data["queues"].queues[0] if data["queues"].queues else None
        return console.render(
            request,
            "review_done.html",
            {**data, "metric": metric.metric, "queue": queue, "run_id": run_id, "reviewer": name},
        )

    async def item_context(request: Request, api: Api, item: rvpb.ReviewItemResponse) -> dict[str, Any]:
        project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
        record_id = request.path_params["record_id"]
        record = await api.call(api.stubs.query.GetRecord, qpb.GetRecordRequest(record_id=record_id), qpb.RecordView)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "run": run_of_project(api, project_id, record.run_id),
                "metric": metric_of_project(api, project_id, metric_id),
            },
        )
        current = scores_by_metric(record)
        return {
            **data,
            "metric": data["metric"].metric,
            "record": record,
            "item": item.item,
            "remaining": item.remaining,
            "others": [m for m in data["run"].metrics if m.metric_id != metric_id],
            "current": current,
            "reviewer": reviewer(request),
            "run_id": request.query_params.get("run", ""),
            "renew_every_s": RENEW_EVERY_S,
            "error": "",
            "note": request.query_params.get("note", ""),
        }

    async def open_item(request: Request, api: Api) -> rvpb.ReviewItemResponse:
        return await api.call(
            api.stubs.reviews.OpenReviewItem,
            rvpb.OpenReviewItemRequest(
                record_id=request.path_params["record_id"],
                metric_id=request.path_params["metric_id"],
                reviewer=reviewer(request),
            ),
            rvpb.ReviewItemResponse,
        )

    async def item_page(request: Request) -> Response:
        if not reviewer(request):
            project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
            return redirect(queue_url(project_id, metric_id, request.query_params.get("run", "")))
        api = console.api(request)
        context = await item_context(request, api, await open_item(request, api))
        return console.render(request, "review_item.html", context)

    async def renew(request: Request) -> Response:
        """The page's lease, renewed while it stays open (htmx, every minute)."""
        await console.form(request)
        api = console.api(request)
        item = await open_item(request, api)
        return console.render(request, "_review_lease.html", {"item": item.item, "reviewer": reviewer(request)})

    async def act(request: Request) -> Response:
        """Submit, skip or back, by the button pressed."""
        project_id, metric_id = request.path_params["project_id"], request.path_params["metric_id"]
        record_id = request.path_params["record_id"]
        form = await console.form(request)
        api = console.api(request)
        run_id = str(form.get("run", ""))
        name = reviewer(request)
        action = str(form.get("action", "submit"))
        if action == "back":
            found = await api.call(
                api.stubs.reviews.PreviousReviewItem,
                rvpb.PreviousReviewItemRequest(metric_id=metric_id, reviewer=name, record_id=record_id, run_id=run_id),
                rvpb.ReviewItemResponse,
            )
            if not found.HasField("item"):
                return redirect(item_url(project_id, metric_id, record_id, run_id, note="first"))
            return redirect(item_url(project_id, metric_id, found.item.record_id, run_id))
        try:
            if action == "skip":
                await api.call(
                    api.stubs.reviews.SkipReviewItem,
                    rvpb.SkipReviewItemRequest(record_id=record_id, metric_id=metric_id, reviewer=name),
                    rvpb.SkipReviewItemResponse,
                )
            else:
                metric = await metric_of_project(api, project_id, metric_id)
                await api.call(
                    api.stubs.reviews.SubmitReview,
                    rvpb.SubmitReviewRequest(
                        record_id=record_id,
                        metric_id=metric_id,
                        reviewer=name,
                        value=review_value(metric.metric.output_type, str(form.get("value", ""))),
                        comment=str(form.get("comment", "")),
                    ),
                    rvpb.SubmitReviewResponse,
                )
        except (ValueError, grpc.aio.AioRpcError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() not in (
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.FAILED_PRECONDITION,
            ):
                raise
            context = await item_context(request, api, await open_item(request, api))
            message = api_message(exc) if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            return console.render(request, "review_item.html", {**context, "error": message}, 400)
        return redirect(queue_url(project_id, metric_id, run_id))

    base = "/projects/{project_id}/review"
    return [
        Route(base, queues),
        Route(f"{base}/reviewer", set_reviewer, methods=["POST"]),
        Route(base + "/{metric_id}", next_item),
        Route(base + "/{metric_id}/records/{record_id}", item_page, methods=["GET"]),
        Route(base + "/{metric_id}/records/{record_id}", act, methods=["POST"]),
        Route(base + "/{metric_id}/records/{record_id}/renew", renew, methods=["POST"]),
    ]
