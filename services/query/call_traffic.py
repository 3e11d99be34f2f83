"""A project's traffic over time (ListCalls' `traffic`): calls, errored calls, latency and cost per
hour or day, read from its hourly figures (call_stats, migration 0048), which LogCalls keeps —
a month of a million calls in a few rows, not a read of the calls."""

from __future__ import annotations

import uuid
from datetime import datetime

from scorekeeper.v1 import query_pb2 as pb

from shared.db.pool import Connection
from shared.edge.convert import timestamp

# The latency histogram's buckets (call_latency_bucket in SQL): 0 below 1 ms; i from 1.25^(i-1)
# up to 1.25^i ms; the last, 62, from 1.25^61 ms (about 13 minutes) on.
RATIO = 1.25
BUCKETS = 63


def _bounds(bucket: int) -> tuple[float, float]:
    if bucket == 0:
        return 0.0, 1.0
    return RATIO ** (bucket - 1), RATIO**bucket


def percentile(hist: list[int], q: float) -> float:
    """The q-quantile (0..1) of the latencies a histogram counts, interpolated within its bucket
    (geometrically: latencies spread evenly on a log scale); 0 for an empty one."""
    total = sum(hist)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for bucket, count in enumerate(hist):
        if count and seen + count >= rank:
            low, high = _bounds(bucket)
            share = (rank - seen) / count
            return low + (high - low) * share if bucket == 0 else low * (high / low) ** share
        seen += count
    return _bounds(len(hist) - 1)[0]


_WHERE = (
    "s.project_id = $1 AND ($3::timestamptz IS NULL OR s.hour >= date_trunc('hour', $3::timestamptz))"
    " AND ($4::timestamptz IS NULL OR s.hour < $4)"
)


async def traffic(
    conn: Connection, project_id: uuid.UUID, unit: str, after: datetime | None, before: datetime | None
) -> list[pb.CallTraffic]:
    """Per hour or day (``unit``, UTC), oldest first, the buckets with calls: the newest 1,000."""
    args = (project_id, unit, after, before)
    rows = await conn.fetch(
        "SELECT date_trunc($2, s.hour, 'UTC') AS bucket, sum(s.calls)::bigint AS calls,"
        " sum(s.errored)::bigint AS errored, sum(s.latency_n)::bigint AS latency_n,"
        " sum(s.latency_sum) AS latency_sum, sum(s.prompt_tokens)::bigint AS prompt_tokens,"
        " sum(s.completion_tokens)::bigint AS completion_tokens, sum(s.cost_usd) AS cost_usd"
        f" FROM call_stats s WHERE {_WHERE} GROUP BY 1 ORDER BY 1 DESC LIMIT 1000",
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
