"""A project's traffic figures on real PostgreSQL: the latency buckets the migration's SQL counted
older calls in are the ones LogCalls counts new calls in (shared/call_traffic.py), and a quantile
read from a histogram lands in the right bucket."""

from __future__ import annotations

import json
import uuid
from functools import partial

import asyncpg
import pytest

from services.run_orchestrator.monitors.repository import CallRow, MonitorRepository
from shared.call_traffic import BUCKETS, bucket_of, histogram, percentile
from shared.db.pool import _init_connection

pytestmark = [pytest.mark.postgres]

# Latencies clear of the buckets' bounds (at a bound, floating point decides either way).
LATENCIES = [0.2, 0.999, 1.01, 1.24, 1.26, 1.6, 10.0, 99.9, 100.0, 1234.5, 60_000.0, 3_600_000.0]


async def test_sql_and_python_put_a_latency_in_the_same_bucket(db: asyncpg.Pool) -> None:
    buckets = await db.fetch("SELECT ms, call_latency_bucket(ms) AS b FROM unnest($1::float8[]) AS ms", LATENCIES)
    assert [r["b"] for r in buckets] == [bucket_of(ms) for ms in LATENCIES]
    assert bucket_of(3_600_000.0) == BUCKETS - 1
    hist = await db.fetchval("SELECT call_latency_hist($1::float8[])", [*LATENCIES, 0.0, -1.0])
    assert len(hist) == BUCKETS and sum(hist) == len(LATENCIES)  # 0 and below: not counted
    assert hist == histogram([*LATENCIES, 0.0, -1.0])
    added = await db.fetchval("SELECT call_hist_add($1::bigint[], $1::bigint[])", hist)
    assert added == [2 * n for n in hist]


def test_a_quantile_of_a_histogram_lands_in_its_bucket() -> None:
    hist = [0] * BUCKETS
    for ms in [10.0 * (n + 1) for n in range(100)]:  # 10 .. 1,000 ms
        hist[bucket_of(ms)] += 1
    for q, exact in ((0.5, 505.0), (0.95, 950.5), (0.99, 990.1)):
        assert bucket_of(percentile(hist, q)) == bucket_of(exact)
        assert exact / 1.25 <= percentile(hist, q) <= exact * 1.25
    assert percentile([0] * BUCKETS, 0.5) == 0.0


async def test_logged_calls_count_in_the_utc_hour_whatever_the_sessions_time_zone(database_url: str) -> None:
    """A database whose sessions are on India's clock (UTC+5:30) still counts calls in UTC hours."""
    init = partial(_init_connection, decoder=json.loads)
    async with asyncpg.create_pool(
        database_url, min_size=1, max_size=2, init=init, server_settings={"timezone": "Asia/Kolkata"}
    ) as pool:
        project = uuid.uuid4()
        await pool.execute("INSERT INTO projects (id, name) VALUES ($1, $2)", project, f"tz {project.hex[:6]}")
        calls = [
            CallRow(uuid.uuid4(), {"q": n}, {}, {}, "completed", "", 100.0 * (n + 1), 10, 2, 0.5, "", "")
            for n in range(3)
        ]
        await MonitorRepository(pool).log_calls(project, calls, lambda monitors, inserted: [])
        row = await pool.fetchrow(
            "SELECT extract(minute FROM hour AT TIME ZONE 'UTC') AS minute, sum(calls) AS calls,"
            " sum(latency_n) AS timed, sum(cost_usd) AS cost FROM call_stats WHERE project_id = $1 GROUP BY hour",
            project,
        )
    assert row is not None and (row["minute"], row["calls"], row["timed"], row["cost"]) == (0, 3, 3, 1.5)
