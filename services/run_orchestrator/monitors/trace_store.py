"""Where OpenTelemetry traces become logged calls (IngestTraces), one transaction per export.

The spans of a trace whose root span has not come yet wait in ``otlp_pending_spans`` and are
joined to it when it comes; the calls a trace was logged as are kept in ``otlp_traces``, so a
span that comes after its call (a step that ended after the call did, a later export) is added
to it as a step. Both are dropped after otlp.PENDING_MINUTES by every orchestrator replica's
retention pass.

An export takes a lock on each of its traces (a transaction-scoped advisory lock, in one order)
before it reads what waits: two replicas given parts of one trace at the same instant — a
collector sending exports side by side — take their turns, so neither logs the call without
the spans the other was keeping. The calls are logged on the same connection, in the same
transaction. An export of many traces is taken TRACES_PER_TRANSACTION traces at a time, so it
never holds more locks than PostgreSQL's lock table has room for (max_locks_per_transaction,
64 by default); sent again after a failure midway, what was taken is a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields

import asyncpg
from scorekeeper.v1 import monitors_pb2 as pb

from scorekeeper_sdk.evaluate.outputs import used
from scorekeeper_sdk.tracing import MAX_SPANS, Span, fit
from services.run_orchestrator.monitors import otlp, rules
from services.run_orchestrator.monitors.calls import LogOutcome
from services.run_orchestrator.monitors.otlp import PENDING_MINUTES, LoggedTrace, TraceSpan
from services.run_orchestrator.monitors.repository import MonitorRepository
from shared import spans
from shared.db.pool import Connection
from shared.ids import call_id_of

log = logging.getLogger(__name__)

# Logs assembled calls on the export's connection, within its transaction (the first of them the
# export's call at this index).
LogCallsOn = Callable[[Connection, list[pb.LoggedCall], int], Awaitable[LogOutcome]]
_STEP_FIELDS = frozenset(f.name for f in fields(Span))
# The latest a root may start that a bigint holds (ns since the epoch: the year 2262).
_MAX_NS = 2**63 - 1
# Traces locked and stored in one transaction, at most.
TRACES_PER_TRANSACTION = 50


@dataclass
class Ingested:
    """What an export did: its calls (ids as IngestTraces answers them), the new among them, the
    spans added to calls logged before and those still waiting for their root."""

    call_ids: list[str]
    logged: LogOutcome
    added_spans: int
    pending_spans: int
    assembled: int = 0  # the calls assembled of its spans (call_ids less the roots sent again)


class TraceStore:
    def __init__(self, pool: asyncpg.Pool, monitors: MonitorRepository) -> None:
        self._pool = pool
        self._monitors = monitors

    async def ingest(
        self, project_id: uuid.UUID, traces: Mapping[str, Sequence[TraceSpan]], log_calls: LogCallsOn
    ) -> Ingested:
        """An export's spans, by trace: joined to what waited of their traces, the traces whose root
        came logged as calls, spans of calls logged before added to them, the rest kept waiting."""
        ids = list(traces)
        done = Ingested([], LogOutcome(), 0, 0)
        for start in range(0, len(ids), TRACES_PER_TRANSACTION):
            part = await self._ingest(
                {t: traces[t] for t in ids[start : start + TRACES_PER_TRANSACTION]},
                project_id,
                log_calls,
                done.assembled,
            )
            done.call_ids += part.call_ids
            done.logged.add(part.logged)
            done.added_spans += part.added_spans
            done.pending_spans += part.pending_spans
            done.assembled += part.assembled
        return done

    async def _ingest(
        self, traces: Mapping[str, Sequence[TraceSpan]], project_id: uuid.UUID, log_calls: LogCallsOn, first: int
    ) -> Ingested:
        """``ingest`` of a few traces, in one transaction (``first``: the index of its first call
        in the export)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k",
                sorted({_lock_key(project_id, t) for t in traces}),  # one order: no two exports deadlock
            )
            earlier = await self._waiting(conn, project_id, list(traces))
            logged = await self._logged(conn, project_id, list(traces))
            calls: list[pb.LoggedCall] = []
            groups: list[list[TraceSpan]] = []
            added: dict[uuid.UUID, list[TraceSpan]] = {}
            waiting: dict[str, list[TraceSpan]] = {}
            duplicates: list[str] = []
            for trace, sent in traces.items():
                made_before = logged.get(trace, [])
                held = {span_id for c in made_before for span_id in c.span_ids}
                # A root sent again is the call logged before: a duplicate; its spans come as late.
                duplicates += [c.call_key for c in made_before if any(s.root and s.span_id in c.span_ids for s in sent)]
                made = otlp.assemble([s for s in [*earlier.get(trace, []), *sent] if s.span_id not in held])
                calls += made.calls
                groups += made.groups
                still = made.waiting
                if made_before:
                    by_call, still = otlp.late(still, made_before)
                    added.update(by_call)
                if still:
                    waiting[trace] = still
            outcome = LogOutcome()
            for start in range(0, len(calls), rules.MAX_CALLS_PER_REQUEST):
                done = await log_calls(conn, calls[start : start + rules.MAX_CALLS_PER_REQUEST], first + start)
                outcome.add(done)
            outcome.duplicates += len(duplicates)
            await self._remember(conn, project_id, calls, groups)
            calls_before = {c.call_id: c for made_before in logged.values() for c in made_before}
            added_spans = 0
            for call_id, late_spans in added.items():
                added_spans += await self._add(conn, project_id, calls_before[call_id], late_spans)
            await conn.execute(
                "DELETE FROM otlp_pending_spans WHERE project_id = $1 AND trace_id = ANY($2::text[])",
                project_id,
                list(traces),
            )
            if waiting:
                await conn.execute(
                    "INSERT INTO otlp_pending_spans (project_id, trace_id, spans)"
                    " SELECT $1, t, s::jsonb FROM unnest($2::text[], $3::text[]) AS x(t, s)",
                    project_id,
                    list(waiting),
                    [json.dumps([s.as_json() for s in kept]) for kept in waiting.values()],
                )
        return Ingested(
            call_ids=[c.call_id for c in calls] + duplicates,
            logged=outcome,
            added_spans=added_spans,
            pending_spans=sum(len(kept) for kept in waiting.values()),
            assembled=len(calls),
        )

    async def _waiting(
        self, conn: Connection, project_id: uuid.UUID, trace_ids: list[str]
    ) -> dict[str, list[TraceSpan]]:
        """The spans kept of these traces (within PENDING_MINUTES), by trace."""
        rows = await conn.fetch(
            "SELECT trace_id, spans FROM otlp_pending_spans WHERE project_id = $1 AND trace_id = ANY($2::text[])"
            " AND received_at > now() - make_interval(mins => $3) ORDER BY received_at",
            project_id,
            trace_ids,
            PENDING_MINUTES,
        )
        found: dict[str, list[TraceSpan]] = {}
        for row in rows:
            found.setdefault(row["trace_id"], []).extend(TraceSpan.of_json(s) for s in row["spans"])
        return found

    async def _logged(
        self, conn: Connection, project_id: uuid.UUID, trace_ids: list[str]
    ) -> dict[str, list[LoggedTrace]]:
        """The calls these traces were logged as (within PENDING_MINUTES), by trace."""
        rows = await conn.fetch(
            "SELECT trace_id, call_id, call_key, root_start_ns, span_ids FROM otlp_traces"
            " WHERE project_id = $1 AND trace_id = ANY($2::text[]) AND logged_at > now() - make_interval(mins => $3)",
            project_id,
            trace_ids,
            PENDING_MINUTES,
        )
        found: dict[str, list[LoggedTrace]] = {}
        for row in rows:
            found.setdefault(row["trace_id"], []).append(
                LoggedTrace(row["call_id"], row["call_key"], row["root_start_ns"], frozenset(row["span_ids"]))
            )
        return found

    async def _remember(
        self, conn: Connection, project_id: uuid.UUID, calls: list[pb.LoggedCall], groups: list[list[TraceSpan]]
    ) -> None:
        """The calls just made kept for the spans that may come after them (a call that was there
        already, logged otherwise, as well)."""
        if not calls:
            return
        await conn.execute(
            "INSERT INTO otlp_traces (project_id, trace_id, call_id, call_key, root_start_ns, span_ids)"
            " SELECT $1, t, c, k, s, i::jsonb FROM unnest($2::text[], $3::uuid[], $4::text[], $5::int8[], $6::text[])"
            " AS x(t, c, k, s, i) WHERE EXISTS (SELECT 1 FROM logged_calls l WHERE l.project_id = $1 AND l.id = x.c)"
            " ON CONFLICT DO NOTHING",
            project_id,
            [call.trace_id for call in calls],
            [call_id_of(call.call_id) for call in calls],
            [call.call_id for call in calls],
            [min(group[0].start_ns, _MAX_NS) for group in groups],
            [json.dumps([s.span_id for s in group]) for group in groups],
        )

    async def _add(self, conn: Connection, project_id: uuid.UUID, trace: LoggedTrace, late: list[TraceSpan]) -> int:
        """Spans that came after their call added to its steps (as many as it has room for), what
        it used summed again; how many were added."""
        before = await self._monitors.call_steps(conn, project_id, trace.call_id)
        if before is None:  # the call is gone
            return 0
        steps = [Span(**{k: v for k, v in stored.items() if k in _STEP_FIELDS}) for stored in before.spans]
        new = otlp.late_steps(late, trace)[: max(0, MAX_SPANS - len(steps))]
        if not new:
            return 0
        steps += new
        present = {s.id for s in steps}
        for step in new:  # inside a step the call left out (past MAX_SPANS): top-level
            if step.parent_id not in present:
                step.parent_id = ""
        fit(steps)
        try:
            checked = spans.parse([s.to_proto() for s in steps], "the call's steps")
        except ValueError as exc:
            log.warning(
                "spans of trace %s came after its call %s and were not added: %s", trace.call_key, trace.call_id, exc
            )
            return 0
        prompt, completion, cost = used(steps)
        sums = (min(prompt, otlp.MAX_COUNT), min(completion, otlp.MAX_COUNT), cost)  # as call_of counts them
        await self._monitors.replace_steps(conn, project_id, trace.call_id, before, checked, sums)
        await conn.execute(
            "UPDATE otlp_traces SET span_ids = span_ids || $3::text::jsonb WHERE project_id = $1 AND call_id = $2",
            project_id,
            trace.call_id,
            json.dumps([s.span_id for s in late]),
        )
        return len(new)

    async def purge(self) -> int:
        """Drops the spans whose root never came and what is kept of calls logged over
        PENDING_MINUTES ago; how many exports' worth of spans were dropped."""
        dropped = int(
            (
                await self._pool.execute(
                    "DELETE FROM otlp_pending_spans WHERE received_at < now() - make_interval(mins => $1)",
                    PENDING_MINUTES,
                )
            ).split()[-1]
        )
        await self._pool.execute(
            "DELETE FROM otlp_traces WHERE logged_at < now() - make_interval(mins => $1)", PENDING_MINUTES
        )
        if dropped:
            log.info("dropped %s exports' spans of traces whose root span never came", dropped)
        return dropped


def _lock_key(project_id: uuid.UUID, trace_id: str) -> int:
    """The advisory lock of a project's trace (a signed 64-bit number)."""
    digest = hashlib.blake2b(f"otlp:{project_id}:{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
