"""WebhookService (proto/scorekeeper/v1/webhooks.proto): proto ⇄ domain, then the use case. The
guard has already checked the caller's role and that the ids named are of the caller's project."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import webhooks_pb2 as pb

from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.runs.results import Threshold
from services.run_orchestrator.testsets.messages import page_size
from services.run_orchestrator.webhooks import rules
from services.run_orchestrator.webhooks.repository import WebhookRepository
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid, timestamp
from shared.edge.errors import not_found
from shared.edge.validation import checked
from shared.scoring.metric import check_threshold


def delivery_pb(row: Any, prefix: str = "") -> pb.WebhookDelivery:
    """A delivery from its row (``prefix``: the columns' prefix in a webhook row's join)."""

    def col(name: str) -> Any:
        return row[prefix + name]

    return pb.WebhookDelivery(
        id=str(col("id")),
        webhook_id=str(row["webhook_id"] if not prefix else row["id"]),
        event=col("event"),
        run_id=str(col("run_id") or ""),
        run_status=col("run_status"),
        status=col("status"),
        attempts=col("attempts"),
        response_status=col("response_status") or 0,
        error=col("error"),
        created_at=timestamp(col("created_at")),
        delivered_at=timestamp(col("delivered_at")),
        next_attempt_at=timestamp(col("next_attempt_at")) if col("status") == "retrying" else "",
    )


def webhook_pb(row: asyncpg.Record) -> pb.Webhook:
    webhook = pb.Webhook(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        url=row["url"],
        format=row["format"],
        statuses=row["statuses"],
        sources=row["sources"],
        tags=row["tags"],
        created_at=timestamp(row["created_at"]),
        paused_at=timestamp(row["paused_at"]),
        below=[mpb.AlertThreshold(metric_id=t["metric_id"], below=t["below"]) for t in row["below"]],
    )
    if row["d_id"] is not None:
        webhook.last_delivery.CopyFrom(delivery_pb(row, "d_"))
    return webhook


class WebhookApi:
    def __init__(
        self, catalog_api: CatalogApi, catalog: CatalogRepository, webhooks: WebhookRepository, console_url: str
    ) -> None:
        self._project = catalog_api.project
        self._catalog = catalog
        self._webhooks = webhooks
        self._console_url = console_url

    async def _below(self, project_id: uuid.UUID, given: Iterable[mpb.AlertThreshold]) -> tuple[Threshold, ...]:
        """The thresholds asked for: each of a metric of the project (NOT_FOUND otherwise, worded as
        for an id that does not exist), within the range of its values."""
        below = tuple(Threshold(parse_uuid(t.metric_id, f"below[{i}].metric_id"), t.below) for i, t in enumerate(given))
        found = {
            v["metric_id"]: v
            for v in await self._catalog.latest_metric_versions(project_id, [t.metric_id for t in below])
        }
        for i, t in enumerate(below):
            version = found.get(t.metric_id)
            if version is None:
                raise not_found(f"below[{i}].metric_id: metric {t.metric_id} does not exist in project {project_id}")
            checked(check_threshold, f"below[{i}]", t.below, version["name"], version["output_type"])
        return below

    async def create_webhook(self, request: pb.CreateWebhookRequest) -> pb.CreateWebhookResponse:
        project_id = await self._project(request.project_id)
        definition = checked(
            rules.definition,
            request.name,
            request.url,
            request.format,
            list(request.statuses),
            list(request.sources),
            list(request.tags),
            await self._below(project_id, request.below),
        )
        row, secret = await self._webhooks.create(project_id, definition)
        return pb.CreateWebhookResponse(webhook=webhook_pb(row), secret=secret)

    async def list_webhooks(self, request: pb.ListWebhooksRequest) -> pb.ListWebhooksResponse:
        project_id = await self._project(request.project_id)
        return pb.ListWebhooksResponse(webhooks=[webhook_pb(r) for r in await self._webhooks.of_project(project_id)])

    async def update_webhook(self, request: pb.UpdateWebhookRequest) -> pb.UpdateWebhookResponse:
        webhook = await self._webhook(request.webhook_id)

        def listed(field: str) -> list[str]:
            return list(getattr(request, field).values if request.HasField(field) else webhook[field])

        definition = checked(
            rules.definition,
            request.name if request.HasField("name") else webhook["name"],
            request.url if request.HasField("url") else webhook["url"],
            request.format if request.HasField("format") else webhook["format"],
            listed("statuses"),
            listed("sources"),
            listed("tags"),
            await self._below(webhook["project_id"], request.below.values)
            if request.HasField("below")
            else tuple(rules.thresholds(webhook)),
        )
        paused = request.paused if request.HasField("paused") else webhook["paused_at"] is not None
        row, secret = await self._webhooks.update(webhook["id"], definition, paused, request.rotate_secret)
        if row is None:
            raise not_found(f"webhook {request.webhook_id} does not exist")
        return pb.UpdateWebhookResponse(webhook=webhook_pb(row), secret=secret)

    async def delete_webhook(self, request: pb.DeleteWebhookRequest) -> pb.Webhook:
        row = await self._webhooks.delete(parse_uuid(request.webhook_id, "webhook_id"))
        if row is None:
            raise not_found(f"webhook {request.webhook_id} does not exist")
        return webhook_pb(row)

    async def test_webhook(self, request: pb.TestWebhookRequest) -> pb.WebhookDelivery:
        webhook = await self._webhook(request.webhook_id)
        return delivery_pb(await self._webhooks.add_test(webhook, self._console_url))

    async def list_webhook_deliveries(
        self, request: pb.ListWebhookDeliveriesRequest
    ) -> pb.ListWebhookDeliveriesResponse:
        webhook = await self._webhook(request.webhook_id)
        limit = page_size(request.page_size, 20, 100)
        rows = await self._webhooks.deliveries(webhook["id"], page_tokens.newest_first_after(request), limit + 1)
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_pb(r) for r in rows[:limit]],
            next_page_token=page_tokens.newest_first_token(rows, limit, request),
        )

    async def _webhook(self, webhook_id: str) -> asyncpg.Record:
        row = await self._webhooks.get(parse_uuid(webhook_id, "webhook_id"))
        if row is None:
            raise not_found(f"webhook {webhook_id} does not exist")
        return row
