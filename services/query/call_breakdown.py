"""ListCalls' `breakdown`: the calls a filter matches per value of a metadata key — which model
costs the most, which route errs, which customer's users are unhappy — each value's traffic and
feedback, read from the calls themselves. The values with the most calls are shown one by one; the
rest are summed in one group, and the calls without the key in another."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Where
from shared.db.pool import Connection
from shared.edge.errors import invalid

# The values shown one by one, the most calls first.
MAX_VALUES = 25
MAX_KEY = 200

# Which group a call is in, given its value (`v`) and the values shown one by one (`top`).
_KIND = "CASE WHEN {v} IS NULL THEN 'none' WHEN {v} = ANY({top}) THEN 'value' ELSE 'rest' END"


def _traffic_sql(where: Where, key: str) -> str:
    """Per group: its traffic. The calls are read twice — counted per value first (a hash
    aggregate, in parallel) to choose the values shown one by one, then summed per group — which
    is quicker than keeping every matching call for a second pass."""
    timed = "FILTER (WHERE g.latency_ms > 0)"
    v = f"c.metadata ->> {where.param(key)}"
    calls = f"FROM logged_calls c WHERE {where.sql()}"
    kind = _KIND.format(v=v, top="top.vals")
    return (
        f"WITH per AS MATERIALIZED (SELECT {v} AS v, count(*) AS n {calls} GROUP BY 1),"
        " top AS MATERIALIZED (SELECT array(SELECT v FROM per WHERE v IS NOT NULL"
        f" ORDER BY n DESC, v LIMIT {MAX_VALUES}) AS vals,"
        " (SELECT count(*) FROM per WHERE v IS NOT NULL)::int AS values_in)"
        " SELECT g.kind, g.value, max(g.values_in) AS values_in, count(*) AS calls,"
        " count(*) FILTER (WHERE g.status = 'errored') AS errored,"
        f" coalesce(avg(g.latency_ms) {timed}, 0) AS latency_mean,"
        f" coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY g.latency_ms) {timed}, 0) AS latency_p50,"
        f" coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY g.latency_ms) {timed}, 0) AS latency_p95,"
        " sum(g.prompt_tokens)::bigint AS prompt_tokens, sum(g.completion_tokens)::bigint AS completion_tokens,"
        " coalesce(sum(g.cost_usd), 0) AS cost_usd"
        f" FROM (SELECT {kind} AS kind, CASE WHEN {v} = ANY(top.vals) THEN {v} END AS value, top.values_in,"
        f" c.status, c.latency_ms, c.prompt_tokens, c.completion_tokens, c.cost_usd FROM top, logged_calls c"
        f" WHERE {where.sql()}) g GROUP BY 1, 2"
    )


def _feedback_sql(where: Where, key: str, top: list[str]) -> str:
    """Per group and metric: the feedback of its calls (read through the feedback rows)."""
    v = f"c.metadata ->> {where.param(key)}"
    kind = _KIND.format(v=v, top=where.param(top))
    return (
        f"SELECT t.kind, t.value, t.metric_id, m.name, t.given, t.passed, t.mean,"
        " (SELECT mv.output_type FROM metric_versions mv WHERE mv.metric_id = t.metric_id"
        "  ORDER BY mv.version DESC LIMIT 1) AS output_type"
        f" FROM (SELECT {kind} AS kind, CASE WHEN {kind} = 'value' THEN {v} END AS value, f.metric_id,"
        "  count(*)::int AS given, count(*) FILTER (WHERE f.passed)::int AS passed, avg(f.value) AS mean"
        "  FROM logged_calls c JOIN call_feedback f ON f.project_id = c.project_id AND f.call_id = c.id"
        f"  WHERE {where.sql()} GROUP BY 1, 2, 3) t JOIN metrics m ON m.id = t.metric_id"
        " ORDER BY m.name, t.metric_id"
    )


def _traffic(row: asyncpg.Record) -> pb.CallTraffic:
    return pb.CallTraffic(
        calls=row["calls"],
        errored=row["errored"],
        latency_mean_ms=row["latency_mean"],
        latency_p50_ms=row["latency_p50"],
        latency_p95_ms=row["latency_p95"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cost_usd=row["cost_usd"],
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
    rows = await conn.fetch(_traffic_sql(w := where(), key), *w.args)
    order = {"value": 0, "rest": 1, "none": 2}
    rows.sort(key=lambda r: (order[r["kind"]], -r["calls"], r["value"] or ""))
    groups = {
        (r["kind"], r["value"]): pb.CallGroup(
            value=r["value"] or "",
            rest=r["kind"] == "rest",
            rest_values=r["values_in"] - MAX_VALUES if r["kind"] == "rest" else 0,
            no_value=r["kind"] == "none",
            traffic=_traffic(r),
        )
        for r in rows
    }
    top = [r["value"] for r in rows if r["kind"] == "value"]
    for f in await conn.fetch(_feedback_sql(w := where(), key, top), *w.args) if rows else []:
        groups[(f["kind"], f["value"])].feedback.append(summed(f))
    return list(groups.values())


def breakdown_key(text: str) -> str:
    """The metadata key a breakdown asks for, checked; "" for none."""
    if text and not text.strip():
        raise invalid("breakdown must be a metadata key, not blank")
    if len(text) > MAX_KEY:
        raise invalid(f"breakdown must be a metadata key of at most {MAX_KEY} characters, got {len(text)}")
    return text
