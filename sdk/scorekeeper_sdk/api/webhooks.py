"""Run webhooks (WebhookService): URLs of a project told when its runs finish. Every call needs
an admin key of the project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import webhooks_pb2 as wpb

from scorekeeper_sdk.api.base import Operations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.models import NewWebhook, Webhook, WebhookDelivery

WEBHOOKS = "WebhookService"


class WebhookOperations(Operations):
    async def create_webhook(
        self,
        project_id: str,
        name: str,
        url: str,
        *,
        format: str = "json",
        statuses: Sequence[str] = (),
        sources: Sequence[str] = (),
        tags: Sequence[str] = (),
        below: Mapping[str, float] | None = None,
    ) -> NewWebhook:
        """POST a document to ``url`` whenever a run of the project moves to one of ``statuses``
        (default completed, failed, cancelled), of ``sources`` and carrying one of ``tags`` when
        given; with ``below`` ({metric id: 0.9}), a completed run only when one of those metrics is
        below its threshold. ``format="slack"`` sends ``{"text": …}`` for an incoming webhook. The
        answer's ``secret`` signs every POST (``X-Scorekeeper-Signature``) and is shown only here."""
        request = wpb.CreateWebhookRequest(
            project_id=project_id,
            name=name,
            url=url,
            format=format,
            statuses=list(statuses),
            sources=list(sources),
            tags=list(tags),
            below=_thresholds(below or {}),
        )
        response = await self._unary(WEBHOOKS, "CreateWebhook", request, wpb.CreateWebhookResponse, creates=True)
        return from_proto(NewWebhook, response)

    async def list_webhooks(self, project_id: str) -> list[Webhook]:
        """The project's webhooks, newest first, each with its latest delivery."""
        request = wpb.ListWebhooksRequest(project_id=project_id)
        response = await self._unary(WEBHOOKS, "ListWebhooks", request, wpb.ListWebhooksResponse)
        return [from_proto(Webhook, w) for w in response.webhooks]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        name: str | None = None,
        url: str | None = None,
        format: str | None = None,
        statuses: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        paused: bool | None = None,
        rotate_secret: bool = False,
        below: Mapping[str, float] | None = None,
    ) -> NewWebhook:
        """Change what is given (None: unchanged; ``statuses=[]`` means completed, failed and
        cancelled, ``sources=[]`` / ``tags=[]`` every run); ``paused=True``: told of no run until
        resumed; ``rotate_secret``: a new signing secret, in ``.secret`` of the answer only (else "");
        ``below``: its thresholds replaced ({} : told of every run again)."""
        request = wpb.UpdateWebhookRequest(webhook_id=webhook_id, rotate_secret=rotate_secret)
        for field, value in (("name", name), ("url", url), ("format", format), ("paused", paused)):
            if value is not None:
                setattr(request, field, value)
        for field, values in (("statuses", statuses), ("sources", sources), ("tags", tags)):
            if values is not None:
                getattr(request, field).CopyFrom(wpb.Strings(values=list(values)))
        if below is not None:
            request.below.CopyFrom(wpb.Thresholds(values=_thresholds(below)))
        response = await self._unary(WEBHOOKS, "UpdateWebhook", request, wpb.UpdateWebhookResponse)
        return from_proto(NewWebhook, response)

    async def delete_webhook(self, webhook_id: str) -> Webhook:
        request = wpb.DeleteWebhookRequest(webhook_id=webhook_id)
        return from_proto(Webhook, await self._unary(WEBHOOKS, "DeleteWebhook", request, wpb.Webhook))

    async def test_webhook(self, webhook_id: str) -> WebhookDelivery:
        """Send a ``webhook.test`` document now; list the deliveries to see what the URL answered."""
        request = wpb.TestWebhookRequest(webhook_id=webhook_id)
        return from_proto(WebhookDelivery, await self._unary(WEBHOOKS, "TestWebhook", request, wpb.WebhookDelivery))

    async def list_webhook_deliveries(self, webhook_id: str, *, page_size: int = 50) -> AsyncIterator[WebhookDelivery]:
        """The webhook's deliveries, newest first."""
        request = wpb.ListWebhookDeliveriesRequest(webhook_id=webhook_id, page_size=page_size)
        async for found in self._pages(
            WEBHOOKS, "ListWebhookDeliveries", request, wpb.ListWebhookDeliveriesResponse, lambda p: p.deliveries
        ):
            yield from_proto(WebhookDelivery, found)


def _thresholds(below: Mapping[str, float]) -> list[mpb.AlertThreshold]:
    return [mpb.AlertThreshold(metric_id=m, below=b) for m, b in below.items()]
