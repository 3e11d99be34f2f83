"""A project's traffic over time (ListCalls' `traffic`): calls, errored calls, latency and cost per
hour or day. Of every call: read from the project's hourly figures (call_stats, migration 0048),
which LogCalls keeps — a month of a million calls in a few rows, not a read of the calls. Of the
calls a filter matches (a route, a model, a user's session, those with failing feedback …): read
from the calls themselves, exactly, at the cost of reading them."""

from __future__ import annotations

import uuid
from datetime import datetime

from asyncpg import Record
from scorekeeper.v1 import query_pb2 as pb

from services.query.breakdown import latency_sums
from services.query.db import Where
from shared.call_traffic import BUCKETS, percentile
from shared.db.pool import Connection
from shared.edge.convert import timestamp

# The newest buckets answered.
MAX_BUCKETS = 1000
_WHERE = (
    "s.project_id = $1 AND ($3::timestamptz IS NULL OR s.hour >= date_trunc('hour', $3::timestamptz, 'UTC'))"
    " AND ($4::timestamptz IS NULL OR s.hour < $4)"
)


async def traffic(
    conn: Connection, project_id: uuid.UUID, unit: str, after: datetime | None, before: datetime | None
) -> list[pb.CallTraffic]:
    """Of every call of the project, per hour or day (``unit``, UTC), oldest first, the buckets
    with calls: the newest MAX_BUCKETS."""
    args = (project_id, unit, after, before)
    rows = await conn.fetch(
        "SELECT date_trunc($2, s.hour, 'UTC') AS bucket, sum(s.calls)::bigint AS calls,"
        " sum(s.errored)::bigint AS errored, sum(s.latency_n)::bigint AS latency_n,"
        " sum(s.latency_sum) AS latency_sum, sum(s.prompt_tokens)::bigint AS prompt_tokens,"
        " sum(s.completion_tokens)::bigint AS completion_tokens, sum(s.cost_usd) AS cost_usd"
        f" FROM call_stats s WHERE {_WHERE} GROUP BY 1 ORDER BY 1 DESC LIMIT {MAX_BUCKETS}",
        *args,
    )
    hists: dict[datetime, list[int]] = {r["bucket"]: [0] * BUCKETS for r in rows}
    for h in await conn.fetch(
        "SELECT date_trunc($2, s.hour, 'UTC') AS bucket, u.i::int AS i, sum(u.x)::bigint AS n"
        f" FROM call_stats s, unnest(s.latency_hist) WITH ORDINALITY AS u(x, i) WHERE {_WHERE} AND u.x > 0"
        " GROUP BY 1, 2",
        *args,
    ):
        if h["bucket"] in hists:
            hists[h["bucket"]][h["i"] - 1] = h["n"]
    return [
        pb.CallTraffic(
            bucket_start=timestamp(r["bucket"]),
            calls=r["calls"],
            errored=r["errored"],
            latency_mean_ms=r["latency_sum"] / r["latency_n"] if r["latency_n"] else 0.0,
            latency_p50_ms=percentile(hists[r["bucket"]], 0.5),
            latency_p95_ms=percentile(hists[r["bucket"]], 0.95),
            prompt_tokens=r["prompt_tokens"],
            completion_tokens=r["completion_tokens"],
            cost_usd=r["cost_usd"],
        )
        for r in reversed(rows)
    ]


def call_sums(c: str) -> str:
    """What a group of calls (alias ``c``) sums to, as ``traffic_of`` reads it."""
    return (
        f"count(*) AS calls, count(*) FILTER (WHERE {c}.status = 'errored') AS errored,"
        f" {latency_sums(f'{c}.latency_ms')}, sum({c}.prompt_tokens)::bigint AS prompt_tokens,"
        f" sum({c}.completion_tokens)::bigint AS completion_tokens, coalesce(sum({c}.cost_usd), 0) AS cost_usd"
    )


def traffic_of(row: Record, bucket: datetime | None = None) -> pb.CallTraffic:
    """A row of ``call_sums`` (of the bucket starting at ``bucket``, if any)."""
    return pb.CallTraffic(
        bucket_start=timestamp(bucket) if bucket is not None else "",
        calls=row["calls"],
        errored=row["errored"],
        latency_mean_ms=row["latency_mean"],
        latency_p50_ms=row["latency_p50"],
        latency_p95_ms=row["latency_p95"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cost_usd=row["cost_usd"],
    )


async def matching_traffic(conn: Connection, where: Where, unit: str) -> list[pb.CallTraffic]:
    """The same of the calls (``c``, logged_calls) ``where`` matches, from the calls themselves: the
    percentiles exact; a call's latency counted when it was logged with one (above 0)."""
    bucket = f"date_trunc({where.param(unit)}, c.logged_at, 'UTC')"
    rows = await conn.fetch(
        f"SELECT {bucket} AS bucket, {call_sums('c')}"
        f" FROM logged_calls c WHERE {where.sql()} GROUP BY 1 ORDER BY 1 DESC LIMIT {MAX_BUCKETS}",
        *where.args,
    )
    return [traffic_of(r, r["bucket"]) for r in reversed(rows)]
