"""SQL of monitors and logged calls (the orchestrator writes both)."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.run_orchestrator.monitors.rules import MonitorDefinition, stored
from services.run_orchestrator.monitors.window_repository import feedback_metric_ids, feedback_results
from services.run_orchestrator.runs.results import MetricResult, runs_metric_results
from services.run_orchestrator.webhooks.repository import new_secret
from shared.call_traffic import histogram
from shared.db.pool import Connection
from shared.json_limits import json_text

# A closed window with its alert's delivery and its run's status.
_WINDOW_COLUMNS = (
    "w.*, d.status AS delivery, d.error AS delivery_error, r.status AS run_status,"
    " (SELECT coalesce(sum(c.errored), 0)::int FROM run_record_counts c WHERE c.run_id = w.run_id) AS errored"
    " FROM monitor_windows w"
    " JOIN runs r ON r.id = w.run_id LEFT JOIN alert_deliveries d ON d.window_id = w.id"
)
# The project's traffic of the hour (call_stats, migration 0048) with the calls just stored added,
# to one of its shards: concurrent requests of a project seldom wait on one another's row.
STATS_SHARDS = 8
_COUNT_CALLS = (
    "INSERT INTO call_stats (project_id, hour, shard, calls, errored, latency_n, latency_sum, latency_hist,"
    " prompt_tokens, completion_tokens, cost_usd)"
    " VALUES ($1, date_trunc('hour', $2::timestamptz, 'UTC'), $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    " ON CONFLICT (project_id, hour, shard) DO UPDATE SET calls = call_stats.calls + excluded.calls,"
    " errored = call_stats.errored + excluded.errored, latency_n = call_stats.latency_n + excluded.latency_n,"
    " latency_sum = call_stats.latency_sum + excluded.latency_sum,"
    " latency_hist = call_hist_add(call_stats.latency_hist, excluded.latency_hist),"
    " prompt_tokens = call_stats.prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = call_stats.completion_tokens + excluded.completion_tokens,"
    " cost_usd = call_stats.cost_usd + excluded.cost_usd"
)


def _counted(project_id: uuid.UUID, calls: list[CallRow], logged_at: Any, shard: int) -> tuple[object, ...]:
    """The traffic figures of calls logged together, as _COUNT_CALLS takes them."""
    latencies = [c.latency_ms for c in calls if c.latency_ms > 0]
    return (
        project_id,
        logged_at,
        shard,
        len(calls),
        sum(1 for c in calls if c.status == "errored"),
        len(latencies),
        float(sum(latencies)),
        histogram(latencies),
        sum(c.prompt_tokens for c in calls),
        sum(c.completion_tokens for c in calls),
        float(sum(c.cost_usd or 0.0 for c in calls)),
    )


# (monitor id, call id, logged at) of every sample a logging transaction takes.
Sample = tuple[uuid.UUID, uuid.UUID, Any]
# Given the project's active monitors and the calls just inserted (id, logged_at), the samples.
Sampler = Callable[[list[asyncpg.Record], list[asyncpg.Record]], list[Sample]]


@dataclass(frozen=True)
class LoggedSteps:
    """A logged call's steps as stored, what it used (prompt and completion tokens, cost) and when
    it was logged."""

    spans: list[dict[str, Any]]
    used: tuple[int, int, float | None]
    logged_at: Any


@dataclass(frozen=True)
class CallRow:
    """One logged call as it is stored."""

    id: uuid.UUID
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    metadata: dict[str, Any]
    status: str
    error: str
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    trace_id: str
    session_id: str
    # The id as given when it was not a UUID (the call's id derives from it); else empty.
    key: str = ""
    # Its steps (shared.spans), checked.
    spans: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Logged:
    inserted: set[uuid.UUID]  # the calls that were new
    sampled: int


def _values(d: MonitorDefinition, versions: list[asyncpg.Record], group: uuid.UUID | None) -> tuple[object, ...]:
    """A monitor's columns from name to alert_min_slice_calls, in the statements' order."""
    return (
        d.name,
        [v["version_id"] for v in versions],
        [v["version_id"] for v in versions if v["eval_type"] == "human"],
        group,
        d.sample_rate,
        d.metadata_filter,
        d.window_minutes or None,
        d.window_calls or None,
        d.alert_url,
        stored(d.thresholds),
        d.alert_format,
        d.alert_recovery,
        d.alert_max_error_rate,
        stored(d.feedback_thresholds),
        d.min_feedback,
        d.alert_max_latency_ms,
        list(d.slice_fields),
        d.min_slice_calls,
    )


class MonitorRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- logged calls ----------------------------------------------------------------------------

    async def log_calls(
        self, project_id: uuid.UUID, calls: Sequence[CallRow], sampler: Sampler, conn: Connection | None = None
    ) -> Logged:
        """Insert the calls that are new (one statement), count them in the hour's traffic
        (call_stats) and insert their samples, in one transaction (within the caller's, on
        ``conn``, when given).

        The calls are inserted in id order, so two requests sharing calls lock them in the same
        order and never deadlock. The active monitors are read in the same transaction: a monitor
        paused before it began samples none of these calls."""
        rows = sorted(calls, key=lambda c: c.id)
        async with contextlib.AsyncExitStack() as held:
            if conn is None:
                conn = await held.enter_async_context(self._pool.acquire())
            assert conn is not None
            await held.enter_async_context(conn.transaction())
            monitors = await conn.fetch(
                "SELECT id, sample_rate, metadata_filter FROM monitors WHERE project_id = $1 AND status = 'active'",
                project_id,
            )
            # The JSON documents go as text (orjson), cast by PostgreSQL.
            inserted = await conn.fetch(
                "INSERT INTO logged_calls (project_id, id, inputs, outputs, metadata, status, error, latency_ms,"
                " prompt_tokens, completion_tokens, cost_usd, trace_id, session_id, call_key)"
                " SELECT $1, c.id, c.inputs::jsonb, c.outputs::jsonb, c.metadata::jsonb, c.status, c.error,"
                " c.latency_ms, c.prompt_tokens, c.completion_tokens, c.cost_usd, c.trace_id, c.session_id, c.call_key"
                " FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
                " $8::float8[], $9::int[], $10::int[], $11::float8[], $12::text[], $13::text[], $14::text[])"
                " AS c(id, inputs, outputs, metadata, status, error, latency_ms, prompt_tokens, completion_tokens,"
                " cost_usd, trace_id, session_id, call_key)"
                " ON CONFLICT (project_id, id) DO NOTHING RETURNING id, logged_at",
                project_id,
                [c.id for c in rows],
                [json_text(c.inputs) for c in rows],
                [json_text(c.outputs) for c in rows],
                [json_text(c.metadata) for c in rows],
                [c.status for c in rows],
                [c.error for c in rows],
                [c.latency_ms for c in rows],
                [c.prompt_tokens for c in rows],
                [c.completion_tokens for c in rows],
                [c.cost_usd for c in rows],
                [c.trace_id for c in rows],
                [c.session_id for c in rows],
                [c.key for c in rows],
            )
            if inserted:  # logged by one statement: at one time
                stored = {r["id"] for r in inserted}
                new = [c for c in rows if c.id in stored]
                counted = _counted(project_id, new, inserted[0]["logged_at"], random.randrange(STATS_SHARDS))
                await conn.execute(_COUNT_CALLS, *counted)
                if stepped := [c for c in new if c.spans]:
                    await conn.execute(
                        "INSERT INTO call_spans (project_id, call_id, spans)"
                        " SELECT $1, * FROM unnest($2::uuid[], $3::text[]::jsonb[])",
                        project_id,
                        [c.id for c in stepped],
                        [json_text(c.spans) for c in stepped],
                    )
            samples = sampler(monitors, inserted) if monitors and inserted else []
            if samples:
                await conn.execute(
                    "INSERT INTO monitor_samples (monitor_id, call_id, logged_at)"
                    " SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
                    [s[0] for s in samples],
                    [s[1] for s in samples],
                    [s[2] for s in samples],
                )
        return Logged({r["id"] for r in inserted}, len(samples))

    async def call_steps(self, conn: Connection, project_id: uuid.UUID, call_id: uuid.UUID) -> LoggedSteps | None:
        """A logged call's steps as stored and what it used, its row locked until the transaction
        ends; None when the call is gone (retention)."""
        row = await conn.fetchrow(
            "SELECT coalesce(s.spans, '[]'::jsonb) AS spans, c.prompt_tokens, c.completion_tokens, c.cost_usd,"
            " c.logged_at FROM logged_calls c"
            " LEFT JOIN call_spans s ON s.project_id = c.project_id AND s.call_id = c.id"
            " WHERE c.project_id = $1 AND c.id = $2 FOR UPDATE OF c",
            project_id,
            call_id,
        )
        if row is None:
            return None
        return LoggedSteps(
            list(row["spans"]), (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]), row["logged_at"]
        )

    async def replace_steps(
        self,
        conn: Connection,
        project_id: uuid.UUID,
        call_id: uuid.UUID,
        before: LoggedSteps,
        spans: list[dict[str, Any]],
        used: tuple[int, int, float | None],
    ) -> None:
        """A logged call's steps replaced (steps added after it was logged: ``before`` as
        call_steps read it) and what it used with them; the traffic of the hour it was logged in
        counts the difference."""
        prompt, completion, cost = used
        await conn.execute(
            "UPDATE logged_calls SET prompt_tokens = $3, completion_tokens = $4, cost_usd = $5"
            " WHERE project_id = $1 AND id = $2",
            project_id,
            call_id,
            prompt,
            completion,
            cost,
        )
        await conn.execute(
            "INSERT INTO call_spans (project_id, call_id, spans) VALUES ($1, $2, $3::text::jsonb)"
            " ON CONFLICT (project_id, call_id) DO UPDATE SET spans = excluded.spans",
            project_id,
            call_id,
            json_text(spans),
        )
        await conn.execute(
            _COUNT_CALLS,
            project_id,
            before.logged_at,
            random.randrange(STATS_SHARDS),
            0,
            0,
            0,
            0.0,
            histogram([]),
            prompt - before.used[0],
            completion - before.used[1],
            float((cost or 0.0) - (before.used[2] or 0.0)),
        )

    # -- monitors --------------------------------------------------------------------------------

    async def create(
        self,
        project_id: uuid.UUID,
        d: MonitorDefinition,
        versions: list[asyncpg.Record],
        metric_group_id: uuid.UUID | None,
        paused: bool,
    ) -> asyncpg.Record | None:
        """The new monitor, with a new alert signing secret; None when the project already has one of
        that name."""
        return await self._pool.fetchrow(
            "INSERT INTO monitors (id, project_id, name, metric_version_ids, human_metric_version_ids,"
            " metric_group_id, sample_rate, metadata_filter, window_minutes, window_calls, alert_url,"
            " alert_thresholds, alert_format, alert_recovery, alert_max_error_rate, alert_feedback_thresholds,"
            " alert_min_feedback, alert_max_latency_ms, alert_slice_fields, alert_min_slice_calls, status,"
            " alert_secret)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,"
            " $21, $22)"
            " ON CONFLICT (project_id, name) WHERE status <> 'deleted' DO NOTHING RETURNING *",
            uuid.uuid4(),
            project_id,
            *_values(d, versions, metric_group_id),
            "paused" if paused else "active",
            new_secret(),
        )

    async def update(
        self,
        monitor_id: uuid.UUID,
        d: MonitorDefinition,
        versions: list[asyncpg.Record],
        metric_group_id: uuid.UUID | None,
        rotate_secret: bool = False,
        mute_minutes: int | None = None,
    ) -> asyncpg.Record | None:
        """The monitor changed (with a new alert signing secret when ``rotate_secret``; its alerts
        muted for ``mute_minutes`` from now, 0: unmuted, None: as they were); None when there is
        no such monitor, or the project has another of that name."""
        try:
            return await self._pool.fetchrow(
                "UPDATE monitors SET name = $2, metric_version_ids = $3, human_metric_version_ids = $4,"
                " metric_group_id = $5, sample_rate = $6, metadata_filter = $7, window_minutes = $8,"
                " window_calls = $9, alert_url = $10, alert_thresholds = $11, alert_format = $12,"
                " alert_recovery = $13, alert_max_error_rate = $14, alert_feedback_thresholds = $15,"
                " alert_min_feedback = $16, alert_max_latency_ms = $17, alert_slice_fields = $18,"
                " alert_min_slice_calls = $19, updated_at = now(), alert_secret = coalesce($20, alert_secret),"
                " alert_muted_until = CASE WHEN $21::int IS NULL THEN alert_muted_until WHEN $21 = 0 THEN NULL"
                "  ELSE now() + make_interval(mins => $21) END"
                " WHERE id = $1 AND status <> 'deleted' RETURNING *",
                monitor_id,
                *_values(d, versions, metric_group_id),
                new_secret() if rotate_secret else None,
                mute_minutes,
            )
        except asyncpg.UniqueViolationError:
            return None

    async def get(self, monitor_id: uuid.UUID) -> asyncpg.Record | None:
        """The monitor, unless it does not exist or was deleted."""
        return await self._pool.fetchrow("SELECT * FROM monitors WHERE id = $1 AND status <> 'deleted'", monitor_id)

    async def of_project(self, project_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT * FROM monitors WHERE project_id = $1 AND status <> 'deleted' ORDER BY name", project_id
        )

    async def delete(self, monitor_id: uuid.UUID) -> asyncpg.Record | None:
        """The monitor, deleted, with the calls of its open window; None when there was none left."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE monitors SET status = 'deleted', updated_at = now() WHERE id = $1 AND status <> 'deleted'"
                " RETURNING *",
                monitor_id,
            )
            if row is not None:
                await conn.execute("DELETE FROM monitor_samples WHERE monitor_id = $1", monitor_id)
            return row

    async def set_status(self, monitor_id: uuid.UUID, status: str) -> asyncpg.Record | None:
        """Paused or active; None for a monitor deleted meanwhile."""
        return await self._pool.fetchrow(
            "UPDATE monitors SET status = $2, updated_at = now() WHERE id = $1 AND status <> 'deleted' RETURNING *",
            monitor_id,
            status,
        )

    async def pending(self, monitor_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Calls sampled into each monitor's open window."""
        rows = await self._pool.fetch(
            "SELECT monitor_id, count(*)::int AS n FROM monitor_samples WHERE monitor_id = ANY($1::uuid[])"
            " GROUP BY monitor_id",
            monitor_ids,
        )
        return {r["monitor_id"]: r["n"] for r in rows}

    async def windows(self, monitor_id: uuid.UUID, limit: int = 50) -> list[asyncpg.Record]:
        """The latest closed windows, newest first, with their alert's delivery and their run's status."""
        return await self._pool.fetch(
            f"SELECT {_WINDOW_COLUMNS} WHERE w.monitor_id = $1 ORDER BY w.number DESC LIMIT $2",
            monitor_id,
            limit,
        )

    async def latest_windows(self, monitor_ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
        """Each monitor's latest closed window, as windows() has it (monitors with none are absent)."""
        rows = await self._pool.fetch(
            f"SELECT DISTINCT ON (w.monitor_id) {_WINDOW_COLUMNS} WHERE w.monitor_id = ANY($1::uuid[])"
            " ORDER BY w.monitor_id, w.number DESC",
            monitor_ids,
        )
        return {r["monitor_id"]: r for r in rows}

    async def window_results(self, windows: Sequence[asyncpg.Record]) -> dict[uuid.UUID, list[MetricResult]]:
        """Each window's run's result per metric, by run id."""
        return await runs_metric_results(self._pool, [w["run_id"] for w in windows])

    async def windows_feedback(
        self, monitor: asyncpg.Record, windows: Sequence[asyncpg.Record]
    ) -> dict[uuid.UUID, list[MetricResult]]:
        """The users' feedback given during each of the monitor's windows on its feedback
        thresholds' metrics, by window id."""
        return await feedback_results(self._pool, monitor["project_id"], feedback_metric_ids(monitor), list(windows))

    async def add_test_alert(self, monitor: asyncpg.Record, document: dict[str, Any]) -> asyncpg.Record:
        """A test alert of the monitor, pending (an executor replica sends it)."""
        row = await self._pool.fetchrow(
            "INSERT INTO monitor_test_alerts (id, monitor_id, payload) VALUES ($1, $2, $3) RETURNING *",
            uuid.UUID(document["alert_id"]),
            monitor["id"],
            document,
        )
        assert row is not None
        return row

    async def latest_test_alerts(self, monitor_ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
        """Each monitor's latest test alert (monitors never tested are absent)."""
        rows = await self._pool.fetch(
            "SELECT DISTINCT ON (monitor_id) * FROM monitor_test_alerts WHERE monitor_id = ANY($1::uuid[])"
            " ORDER BY monitor_id, created_at DESC, id DESC",
            monitor_ids,
        )
        return {r["monitor_id"]: r for r in rows}
