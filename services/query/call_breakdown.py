"""ListCalls' `breakdown`: the calls a filter matches per value of a metadata key — which model
costs the most, which route errs, which customer's users are unhappy — each value's traffic and
feedback, read from the calls themselves (groups as services/query/breakdown.py makes them)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import breakdown as groups
from services.query.call_traffic import call_sums, traffic_of
from services.query.db import Where
from shared.db.pool import Connection
from shared.edge.errors import invalid

MAX_KEY = 200

_COLUMNS = "c.status, c.latency_ms, c.prompt_tokens, c.completion_tokens, c.cost_usd"


def _feedback_sql(where: Where, key: str, top: list[str]) -> str:
    """Per group and metric: the feedback of its calls (read through the feedback rows)."""
    kind, value = groups.in_groups(f"c.metadata ->> {where.param(key)}", where.param(top))
    return (
        "SELECT t.kind, t.value, t.metric_id, m.name, t.given, t.passed, t.mean,"
        " (SELECT mv.output_type FROM metric_versions mv WHERE mv.metric_id = t.metric_id"
        "  ORDER BY mv.version DESC LIMIT 1) AS output_type"
        f" FROM (SELECT {kind} AS kind, {value} AS value, f.metric_id,"
        "  count(*)::int AS given, count(*) FILTER (WHERE f.passed)::int AS passed, avg(f.value) AS mean"
        "  FROM logged_calls c JOIN call_feedback f ON f.project_id = c.project_id AND f.call_id = c.id"
        f"  WHERE {where.sql()} GROUP BY 1, 2, 3) t JOIN metrics m ON m.id = t.metric_id"
        " ORDER BY m.name, t.metric_id"
    )


async def breakdown(
    conn: Connection,
    where: Callable[[], Where],
    key: str,
    summed: Callable[[asyncpg.Record], pb.FeedbackSummary],
) -> list[pb.CallGroup]:
    """The groups of the calls ``where()`` matches (a new Where each time it is called) by the
    metadata ``key``, in the order ListCalls answers them; ``summed`` makes a feedback row a
    summary, as the response's summary does."""
    w = where()
    value = f"c.metadata ->> {w.param(key)}"
    rows = groups.in_order(
        await conn.fetch(groups.grouped(value, "logged_calls c", w.sql(), _COLUMNS, call_sums("g")), *w.args), "calls"
    )
    found = {
        (r["kind"], r["value"]): pb.CallGroup(
            value=r["value"] or "",
            rest=r["kind"] == "rest",
            rest_values=groups.rest_values(r),
            no_value=r["kind"] == "none",
            traffic=traffic_of(r),
        )
        for r in rows
    }
    for f in await conn.fetch(_feedback_sql(w := where(), key, groups.shown(rows)), *w.args) if rows else []:
        found[(f["kind"], f["value"])].feedback.append(summed(f))
    return list(found.values())


def breakdown_key(text: str) -> str:
    """The metadata key a breakdown asks for, checked; "" for none."""
    if text and not text.strip():
        raise invalid("breakdown must be a metadata key, not blank")
    if len(text) > MAX_KEY:
        raise invalid(f"breakdown must be a metadata key of at most {MAX_KEY} characters, got {len(text)}")
    return text
