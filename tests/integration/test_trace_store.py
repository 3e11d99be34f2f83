"""OpenTelemetry traces made calls on real PostgreSQL (monitors/trace_store.py): spans that come
before their root wait for it, however many exports a trace came in; spans that come after their
call are added to it as steps (what it used summed again, the hour's traffic with them); a trace
sent again is a duplicate; exports of one trace at the same instant take their turns, so no span
is lost between them; what is kept is dropped after an hour by the retention pass."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from scorekeeper.v1 import monitors_pb2 as pb

from scorekeeper_sdk.tracing import Span
from services.run_orchestrator.monitors.api import call_row
from services.run_orchestrator.monitors.calls import LogCalls, LogOutcome
from services.run_orchestrator.monitors.otlp import TraceSpan, by_trace
from services.run_orchestrator.monitors.repository import MonitorRepository
from services.run_orchestrator.monitors.trace_store import TRACES_PER_TRANSACTION, Ingested, TraceStore
from shared.db.pool import Connection
from shared.ids import call_id_of

pytestmark = [pytest.mark.postgres]

MS = 1_000_000


def _span(trace: str, span: str, parent: str = "root", start_ms: int = 1, tokens: int = 0) -> TraceSpan:
    step = Span(span, f"step {span}", kind="tool", input={"q": 1}, prompt_tokens=tokens, completion_tokens=tokens)
    return TraceSpan(trace, span, parent, False, start_ms * MS, (start_ms + 2) * MS, step, call={"user": "u"})


def _root(trace: str, tokens: int = 0) -> TraceSpan:
    step = Span("root", "answer", kind="chain", input={"question": "q"}, output="a", prompt_tokens=tokens)
    return TraceSpan(trace, "root", "", True, 0, 10 * MS, step)


@pytest.fixture
async def project(db: asyncpg.Pool) -> uuid.UUID:
    project = uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    return project


async def _ingest(db: asyncpg.Pool, project: uuid.UUID, *spans: TraceSpan) -> Ingested:
    monitors = MonitorRepository(db)
    log = LogCalls(monitors)

    async def log_calls(conn: Connection, calls: list[pb.LoggedCall], start: int) -> LogOutcome:
        return await log(project, [call_row(start + i, c) for i, c in enumerate(calls)], conn)

    return await TraceStore(db, monitors).ingest(project, by_trace(spans), log_calls)


async def _row(db: asyncpg.Pool, sql: str, *args: object) -> tuple[object, ...]:
    row = await db.fetchrow(sql, *args)
    assert row is not None
    return tuple(row)


async def _steps(db: asyncpg.Pool, project: uuid.UUID, trace: str) -> list[str]:
    spans = await db.fetchval(
        "SELECT spans FROM call_spans WHERE project_id = $1 AND call_id = $2", project, call_id_of(trace)
    )
    return [s["id"] for s in spans]


async def test_spans_wait_for_their_root_and_are_dropped_after_an_hour(db: asyncpg.Pool, project: uuid.UUID) -> None:
    first = await _ingest(db, project, _span("t1", "a"), _span("t2", "b"))
    assert (first.call_ids, first.pending_spans, first.logged.stored) == ([], 2, 0)
    assert (await _ingest(db, project, _span("t1", "c", parent="a", start_ms=2))).pending_spans == 2  # a, c

    done = await _ingest(db, project, _root("t1"), _span("t1", "d", parent="elsewhere"))
    assert (done.call_ids, done.logged.stored, done.pending_spans) == (["t1"], 1, 1)  # d's parent never came
    assert await _steps(db, project, "t1") == ["root", "a", "c"]
    kept = await db.fetch("SELECT trace_id, jsonb_array_length(spans) AS n FROM otlp_pending_spans ORDER BY trace_id")
    assert [(r["trace_id"], r["n"]) for r in kept] == [("t1", 1), ("t2", 1)]
    assert await _steps(db, project, "t1") == ["root", "a", "c"]

    store = TraceStore(db, MonitorRepository(db))
    assert await store.purge() == 0
    await db.execute("UPDATE otlp_pending_spans SET received_at = now() - interval '61 minutes'")
    late_root = await _ingest(db, project, _root("t2"))
    assert (late_root.logged.stored, late_root.pending_spans) == (1, 0)
    assert await _steps(db, project, "t2") == ["root"]  # past the hour: b was no longer joined
    assert await store.purge() == 1  # t1's d (t2's b went with its trace's export)
    assert await db.fetchval("SELECT count(*) FROM otlp_pending_spans") == 0
    await db.execute("UPDATE otlp_traces SET logged_at = now() - interval '61 minutes'")
    await store.purge()
    assert await db.fetchval("SELECT count(*) FROM otlp_traces") == 0


async def test_spans_after_their_call_are_added_to_it_and_what_it_used_with_them(
    db: asyncpg.Pool, project: uuid.UUID
) -> None:
    logged = await _ingest(db, project, _root("t1", tokens=5), _span("t1", "a", tokens=3))
    assert (logged.logged.stored, logged.added_spans) == (1, 0)
    used = "SELECT prompt_tokens, completion_tokens FROM logged_calls WHERE project_id = $1"
    assert await _row(db, used, project) == (8, 3)

    # A step that ended after the call did, with a child of its own, and one of an unknown parent.
    late = await _ingest(
        db,
        project,
        _span("t1", "b", parent="a", start_ms=20, tokens=100),
        _span("t1", "c", parent="b", start_ms=21),
        _span("t1", "x", parent="nowhere"),
    )
    assert (late.call_ids, late.logged.stored, late.added_spans, late.pending_spans) == ([], 0, 2, 1)
    spans = await db.fetchval("SELECT spans FROM call_spans WHERE project_id = $1", project)
    assert [(s["id"], s.get("parent_id", ""), s["start_ms"]) for s in spans] == [
        ("root", "", 0.0),
        ("a", "root", 1.0),
        ("b", "a", 20.0),
        ("c", "b", 21.0),
    ]
    assert await _row(db, used, project) == (108, 103)
    traffic = "SELECT sum(calls), sum(prompt_tokens), sum(completion_tokens) FROM call_stats WHERE project_id = $1"
    assert await _row(db, traffic, project) == (1, 108, 103)

    # The whole trace sent again, with one span more: a duplicate, the new span added.
    again = await _ingest(
        db, project, _root("t1", tokens=5), _span("t1", "a", tokens=3), _span("t1", "d", parent="root", start_ms=30)
    )
    assert (again.call_ids, again.logged.stored, again.logged.duplicates, again.added_spans) == (["t1"], 0, 1, 1)
    assert await _steps(db, project, "t1") == ["root", "a", "b", "c", "d"]
    assert (await _ingest(db, project, _span("t1", "d", parent="root"))).added_spans == 0  # held already

    # Tokens past what a count holds: the call says the most it can, as a call logged so would.
    assert (await _ingest(db, project, _span("t1", "e", parent="root", tokens=2**31 - 2))).added_spans == 1
    assert await _row(db, used, project) == (2**31 - 1, 2**31 - 1)


async def test_the_parts_of_traces_exported_at_the_same_instant_all_reach_their_calls(
    db: asyncpg.Pool, project: uuid.UUID
) -> None:
    """A collector sends exports side by side: a trace's children and its root may reach two
    replicas at once. Whichever goes first, the call ends with every span."""
    traces = [f"t{i}" for i in range(30)]

    async def children(trace: str) -> Ingested:
        return await _ingest(db, project, *(_span(trace, f"c{j}", start_ms=j + 1) for j in range(3)))

    async def root(trace: str) -> Ingested:
        return await _ingest(db, project, _root(trace))

    done = await asyncio.gather(*(part(t) for t in traces for part in (children, root)))
    assert sum(d.logged.stored for d in done) == 30
    for trace in traces:
        assert sorted(await _steps(db, project, trace)) == ["c0", "c1", "c2", "root"], trace
    assert await db.fetchval("SELECT count(*) FROM otlp_pending_spans") == 0


async def test_an_export_of_many_traces_is_taken_a_few_traces_at_a_time(db: asyncpg.Pool, project: uuid.UUID) -> None:
    """An export never holds more locks than PostgreSQL's lock table has room for."""
    traces = [f"t{i:03}" for i in range(2 * TRACES_PER_TRANSACTION + 7)]
    done = await _ingest(db, project, *(s for t in traces for s in (_span(t, "a"), _root(t))), _span("t-lone", "b"))
    assert (done.call_ids, done.logged.stored, done.pending_spans) == (traces, len(traces), 1)
    assert await db.fetchval("SELECT count(*) FROM call_spans WHERE jsonb_array_length(spans) = 2") == len(traces)
    again = await _ingest(db, project, *(_root(t) for t in traces))
    assert (again.call_ids, again.logged.stored, again.logged.duplicates) == (traces, 0, len(traces))


async def test_a_trace_whose_call_was_logged_otherwise_takes_its_later_spans_at_the_top(
    db: asyncpg.Pool, project: uuid.UUID
) -> None:
    """A call logged by LogCalls under the trace's id holds steps of its own: the trace's root sent
    after it is a duplicate, and a span inside that root (no step of the call) comes in top-level."""
    logged = pb.LoggedCall(call_id="t9", trace_id="t9", spans=[Span("x", "own step").to_proto()])
    await LogCalls(MonitorRepository(db))(project, [call_row(0, logged)])
    again = await _ingest(db, project, _root("t9"))
    assert (again.call_ids, again.logged.stored, again.logged.duplicates) == (["t9"], 0, 1)
    later = await _ingest(db, project, _span("t9", "y", parent="root", start_ms=5))
    assert later.added_spans == 1
    spans = await db.fetchval("SELECT spans FROM call_spans WHERE project_id = $1", project)
    assert [(s["id"], s.get("parent_id", "")) for s in spans] == [("x", ""), ("y", "")]
