"""A project's run webhooks (admin role): list them with their latest delivery, create one (its
signing secret shown once), and a webhook's page: its deliveries, a test POST, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import webhooks_pb2 as wpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.web import CHOICE_ERRORS, Console, PageNotFound, api_message, redirect
from shared.run_status import SOURCES

STATUSES = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "awaiting_human_scoring": "waiting for people's scores",
}
# What the new webhook form starts with: finished runs from the API, the console, CI and schedules.
DEFAULTS = {
    "statuses": ["completed", "failed", "cancelled"],
    "sources": ["api", "kickoff", "ci", "schedule"],
    "format": "json",
}


def form_values(form: FormData) -> dict[str, Any]:
    """A webhook's settings as the form posted them (and shows them again when refused)."""
    return {
        "name": str(form.get("name", "")),
        "url": str(form.get("url", "")),
        "format": str(form.get("format", "json")),
        "statuses": [str(s) for s in form.getlist("statuses")],
        "sources": [str(s) for s in form.getlist("sources")],
        "tags": str(form.get("tags", "")),
        "below": str(form.get("below", "")),
    }


def split_tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_below(text: str, metrics: list[cpb.Metric]) -> list[mpb.AlertThreshold]:
    """Thresholds by metric name, as in exact=90%, quality=3.5 (a percentage or a fraction for a pass
    rate, a number for a mean); ValueError saying what is wrong."""
    by_name = {m.name: m for m in metrics}
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        metric = by_name.get(name.strip())
        if not sep or metric is None:
            known = ", ".join(sorted(by_name)) or "none yet"
            raise ValueError(
                f"Only when below: give METRIC=THRESHOLD for metrics of the project ({known}), got {part!r}"
            )
        try:
            below = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            raise ValueError(f"Only when below: {value.strip()!r} is not a number (for {metric.name!r})") from None
        found.append(mpb.AlertThreshold(metric_id=metric.id, below=below))
    return found


def said_below(webhook: wpb.Webhook, metrics: list[cpb.Metric]) -> str:
    """A webhook's thresholds as the form takes them: "exact=90%, quality=3.5"."""
    by_id = {m.id: m for m in metrics}
    parts = []
    for t in webhook.below:
        metric = by_id.get(t.metric_id)
        name = metric.name if metric is not None else t.metric_id
        shown = f"{t.below * 100:g}%" if metric is not None and metric.output_type == "boolean" else f"{t.below:g}"
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def routes(console: Console) -> list[Route]:
    async def webhooks_of(api: Api, project_id: str) -> wpb.ListWebhooksResponse:
        return await api.call(
            api.stubs.webhooks.ListWebhooks, wpb.ListWebhooksRequest(project_id=project_id), wpb.ListWebhooksResponse
        )

    async def metrics_of(api: Api, project_id: str) -> list[cpb.Metric]:
        listed = await api.call(
            api.stubs.catalog.ListMetrics, cpb.ListMetricsRequest(project_id=project_id), cpb.ListMetricsResponse
        )
        return list(listed.metrics)

    async def list_page(request: Request, api: Api, extra: dict[str, Any], status_code: int = 200) -> Response:
        project_id = request.path_params["project_id"]
        loads = {"webhooks": webhooks_of(api, project_id), "metrics": metrics_of(api, project_id)}
        data = await console.project_page(request, api, project_id, loads)
        context = {
            **data,
            "statuses": STATUSES,
            "sources": SOURCES,
            "values": DEFAULTS,
            "error": "",
            "deleted": request.query_params.get("deleted", ""),
            **extra,
        }
        return console.render(request, "webhooks.html", context, status_code=status_code)

    async def list_webhooks(request: Request) -> Response:
        return await list_page(request, console.api(request), {})

    async def create_webhook(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        values = form_values(form)
        project_id = request.path_params["project_id"]
        try:
            below = parse_below(values["below"], await metrics_of(api, project_id))
        except ValueError as exc:
            return await list_page(request, api, {"values": values, "error": str(exc)}, 400)
        try:
            created = await api.call(
                api.stubs.webhooks.CreateWebhook,
                wpb.CreateWebhookRequest(
                    project_id=project_id,
                    name=values["name"],
                    url=values["url"],
                    format=values["format"],
                    statuses=values["statuses"],
                    sources=values["sources"],
                    tags=split_tags(values["tags"]),
                    below=below,
                ),
                wpb.CreateWebhookResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return await list_page(request, api, {"values": values, "error": api_message(exc)}, 400)
        # The secret is in this answer only: never in an address, a cookie, a log or a cache.
        response = await list_page(request, api, {"created": created})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def project_webhook(api: Api, request: Request) -> wpb.Webhook:
        """The webhook of the address, which must be of the address's project."""
        project_id, webhook_id = request.path_params["project_id"], request.path_params["webhook_id"]
        found = {w.id: w for w in (await webhooks_of(api, project_id)).webhooks}
        if webhook_id not in found:
            raise PageNotFound  # another project's webhook (or none) under this project's address
        return found[webhook_id]

    async def webhook_page(request: Request, extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
        api = console.api(request)
        project_id = request.path_params["project_id"]
        webhook = await project_webhook(api, request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "deliveries": api.call(
                    api.stubs.webhooks.ListWebhookDeliveries,
                    wpb.ListWebhookDeliveriesRequest(
                        webhook_id=webhook.id, page_size=50, page_token=request.query_params.get("page", "")
                    ),
                    wpb.ListWebhookDeliveriesResponse,
                ),
                "metrics": metrics_of(api, project_id),
            },
        )
        values = {
            "name": webhook.name,
            "url": webhook.url,
            "format": webhook.format,
            "statuses": list(webhook.statuses),
            "sources": list(webhook.sources),
            "tags": ", ".join(webhook.tags),
            "below": said_below(webhook, data["metrics"]),
        }
        context = {
            **data,
            "webhook": webhook,
            "statuses": STATUSES,
            "sources": SOURCES,
            "values": values,
            "error": "",
            "tested": request.query_params.get("tested", ""),
            "saved": request.query_params.get("saved", ""),
            **(extra or {}),
        }
        return console.render(request, "webhook.html", context, status_code=status_code)

    async def show_webhook(request: Request) -> Response:
        return await webhook_page(request)

    async def edit_webhook(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        webhook = await project_webhook(api, request)
        values = form_values(form)
        try:
            below = parse_below(values["below"], await metrics_of(api, webhook.project_id))
        except ValueError as exc:
            return await webhook_page(request, {"values": values, "error": str(exc)}, 400)
        try:
            await api.call(
                api.stubs.webhooks.UpdateWebhook,
                wpb.UpdateWebhookRequest(
                    webhook_id=webhook.id,
                    name=values["name"],
                    url=values["url"],
                    format=values["format"],
                    statuses=wpb.Strings(values=values["statuses"]),
                    sources=wpb.Strings(values=values["sources"]),
                    tags=wpb.Strings(values=split_tags(values["tags"])),
                    below=wpb.Thresholds(values=below),
                ),
                wpb.UpdateWebhookResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return await webhook_page(request, {"values": values, "error": api_message(exc)}, 400)
        return redirect(f"/projects/{webhook.project_id}/webhooks/{webhook.id}?saved=settings", request)

    async def pause_webhook(request: Request) -> Response:
        """Pause an active webhook, resume a paused one."""
        await console.form(request)
        api = console.api(request)
        webhook = await project_webhook(api, request)
        pausing = not webhook.paused_at
        request_ = wpb.UpdateWebhookRequest(webhook_id=webhook.id, paused=pausing)
        await api.call(api.stubs.webhooks.UpdateWebhook, request_, wpb.UpdateWebhookResponse)
        done = "paused" if pausing else "resumed"
        return redirect(f"/projects/{webhook.project_id}/webhooks/{webhook.id}?saved={done}", request)

    async def rotate_secret(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        webhook = await project_webhook(api, request)
        rotated = await api.call(
            api.stubs.webhooks.UpdateWebhook,
            wpb.UpdateWebhookRequest(webhook_id=webhook.id, rotate_secret=True),
            wpb.UpdateWebhookResponse,
        )
        # The secret is in this answer only: never in an address, a cookie, a log or a cache.
        response = await webhook_page(request, {"rotated": rotated.secret})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def test_webhook(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        webhook = await project_webhook(api, request)
        sent = await api.call(
            api.stubs.webhooks.TestWebhook, wpb.TestWebhookRequest(webhook_id=webhook.id), wpb.WebhookDelivery
        )
        return redirect(f"/projects/{webhook.project_id}/webhooks/{webhook.id}?tested={sent.id}", request)

    async def delete_webhook(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        webhook = await project_webhook(api, request)
        await api.call(api.stubs.webhooks.DeleteWebhook, wpb.DeleteWebhookRequest(webhook_id=webhook.id), wpb.Webhook)
        return redirect(f"/projects/{webhook.project_id}/webhooks?{urlencode({'deleted': webhook.name})}", request)

    base = "/projects/{project_id}/webhooks"
    return [
        Route(base, list_webhooks, methods=["GET"]),
        Route(base, create_webhook, methods=["POST"]),
        Route(base + "/{webhook_id}", show_webhook, methods=["GET"]),
        Route(base + "/{webhook_id}/edit", edit_webhook, methods=["POST"]),
        Route(base + "/{webhook_id}/pause", pause_webhook, methods=["POST"]),
        Route(base + "/{webhook_id}/rotate", rotate_secret, methods=["POST"]),
        Route(base + "/{webhook_id}/test", test_webhook, methods=["POST"]),
        Route(base + "/{webhook_id}/delete", delete_webhook, methods=["POST"]),
    ]
