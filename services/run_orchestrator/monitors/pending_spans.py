"""The spans of traces whose root span has not come yet (otlp_pending_spans): kept per export and
trace, read when the root comes, forgotten once its call is logged (those still waiting kept
again), dropped after otlp.PENDING_MINUTES by every orchestrator replica's retention pass."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence

import asyncpg

from services.run_orchestrator.monitors.otlp import PENDING_MINUTES, TraceSpan

log = logging.getLogger(__name__)


class PendingSpans:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def settle(
        self, project_id: uuid.UUID, done: Sequence[str], waiting: Mapping[str, Sequence[TraceSpan]]
    ) -> None:
        """In one transaction: the spans kept of the traces ``done`` (whose calls are logged)
        forgotten, and the spans still ``waiting`` for their root kept (those of ``done`` that
        wait again among them)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if done:
                await conn.execute(
                    "DELETE FROM otlp_pending_spans WHERE project_id = $1 AND trace_id = ANY($2::text[])",
                    project_id,
                    list(done),
                )
            if waiting:
                await conn.execute(
                    "INSERT INTO otlp_pending_spans (project_id, trace_id, spans)"
                    " SELECT $1, t, s::jsonb FROM unnest($2::text[], $3::text[]) AS x(t, s)",
                    project_id,
                    list(waiting),
                    [json.dumps([s.as_json() for s in spans]) for spans in waiting.values()],
                )

    async def earlier(self, project_id: uuid.UUID, trace_ids: Sequence[str]) -> dict[str, list[TraceSpan]]:
        """The spans kept of these traces (within PENDING_MINUTES), by trace."""
        if not trace_ids:
            return {}
        rows = await self._pool.fetch(
            "SELECT trace_id, spans FROM otlp_pending_spans WHERE project_id = $1 AND trace_id = ANY($2::text[])"
            " AND received_at > now() - make_interval(mins => $3) ORDER BY received_at",
            project_id,
            list(trace_ids),
            PENDING_MINUTES,
        )
        found: dict[str, list[TraceSpan]] = {}
        for row in rows:
            found.setdefault(row["trace_id"], []).extend(TraceSpan.of_json(s) for s in row["spans"])
        return found

    async def purge(self) -> int:
        """Drops the spans whose root never came; how many exports' worth."""
        done: str = await self._pool.execute(
            "DELETE FROM otlp_pending_spans WHERE received_at < now() - make_interval(mins => $1)", PENDING_MINUTES
        )
        dropped = int(done.split()[-1])
        if dropped:
            log.info("dropped %s exports' spans of traces whose root span never came", dropped)
        return dropped
