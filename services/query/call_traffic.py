"""A project's traffic over time (ListCalls' `traffic`): calls, errored calls, latency and cost per
hour or day, read from its hourly figures (call_stats, migration 0048), which LogCalls keeps —
a month of a million calls in a few rows, not a read of the calls."""

from __future__ import annotations

import uuid
from datetime import datetime

from scorekeeper.v1 import query_pb2 as pb

from shared.call_traffic import BUCKETS, percentile
from shared.db.pool import Connection
from shared.edge.convert import timestamp

_WHERE = (
    "s.project_id = $1 AND ($3::timestamptz IS NULL OR s.hour >= date_trunc('hour', $3::timestamptz, 'UTC'))"
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
