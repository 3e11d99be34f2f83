"""Spans waiting for their trace's root span on real PostgreSQL (monitors/pending_spans.py): kept
per export, read back as sent for their trace alone, forgotten once their call is logged (those
still waiting kept again in the same transaction), and
dropped after an hour by the retention pass — however many exports a trace came in."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from scorekeeper_sdk.tracing import Span
from services.run_orchestrator.monitors.otlp import TraceSpan
from services.run_orchestrator.monitors.pending_spans import PendingSpans

pytestmark = [pytest.mark.postgres]


def _span(trace: str, span: str) -> TraceSpan:
    step = Span(span, f"step {span}", kind="tool", input={"q": 1})
    return TraceSpan(trace, span, "r", False, 1, 2, step, call={"user": "u"})


async def test_spans_wait_for_their_root_and_are_dropped_after_an_hour(db: asyncpg.Pool) -> None:
    project = uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p')", project)
    pending = PendingSpans(db)
    await pending.settle(project, [], {"t1": [_span("t1", "a")], "t2": [_span("t2", "b")]})
    await pending.settle(project, [], {"t1": [_span("t1", "c")]})  # a later export of the same trace
    await pending.settle(project, [], {})

    found = await pending.earlier(project, ["t1", "t9"])
    assert list(found) == ["t1"] and found["t1"] == [_span("t1", "a"), _span("t1", "c")]
    assert await pending.earlier(uuid.uuid4(), ["t1"]) == {}  # another project's traces are not its own

    await pending.settle(project, ["t1"], {"t1": [_span("t1", "c")]})  # its call logged, c waits on
    assert await pending.earlier(project, ["t1"]) == {"t1": [_span("t1", "c")]}
    await pending.settle(project, ["t1"], {})
    assert await pending.earlier(project, ["t1"]) == {}
    assert list(await pending.earlier(project, ["t2"])) == ["t2"]

    assert await pending.purge() == 0
    await db.execute("UPDATE otlp_pending_spans SET received_at = now() - interval '61 minutes'")
    assert await pending.earlier(project, ["t2"]) == {}  # past the hour: no longer joined
    assert await pending.purge() == 1
    assert await db.fetchval("SELECT count(*) FROM otlp_pending_spans") == 0
