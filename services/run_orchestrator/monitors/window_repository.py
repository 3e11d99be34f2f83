"""SQL of monitor windows: closing one into a run (in one transaction), handing its score
requests over, and deciding its alert."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.run_orchestrator.monitors import rules
from services.run_orchestrator.monitors.slices import SliceCalls, SliceResult
from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.results import MetricResult, metric_results
from shared.db.pool import Connection
from shared.edge.errors import ApiError
from shared.ids import counter_shard, record_id
from shared.record_fields import field_path
from shared.run_status import TERMINAL, RunSource, RunStatus

log = logging.getLogger(__name__)


async def feedback_results(
    db: Connection | asyncpg.Pool, project_id: uuid.UUID, metric_ids: list[uuid.UUID], windows: list[asyncpg.Record]
) -> dict[uuid.UUID, list[MetricResult]]:
    """The users' feedback given during each window (from its start to its end) on each metric
    (in the order given; one with none given: ``scored`` 0), by window id: ``scored`` the verdicts,
    ``passed`` those that passed, ``total`` their values' sum; the output type is the metric's latest
    version's."""
    if not metric_ids or not windows:
        return {}
    rows = await db.fetch(
        "SELECT w.id AS window_id, m.id AS metric_id, m.name, lv.output_type, count(f.value)::int AS scored,"
        " count(*) FILTER (WHERE f.passed)::int AS passed, coalesce(sum(f.value), 0)::float8 AS total"
        " FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS w(id, started_at, ended_at)"
        " CROSS JOIN unnest($5::uuid[]) WITH ORDINALITY AS t(metric_id, n)"
        " JOIN metrics m ON m.id = t.metric_id AND m.project_id = $1"
        " CROSS JOIN LATERAL (SELECT v.output_type FROM metric_versions v WHERE v.metric_id = m.id"
        "  ORDER BY v.version DESC LIMIT 1) lv"
        " LEFT JOIN call_feedback f ON f.project_id = $1 AND f.metric_id = m.id"
        "  AND f.given_at >= w.started_at AND f.given_at < w.ended_at"
        " GROUP BY w.id, t.n, m.id, m.name, lv.output_type ORDER BY w.id, t.n",
        project_id,
        [w["id"] for w in windows],
        [w["started_at"] for w in windows],
        [w["ended_at"] for w in windows],
        metric_ids,
    )
    results: dict[uuid.UUID, list[MetricResult]] = {}
    for r in rows:
        result = MetricResult(r["metric_id"], r["name"], r["output_type"], r["scored"], r["passed"], r["total"])
        results.setdefault(r["window_id"], []).append(result)
    return results


def feedback_metric_ids(monitor: asyncpg.Record) -> list[uuid.UUID]:
    """The metrics of a monitor's feedback thresholds."""
    return [uuid.UUID(t["metric_id"]) for t in monitor["alert_feedback_thresholds"]]


@dataclass(frozen=True)
class ClosedWindow:
    id: uuid.UUID
    monitor_id: uuid.UUID
    number: int
    run_id: uuid.UUID
    calls: int


def _parsed(fields: list[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each stored slice field with its column and path (checked as the monitor was saved); one
    that does not parse (read otherwise by a later version) is left out, never a stuck window."""
    named = []
    for field in fields:
        try:
            named.append((field, *field_path(field)))
        except ApiError:
            log.warning("a monitor's slice field is left out: it does not parse", extra={"field": field})
    return named


# The record fields a logged call has (its expected values are none).
CALL_ROOTS = ("metadata", "inputs")


def _values(named: list[tuple[str, str, tuple[str, ...]]], first: int) -> str:
    """A VALUES row per field of a record r: (its position, its value as text), the paths the
    statement's parameters from ``first`` on."""
    return ", ".join(f"({n}, r.{root} #>> ${first + n}::text[])" for n, (_, root, _) in enumerate(named))


class WindowRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def monitors(self) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT id, window_minutes, window_calls, window_started_at, now() AS now FROM monitors"
            " WHERE status <> 'deleted'"
        )

    async def pending_up_to(self, monitor_id: uuid.UUID, limit: int) -> int:
        """Calls in the monitor's open window, counted up to ``limit`` (a bounded scan)."""
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM monitor_samples WHERE monitor_id = $1 LIMIT $2) s",
                monitor_id,
                limit,
            )
        )

    async def close(self, monitor_id: uuid.UUID, max_calls: int, grace: timedelta) -> ClosedWindow | None:
        """Close the monitor's open window if it is due, in one transaction: its samples leave the
        queue and become the records of a new run (source monitor) with their counts, and the
        window row is written. None when it was not due, was empty (only the window moves on), or
        another replica holds the monitor."""
        async with self._pool.acquire() as conn, conn.transaction():
            monitor = await conn.fetchrow(
                "SELECT *, now() AS now FROM monitors WHERE id = $1 AND status <> 'deleted' FOR UPDATE SKIP LOCKED",
                monitor_id,
            )
            if monitor is None:
                return None
            shape = rules.WindowShape(monitor["window_minutes"] or 0, monitor["window_calls"] or 0, max_calls)
            started, now = monitor["window_started_at"], monitor["now"]
            pending = await conn.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM monitor_samples WHERE monitor_id = $1 LIMIT $2) s",
                monitor_id,
                shape.size(),
            )
            if not rules.due(shape, started, now, pending, grace):
                return None
            end = shape.end(started)
            timely = end is not None and now >= end + grace
            taken = await conn.fetch(
                "DELETE FROM monitor_samples WHERE monitor_id = $1 AND call_id IN ("
                "  SELECT call_id FROM monitor_samples WHERE monitor_id = $1"
                "  AND ($2::timestamptz IS NULL OR logged_at < $2) ORDER BY logged_at, call_id LIMIT $3)"
                " RETURNING call_id",
                monitor_id,
                end if timely else None,
                shape.size(),
            )
            ended = end if timely and end is not None else now
            following = rules.next_start(shape, started, now, full=not timely)
            if not taken:
                await conn.execute("UPDATE monitors SET window_started_at = $2 WHERE id = $1", monitor_id, following)
                return None
            calls = sorted(r["call_id"] for r in taken)
            window = await self._make_run(conn, monitor, calls, started, ended)
            await conn.execute(
                "UPDATE monitors SET window_started_at = $2, windows_closed = windows_closed + 1 WHERE id = $1",
                monitor_id,
                following,
            )
            return window

    async def _make_run(
        self,
        conn: Connection,
        monitor: asyncpg.Record,
        calls: list[uuid.UUID],
        started: datetime,
        ended: datetime,
    ) -> ClosedWindow:
        run_id, window_id, number = uuid.uuid4(), uuid.uuid4(), monitor["windows_closed"] + 1
        record_ids = [record_id(run_id, c, 0) for c in calls]
        notes = (
            f"Monitor {monitor['name']!r}, window {number}: {len(calls)} sampled calls logged"
            f" from {started:%Y-%m-%d %H:%M:%S} to {ended:%Y-%m-%d %H:%M:%S} UTC"
        )
        await conn.execute(
            "INSERT INTO runs (id, project_id, testset_id, testset_version, system_version_id, metric_version_ids,"
            " human_metric_version_ids, source, status, trials, expected_records, notes, monitor_id, created_by)"
            " VALUES ($1, $2, NULL, 0, NULL, $3, $4, $5, 'pending', 1, $6, $7, $8, $9)",
            run_id,
            monitor["project_id"],
            monitor["metric_version_ids"],
            monitor["human_metric_version_ids"],
            RunSource.MONITOR,
            len(calls),
            notes,
            monitor["id"],
            f"monitor {monitor['name']!r}",
        )
        await RunRepository.transition(conn, run_id, RunStatus.PENDING)
        # The records are the logged calls as they were logged; the id given as text, the trace and
        # the session ids join the metadata.
        await conn.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, error,"
            " latency_ms, metadata, prompt_tokens, completion_tokens, cost_usd)"
            " SELECT s.record_id, $1, c.id, 0, c.inputs, '{}'::jsonb, c.outputs, c.status, c.error, c.latency_ms,"
            "  c.metadata || jsonb_strip_nulls(jsonb_build_object('trace_id', nullif(c.trace_id, ''),"
            "  'session_id', nullif(c.session_id, ''), 'call_id', nullif(c.call_key, ''))),"
            "  c.prompt_tokens, c.completion_tokens, c.cost_usd"
            " FROM unnest($2::uuid[], $3::uuid[]) AS s(call_id, record_id)"
            " JOIN logged_calls c ON c.project_id = $4 AND c.id = s.call_id",
            run_id,
            calls,
            record_ids,
            monitor["project_id"],
        )
        await conn.execute(
            "INSERT INTO run_record_counts (run_id, shard, records, errored, latency_ms, prompt_tokens,"
            " completion_tokens, cost_usd, costed)"
            " SELECT $1, s.shard, count(*), count(*) FILTER (WHERE c.status = 'errored'), sum(c.latency_ms),"
            "  sum(c.prompt_tokens), sum(c.completion_tokens), coalesce(sum(c.cost_usd), 0), count(c.cost_usd)"
            " FROM unnest($2::uuid[], $3::int2[]) AS s(call_id, shard)"
            " JOIN logged_calls c ON c.project_id = $4 AND c.id = s.call_id GROUP BY s.shard",
            run_id,
            calls,
            [counter_shard(r) for r in record_ids],
            monitor["project_id"],
        )
        # Its calls' latencies (those logged with one; to the microsecond), read back from the records just written.
        await conn.execute(
            "INSERT INTO monitor_windows (id, monitor_id, number, run_id, started_at, ended_at, calls, alert_state,"
            " latency_p50_ms, latency_p95_ms)"
            " SELECT $1, $2, $3, $4, $5, $6, $7, $8,"
            "  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms)"
            "   FILTER (WHERE r.latency_ms > 0))::numeric, 3)::float8,"
            "  round((percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms)"
            "   FILTER (WHERE r.latency_ms > 0))::numeric, 3)::float8"
            " FROM records r WHERE r.run_id = $4",
            window_id,
            monitor["id"],
            number,
            run_id,
            started,
            ended,
            len(calls),
            "waiting" if monitor["alert_url"] else "none",
        )
        return ClosedWindow(window_id, monitor["id"], number, run_id, len(calls))

    # -- score requests ----------------------------------------------------------------------------

    async def claim_unrequested(self, stale: timedelta, limit: int = 10) -> list[asyncpg.Record]:
        """Windows whose score requests a closer did not finish publishing (it died), claimed by
        this replica for ``stale`` (another replica may take them over after that)."""
        return await self._pool.fetch(
            "UPDATE monitor_windows SET scores_claimed_at = now() WHERE id IN ("
            "  SELECT id FROM monitor_windows WHERE NOT scores_requested AND scores_claimed_at < now() - $1::interval"
            "  ORDER BY scores_claimed_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING id, run_id",
            stale,
            limit,
        )

    async def requested(self, window_id: uuid.UUID) -> None:
        await self._pool.execute("UPDATE monitor_windows SET scores_requested = true WHERE id = $1", window_id)

    # -- alerts ----------------------------------------------------------------------------------

    async def finished_waiting(self, limit: int = 50) -> list[asyncpg.Record]:
        """Windows with an alert whose run has finished (its scores are all in, or it waits only for
        reviewers — unless a threshold is of a human metric, which monitors made before such
        thresholds were refused may have) and whose monitor's
        earlier windows are all decided (so a monitor's alerts are decided in order), each with the
        state of the last window before it whose decision was told (``previous``: below | ok |
        recovered | None; muted and skipped windows are passed over) and whether its alerts are
        ``muted`` now."""
        return await self._pool.fetch(
            "SELECT w.id, w.number, w.run_id, w.started_at, w.ended_at, w.calls, r.status AS run_status,"
            " r.metric_version_ids, m.id AS monitor_id, m.name AS monitor_name, m.project_id, m.alert_thresholds,"
            " m.alert_feedback_thresholds, m.alert_min_feedback, m.alert_max_latency_ms, w.latency_p50_ms,"
            " m.alert_slice_fields, m.alert_min_slice_calls,"
            " w.latency_p95_ms,"
            " m.alert_recovery, coalesce(m.alert_muted_until > now(), false) AS muted, m.alert_max_error_rate,"
            " (SELECT coalesce(sum(c.errored), 0)::int FROM run_record_counts c WHERE c.run_id = w.run_id) AS errored,"
            " (SELECT p.alert_state FROM monitor_windows p WHERE p.monitor_id = w.monitor_id"
            "  AND p.number < w.number AND p.alert_state IN ('below', 'ok', 'recovered')"
            "  ORDER BY p.number DESC LIMIT 1) AS previous"
            " FROM monitor_windows w JOIN runs r ON r.id = w.run_id JOIN monitors m ON m.id = w.monitor_id"
            " WHERE w.alert_state = 'waiting' AND (r.status = ANY($1::text[]) OR r.status = $3 AND NOT EXISTS ("
            "  SELECT 1 FROM metric_versions v WHERE v.id = ANY(m.human_metric_version_ids)"
            "  AND m.alert_thresholds @> jsonb_build_array(jsonb_build_object('metric_id', v.metric_id::text))))"
            " AND NOT EXISTS (SELECT 1 FROM monitor_windows e WHERE e.monitor_id = w.monitor_id"
            "  AND e.number < w.number AND e.alert_state = 'waiting')"
            " ORDER BY w.closed_at LIMIT $2",
            sorted(TERMINAL),
            limit,
            RunStatus.AWAITING_HUMAN_SCORING,
        )

    async def metric_results(self, run_id: uuid.UUID, version_ids: list[uuid.UUID]) -> list[MetricResult]:
        return await metric_results(self._pool, run_id, version_ids)

    async def feedback_results(self, window: asyncpg.Record) -> list[MetricResult]:
        """The users' feedback given during a window on its monitor's feedback thresholds' metrics."""
        found = await feedback_results(self._pool, window["project_id"], feedback_metric_ids(window), [window])
        return found.get(window["id"], [])

    async def slice_results(
        self,
        run_id: uuid.UUID,
        version_ids: list[uuid.UUID],
        metric_ids: list[uuid.UUID],
        fields: list[str],
        min_scored: int,
    ) -> list[SliceResult]:
        """Each metric of ``metric_ids`` (one of the run's ``version_ids``) over the run's records
        holding each value of each field (compared as text; a record without one is in no slice),
        counted from its completed scores as the run's aggregates count them; slices with fewer than
        ``min_scored`` scored are left out."""
        named = _parsed(fields)
        if not named:
            return []
        # Each record's value of every field (a VALUES row per field) read once, then hash-joined to
        # the run's scores: a lookup of the record per score took 5x as long (2.3 s against 0.47 s
        # for a field over 100,000 records and 300,000 scores; three fields 0.6-0.85 s).
        rows = await self._pool.fetch(
            "WITH f AS MATERIALIZED (SELECT r.id, x.n, x.field_value FROM records r"
            f" CROSS JOIN LATERAL (VALUES {_values(named, 5)}) AS x(n, field_value)"
            " WHERE r.run_id = $1 AND x.field_value IS NOT NULL),"
            " g AS (SELECT f.n, f.field_value, s.metric_version_id, count(*)::int AS scored,"
            " count(*) FILTER (WHERE s.passed)::int AS passed, coalesce(sum(s.value_num), 0)::float8 AS total"
            " FROM f JOIN scores s ON s.record_id = f.id"
            " WHERE s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[]) AND s.status = 'completed'"
            " GROUP BY 1, 2, 3 HAVING count(*) >= $4)"
            " SELECT g.*, v.metric_id, m.name, v.output_type FROM g"
            " JOIN metric_versions v ON v.id = g.metric_version_id JOIN metrics m ON m.id = v.metric_id"
            " WHERE v.metric_id = ANY($3::uuid[])"
            " ORDER BY g.n, g.field_value, m.name",
            run_id,
            version_ids,
            metric_ids,
            min_scored,
            *[list(path) for _, _, path in named],
        )
        return [
            SliceResult(
                named[r["n"]][0],
                r["field_value"],
                MetricResult(r["metric_id"], r["name"], r["output_type"], r["scored"], r["passed"], r["total"]),
            )
            for r in rows
        ]

    async def feedback_slice_results(
        self, window: asyncpg.Record, fields: list[str], min_given: int
    ) -> list[SliceResult]:
        """The users' feedback given during a window (as ``feedback_results`` counts it) on each of its
        monitor's feedback thresholds' metrics, over the calls holding each value of each field
        (compared as text; a logged call has no expected values, so such a field has no slice);
        slices with fewer than ``min_given`` verdicts left out."""
        named = [n for n in _parsed(fields) if n[1] in CALL_ROOTS]
        metric_ids = feedback_metric_ids(window)
        if not named or not metric_ids:
            return []
        rows = await self._pool.fetch(
            "WITH g AS (SELECT x.n, x.field_value, f.metric_id, count(*)::int AS scored,"
            " count(*) FILTER (WHERE f.passed)::int AS passed, coalesce(sum(f.value), 0)::float8 AS total"
            " FROM call_feedback f JOIN logged_calls r ON r.project_id = f.project_id AND r.id = f.call_id"
            f" CROSS JOIN LATERAL (VALUES {_values(named, 6)}) AS x(n, field_value)"
            " WHERE f.project_id = $1 AND f.metric_id = ANY($2::uuid[]) AND f.given_at >= $3 AND f.given_at < $4"
            " AND x.field_value IS NOT NULL GROUP BY 1, 2, 3 HAVING count(*) >= $5)"
            " SELECT g.*, m.name, lv.output_type FROM g JOIN metrics m ON m.id = g.metric_id"
            " CROSS JOIN LATERAL (SELECT v.output_type FROM metric_versions v WHERE v.metric_id = m.id"
            "  ORDER BY v.version DESC LIMIT 1) lv"
            " ORDER BY g.n, g.field_value, m.name",
            window["project_id"],
            metric_ids,
            window["started_at"],
            window["ended_at"],
            min_given,
            *[list(path) for _, _, path in named],
        )
        return [
            SliceResult(
                named[r["n"]][0],
                r["field_value"],
                MetricResult(r["metric_id"], r["name"], r["output_type"], r["scored"], r["passed"], r["total"]),
            )
            for r in rows
        ]

    async def slice_calls(self, run_id: uuid.UUID, fields: list[str], min_calls: int) -> list[SliceCalls]:
        """The run's records holding each value of each field (as ``slice_results`` reads them): how
        many of them errored, how many have a latency and those latencies' 95th percentile (rounded
        as the window's own); values with fewer than ``min_calls`` records left out."""
        named = _parsed(fields)
        if not named:
            return []
        rows = await self._pool.fetch(
            "SELECT x.n, x.field_value, count(*)::int AS calls,"
            " count(*) FILTER (WHERE r.status = 'errored')::int AS errored,"
            " count(*) FILTER (WHERE r.latency_ms > 0)::int AS timed,"
            " round((percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms)"
            "  FILTER (WHERE r.latency_ms > 0))::numeric, 3)::float8 AS p95_ms FROM records r"
            f" CROSS JOIN LATERAL (VALUES {_values(named, 3)}) AS x(n, field_value)"
            " WHERE r.run_id = $1 AND x.field_value IS NOT NULL GROUP BY 1, 2 HAVING count(*) >= $2 ORDER BY 1, 2",
            run_id,
            min_calls,
            *[list(path) for _, _, path in named],
        )
        return [
            SliceCalls(named[r["n"]][0], r["field_value"], r["calls"], r["errored"], r["timed"], r["p95_ms"])
            for r in rows
        ]

    async def decide_alert(
        self,
        window_id: uuid.UUID,
        state: str,
        alert: dict[str, Any] | None,
        slices_below: Sequence[dict[str, Any]] = (),
        error_slices: Sequence[dict[str, Any]] = (),
        latency_slices: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """Settle a waiting alert once (a replica deciding it again changes nothing), with the
        window's slices below a threshold, those with too many errored calls and those too slow."""
        result: str = await self._pool.execute(
            "UPDATE monitor_windows SET alert_state = $2, alert = $3, slices_below = $4, error_slices = $5,"
            " latency_slices = $6 WHERE id = $1 AND alert_state = 'waiting'",
            window_id,
            state,
            alert,
            list(slices_below),
            list(error_slices),
            list(latency_slices),
        )
        return result.endswith(" 1")
