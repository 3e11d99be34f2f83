"""A project's hourly traffic figures (call_stats, migration 0048): the latency histogram's buckets,
one rule for the orchestrator that counts calls and the query service that reads the figures back.

Bucket 0 holds latencies below 1 ms; bucket i those from 1.25^(i-1) up to 1.25^i ms; the last, 62,
those from 1.25^61 ms (about 13 minutes) on. The migration's SQL function call_latency_bucket
states the same rule for the calls it counted when it ran.
"""

from __future__ import annotations

import math

RATIO = 1.25
BUCKETS = 63


def bucket_of(ms: float) -> int:
    """The bucket of a latency above 0."""
    return 0 if ms < 1 else min(BUCKETS - 1, math.floor(math.log(ms) / math.log(RATIO)) + 1)


def histogram(latencies: list[float]) -> list[int]:
    """How many of the latencies above 0 fall in each bucket."""
    counts = [0] * BUCKETS
    for ms in latencies:
        if ms > 0:
            counts[bucket_of(ms)] += 1
    return counts


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
