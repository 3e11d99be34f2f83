"""webhooks and webhook_deliveries (the orchestrator's side: the webhooks, and deliveries added)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.run_orchestrator.runs.results import metric_results
from services.run_orchestrator.webhooks import rules
from shared.db.pool import Connection
from shared.db.previous_run import PREVIOUS_RUN_ID, previous_run_joins
from shared.json_limits import json_text

# A webhook with its newest delivery.
_WEBHOOKS = (
    "SELECT h.*, d.id AS d_id, d.event AS d_event, d.run_id AS d_run_id, d.run_status AS d_run_status,"
    " d.status AS d_status, d.attempts AS d_attempts, d.response_status AS d_response_status, d.error AS d_error,"
    " d.created_at AS d_created_at, d.delivered_at AS d_delivered_at, d.next_attempt_at AS d_next_attempt_at"
    " FROM webhooks h LEFT JOIN LATERAL (SELECT * FROM webhook_deliveries WHERE webhook_id = h.id"
    "  ORDER BY created_at DESC, id DESC LIMIT 1) d ON true"
)


def _below(d: rules.WebhookDefinition) -> list[dict[str, Any]]:
    return [{"metric_id": str(t.metric_id), "below": t.below} for t in d.below]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, project_id: uuid.UUID, d: rules.WebhookDefinition) -> tuple[asyncpg.Record, str]:
        secret = new_secret()
        row = await self._pool.fetchrow(
            "WITH made AS (INSERT INTO webhooks (id, project_id, name, url, format, statuses, sources, tags, secret,"
            " below) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *)"
            " SELECT made.*, NULL::uuid AS d_id FROM made",
            uuid.uuid4(),
            project_id,
            d.name,
            d.url,
            d.format,
            d.statuses,
            d.sources,
            d.tags,
            secret,
            _below(d),
        )
        assert row is not None
        return row, secret

    async def get(self, webhook_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(_WEBHOOKS + " WHERE h.id = $1", webhook_id)

    async def of_project(self, project_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            _WEBHOOKS + " WHERE h.project_id = $1 ORDER BY h.created_at DESC, h.id DESC", project_id
        )

    async def update(
        self, webhook_id: uuid.UUID, d: rules.WebhookDefinition, paused: bool, rotate: bool
    ) -> tuple[asyncpg.Record | None, str]:
        """The webhook with ``d``'s settings (the pause kept as it was when it does not change),
        and its new secret when ``rotate``."""
        secret = new_secret() if rotate else ""
        async with self._pool.acquire() as conn, conn.transaction():
            changed = await conn.execute(
                "UPDATE webhooks SET name = $2, url = $3, format = $4, statuses = $5, sources = $6, tags = $7,"
                " paused_at = CASE WHEN NOT $8 THEN NULL ELSE coalesce(paused_at, now()) END,"
                " secret = CASE WHEN $9 <> '' THEN $9 ELSE secret END, below = $10 WHERE id = $1",
                webhook_id,
                d.name,
                d.url,
                d.format,
                d.statuses,
                d.sources,
                d.tags,
                paused,
                secret,
                _below(d),
            )
            row = await conn.fetchrow(_WEBHOOKS + " WHERE h.id = $1", webhook_id) if changed.endswith(" 1") else None
        return row, secret

    async def delete(self, webhook_id: uuid.UUID) -> asyncpg.Record | None:
        """The webhook as it was; its deliveries go with it (a POST under way still ends)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_WEBHOOKS + " WHERE h.id = $1", webhook_id)
            if row is not None:
                await conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
            return row

    async def add_test(self, webhook: asyncpg.Record, console_url: str) -> asyncpg.Record:
        delivery_id = uuid.uuid4()
        document = rules.test_document(webhook["id"], webhook["project_id"], webhook["name"], console_url)
        row = await self._pool.fetchrow(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, payload) VALUES ($1, $2, 'webhook.test', $3)"
            " RETURNING *",
            delivery_id,
            webhook["id"],
            {**document, "delivery_id": str(delivery_id), "webhook_id": str(webhook["id"])},
        )
        assert row is not None
        return row

    async def deliveries(
        self, webhook_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """Newest first; ``after`` is the (created_at, id) of the previous page's last delivery."""
        return await self._pool.fetch(
            "SELECT * FROM webhook_deliveries WHERE webhook_id = $1"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            webhook_id,
            limit,
            after[0] if after else None,
            after[1] if after else None,
        )


class RunWebhooks:
    """The outbox: deliveries added in the transaction that moves a run to a status webhooks ask for."""

    def __init__(self, console_url: str) -> None:
        self._console_url = console_url

    async def run_moved(self, conn: Connection, run_id: uuid.UUID, status: str) -> int:
        """Add a delivery for every webhook of the run's project told of ``status``; how many."""
        if status not in rules.TOLD:
            return 0
        run = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
        if run is None:
            return 0
        hooks = [
            h
            for h in await conn.fetch(
                "SELECT id, statuses, sources, tags, below FROM webhooks WHERE project_id = $1 AND paused_at IS NULL",
                run["project_id"],
            )
            if rules.tells(h, status, run["source"], list(run["tags"]))
        ]
        if not hooks:
            return 0
        metrics = await self._metrics(conn, run)
        counts = await self._counts(conn, run_id)
        # A webhook with thresholds is told only of runs with a metric below one (failed ones apart).
        below = {h["id"]: rules.below_its_thresholds(h, status, metrics, counts[0]) for h in hooks}
        hooks = [h for h in hooks if below[h["id"]] is not None]
        if not hooks:
            return 0
        baseline = await self._previous(conn, run)
        if baseline is not None:
            metrics = rules.compared(metrics, await self._metrics(conn, baseline))

        def document(under: list[dict[str, Any]] | None) -> dict[str, Any]:
            baseline_id = baseline["id"] if baseline is not None else None
            return rules.run_document(run, metrics, status, counts, self._console_url, baseline_id, under)

        shared = document([])
        ids = [uuid.uuid4() for _ in hooks]
        payloads = [
            {
                **(document(below[h["id"]]) if below[h["id"]] else shared),
                "delivery_id": str(i),
                "webhook_id": str(h["id"]),
            }
            for i, h in zip(ids, hooks, strict=True)
        ]
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, run_id, run_status, payload)"
            " SELECT i, h, 'run.finished', $3, $4, p::jsonb"
            " FROM unnest($1::uuid[], $2::uuid[], $5::text[]) AS t(i, h, p)",
            ids,
            [h["id"] for h in hooks],
            run_id,
            status,
            [json_text(p) for p in payloads],
        )
        return len(hooks)

    @staticmethod
    async def _previous(conn: Connection, run: Any) -> asyncpg.Record | None:
        """The run this one's metrics are compared with: its previous run (shared.db.previous_run —
        of the same schedule, the night before; else of the same monitor or testset)."""
        return await conn.fetchrow(
            "SELECT p.id, p.metric_version_ids, p.human_metric_version_ids FROM runs r"
            f"{previous_run_joins('r')} JOIN runs p ON p.id = {PREVIOUS_RUN_ID} WHERE r.id = $1",
            run["id"],
        )

    @staticmethod
    async def _metrics(conn: Connection, run: Any) -> list[rules.MetricSummary]:
        versions = [*run["metric_version_ids"], *run["human_metric_version_ids"]]
        return [rules.MetricSummary(**vars(r)) for r in await metric_results(conn, run["id"], versions)]

    @staticmethod
    async def _counts(conn: Connection, run_id: uuid.UUID) -> tuple[int, int]:
        row = await conn.fetchrow(
            "SELECT coalesce(sum(records), 0)::int AS records, coalesce(sum(errored), 0)::int AS errored"
            " FROM run_record_counts WHERE run_id = $1",
            run_id,
        )
        return (row["records"], row["errored"]) if row else (0, 0)
