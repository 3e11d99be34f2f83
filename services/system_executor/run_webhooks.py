"""Run webhooks delivered: a periodic task of every executor replica (the service that calls out).

The orchestrator adds a row to ``webhook_deliveries``, with the document to send, in the
transaction that moves a run to a status a webhook asks for (and for WebhookService.TestWebhook).
A replica claims due rows of webhooks not paused (``FOR UPDATE SKIP LOCKED``, the claim a lease
of ``claim_ttl_s``), POSTs each through the checked outbound client, signed with the webhook's
secret, and records the outcome; a failed POST is tried again with backoff
(services/system_executor/posts.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import asyncpg
import httpx

from services.system_executor.posts import (
    HORIZON,
    DeliverySettings,
    Outcome,
    body_of,
    deliver_forever,
    given_up,
    next_step,
    post,
    signature,
)

log = logging.getLogger(__name__)


class RunWebhookRepository:
    """webhook_deliveries' delivery columns (written by the executor)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, ttl: timedelta, limit: int) -> list[asyncpg.Record]:
        """Due deliveries (new, due for another try, or whose claimer's lease lapsed), each claimed
        by this replica alone."""
        return await self._pool.fetch(
            "WITH due AS ("
            "  SELECT d.id FROM webhook_deliveries d JOIN webhooks h ON h.id = d.webhook_id"
            "  WHERE d.status IN ('pending', 'sending', 'retrying') AND d.next_attempt_at <= now()"
            "   AND d.created_at > now() - $3::interval AND (d.status <> 'sending' OR d.claimed_until < now())"
            "   AND h.paused_at IS NULL"
            "  ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED)"
            " UPDATE webhook_deliveries d SET status = 'sending', attempts = d.attempts + 1,"
            "  claimed_until = now() + $1::interval, next_attempt_at = now() + $1::interval, updated_at = now()"
            " FROM due, webhooks h WHERE d.id = due.id AND h.id = d.webhook_id"
            " RETURNING d.id, d.event, d.attempts, d.payload, h.url, h.format, h.secret",
            ttl,
            limit,
            HORIZON,
        )

    async def expire(self) -> int:
        """Deliveries still to be made after ``HORIZON`` (their webhook paused all along, or no
        executor running) given up: failed, saying why, instead of pending for ever."""
        done: str = await self._pool.execute(
            "UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL, updated_at = now(), error = $2"
            " WHERE status IN ('pending', 'sending', 'retrying') AND created_at <= now() - $1::interval"
            " AND (status <> 'sending' OR claimed_until < now())",
            HORIZON,
            given_up("its webhook was paused, or no executor ran"),
        )
        return int(done.split()[-1])

    async def settle(self, delivery_id: uuid.UUID, status: str, outcome: Outcome, retry_in: timedelta | None) -> None:
        await self._pool.execute(
            "UPDATE webhook_deliveries SET status = $2, response_status = $3, error = $4, claimed_until = NULL,"
            " next_attempt_at = now() + $5::interval, updated_at = now(),"
            " delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE id = $1",
            delivery_id,
            status,
            outcome.status,
            outcome.error[:2000],
            retry_in or timedelta(0),
        )


class RunWebhookDeliveries:
    def __init__(self, repo: RunWebhookRepository, client: httpx.AsyncClient, settings: DeliverySettings) -> None:
        self._repo = repo
        self._client = client
        self._settings = settings

    async def run(self) -> None:
        await deliver_forever("run webhooks", self.tick, self._settings)

    async def tick(self) -> int:
        """Deliver what is due, one after another in the order they came due (a receiver sees a
        webhook's runs in order); returns how many were delivered. A tick claims no more than it
        can POST within its claims' lease, each POST bounded by ``timeout_s``."""
        ttl = self._settings.claim_ttl_s
        batch = max(1, int(ttl // self._settings.timeout_s) - 1)
        delivered = 0
        if await self._repo.expire():
            log.warning("run webhook deliveries given up after %s days", HORIZON.days)
        for row in await self._repo.claim(timedelta(seconds=ttl), batch):
            delivered += await self._deliver(row)
        return delivered

    async def _deliver(self, row: asyncpg.Record) -> bool:
        body = body_of(row["payload"], row["format"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "scorekeeper-webhooks",
            "X-Scorekeeper-Delivery": str(row["id"]),
            "X-Scorekeeper-Event": row["event"],
            "X-Scorekeeper-Signature": signature(row["secret"], body),
        }
        outcome = await post(self._client, row["url"], body, headers, self._settings.timeout_s)
        status, wait = next_step("run_webhook", outcome, row["attempts"], self._settings)
        await self._repo.settle(row["id"], status, outcome, wait)
        if status == "failed":
            log.warning("run webhook not delivered", extra={"delivery_id": str(row["id"]), "error": outcome.error})
        return outcome.delivered
