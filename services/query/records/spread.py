"""How records spread over created_at: the planner's histogram of records.created_at, which sizes
windows of time (plans/two_windows.py, plans/key_windows.py). A stale or skewed one costs time,
never rows."""

from __future__ import annotations

import time
from bisect import bisect_right
from datetime import datetime

from shared.db.pool import Connection

# The histogram is re-read this often, or this often while there is none yet (a new database).
TTL_S = 300.0
NO_SPREAD_TTL_S = 5.0


class Spread:
    """A histogram's ascending bounds, each bucket holding about as many records."""

    def __init__(self, bounds: list[datetime]) -> None:
        self._bounds = bounds
        self._buckets = len(bounds) - 1

    def below(self, t: datetime) -> float:
        """The fraction of records older than ``t``."""
        b = self._bounds
        if t <= b[0]:
            return 0.0
        if t >= b[-1]:
            return 1.0
        i = bisect_right(b, t) - 1
        width = (b[i + 1] - b[i]).total_seconds()
        within = (t - b[i]).total_seconds() / width if width > 0 else 0.0
        return (i + within) / self._buckets

    def at(self, fraction: float) -> datetime:
        """The time ``fraction`` of the records are older than (0 < fraction < 1)."""
        b = self._bounds
        scaled = fraction * self._buckets
        i = min(int(scaled), self._buckets - 1)
        return b[i] + (b[i + 1] - b[i]) * (scaled - i)


class SpreadCache:
    """records.created_at's histogram (the planner's, as fresh as ANALYZE), read again after a
    while; one per process."""

    def __init__(self) -> None:
        self._spread: Spread | None = None
        self._read_at = -TTL_S

    async def get(self, conn: Connection) -> Spread | None:
        ttl_s = TTL_S if self._spread is not None else NO_SPREAD_TTL_S
        if time.monotonic() - self._read_at >= ttl_s:
            bounds = await conn.fetchval(
                "SELECT histogram_bounds::text::timestamptz[] FROM pg_stats"
                " WHERE schemaname = current_schema() AND tablename = 'records' AND attname = 'created_at'"
            )
            self._spread = Spread(bounds) if bounds is not None and len(bounds) >= 3 else None
            self._read_at = time.monotonic()
        return self._spread
