"""make bench-calls: the Calls page's reads on a project of a million logged production calls.

One project with ``--calls`` calls (1,000,000 by default) logged evenly over 30 days — a question
and an answer drawn from a vocabulary of 5,000 words, a route and a tier as metadata, one in ten
errored —, of which 10% got a thumbs up or down and 3% a 1–5 rating, bulk-loaded with SQL into the
embedded PostgreSQL under ``--data-dir`` (reused when complete). Only the query service runs, as its
own process; every figure is a ListCalls / GetCall through its public gRPC API with a key of the
project, one call at a time after warm-up calls, with other words, routes and pages from call to
call. What the console's Calls page asks is measured as it asks it (the last 24 hours, a page of 50
with the summary and the hourly trend; 30 days with the daily trend).

    python -m tests.bench.calls_bench                     # .scorekeeper/bench-calls
    python -m tests.bench.calls_bench --calls 200000      # a smaller project
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk import Client
from shared.auth.bootstrap import local_admin_key
from shared.auth.store import insert_key
from shared.db.migrate import migrate
from shared.embedded import configure_postgres, ensure_database, postgres_server_url
from tests.bench.latency import Timing, measure, print_table
from tests.bench.query_bench import server_settings, start_query_service

DATABASE_NAME = "scorekeeper_bench_calls"
PROJECT_ID = uuid.UUID("00000000-0000-4000-8000-00000000ca11")
THUMBS_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
RATING_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a2")
VOCABULARY = 5000
DAYS = 30
TIMEOUT_S = 60.0


async def seed(url: str, calls: int) -> None:
    """The project, its two feedback metrics and ``calls`` calls with their feedback (skipped when
    the project already holds them)."""
    conn = await asyncpg.connect(url)
    try:
        held = await conn.fetchval("SELECT count(*) FROM logged_calls WHERE project_id = $1", PROJECT_ID)
        if held == calls:
            return
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("DELETE FROM call_feedback WHERE project_id = $1", PROJECT_ID)
            await conn.execute("DELETE FROM logged_calls WHERE project_id = $1", PROJECT_ID)
            await conn.execute(
                "INSERT INTO projects (id, name) VALUES ($1, 'bench-calls') ON CONFLICT (id) DO NOTHING", PROJECT_ID
            )
            for metric_id, name, output_type, threshold in (
                (THUMBS_ID, "thumbs", "boolean", None),
                (RATING_ID, "rating", "int", 4),
            ):
                await conn.execute(
                    "INSERT INTO metrics (id, project_id, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    metric_id,
                    PROJECT_ID,
                    name,
                )
                await conn.execute(
                    "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, passing_threshold,"
                    " config) VALUES ($1, $1, 1, 'human', $2, $3, '{}') ON CONFLICT (id) DO NOTHING",
                    metric_id,
                    output_type,
                    threshold,
                )
            # Call n: logged n × (30 days / N) after the start; words w<k> of a 5,000-word vocabulary.
            await conn.execute(
                "INSERT INTO logged_calls (project_id, id, logged_at, inputs, outputs, metadata, status, error,"
                " latency_ms, call_key)"
                " SELECT $1, md5('call' || n)::uuid, now() - make_interval(days => $3) + n * ($3 * 86400.0 / $2)"
                "   * interval '1 second',"
                "  jsonb_build_object('question', 'how do I w' || (n * 7919 % $4) || ' my w' || (n * 104729 % $4)),"
                "  jsonb_build_object('answer', 'you can w' || (n * 15485863 % $4) || ' it in settings'),"
                "  jsonb_build_object('route', (ARRAY['orders', 'returns', 'account', 'search'])[n % 4 + 1],"
                "   'tier', CASE WHEN n % 5 = 0 THEN 'pro' ELSE 'free' END),"
                "  CASE WHEN n % 10 = 0 THEN 'errored' ELSE 'completed' END,"
                "  CASE WHEN n % 10 = 0 THEN 'timeout' ELSE '' END, 200 + n % 1300, 'req-' || n"
                " FROM generate_series(0::bigint, $2::bigint - 1) AS n",
                PROJECT_ID,
                calls,
                DAYS,
                VOCABULARY,
            )
            # A thumbs on call n when n % 10 = 3 (down when n % 7 = 0), a rating when n % 100 is 4, 17 or 56.
            await conn.execute(
                "INSERT INTO call_feedback (project_id, call_id, metric_id, metric_version_id, value, passed, author,"
                " call_logged_at)"
                " SELECT $1, c.id, $2, $2, v, v = 1, 'user-' || n % 977, c.logged_at FROM logged_calls c,"
                " LATERAL (SELECT substr(c.call_key, 5)::bigint AS n) k,"
                " LATERAL (SELECT CASE WHEN n % 7 = 0 THEN 0 ELSE 1 END AS v) t"
                " WHERE c.project_id = $1 AND n % 10 = 3",
                PROJECT_ID,
                THUMBS_ID,
            )
            await conn.execute(
                "INSERT INTO call_feedback (project_id, call_id, metric_id, metric_version_id, value, passed,"
                " call_logged_at)"
                " SELECT $1, c.id, $2, $2, 1 + n % 5, 1 + n % 5 >= 4, c.logged_at FROM logged_calls c,"
                " LATERAL (SELECT substr(c.call_key, 5)::bigint AS n) k"
                " WHERE c.project_id = $1 AND n % 100 IN (4, 17, 56)",
                PROJECT_ID,
                RATING_ID,
            )
            # The hourly traffic figures LogCalls would have kept (as migration 0048 counts older calls).
            await conn.execute(
                "INSERT INTO call_stats (project_id, hour, shard, calls, errored, latency_n, latency_sum,"
                " latency_hist, prompt_tokens, completion_tokens, cost_usd)"
                " SELECT project_id, date_trunc('hour', logged_at, 'UTC'), 0, count(*),"
                " count(*) FILTER (WHERE status = 'errored'), count(*) FILTER (WHERE latency_ms > 0),"
                " coalesce(sum(latency_ms) FILTER (WHERE latency_ms > 0), 0), call_latency_hist(array_agg(latency_ms)),"
                " sum(prompt_tokens), sum(completion_tokens), coalesce(sum(cost_usd), 0)"
                " FROM logged_calls WHERE project_id = $1 GROUP BY 1, 2",
                PROJECT_ID,
            )
        await conn.execute("ANALYZE logged_calls; ANALYZE call_feedback")
        print(f"seeded {calls:,} calls and their feedback in {time.perf_counter() - started:.0f}s")
    finally:
        await conn.close()


def _since(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def workload(client: Client, rng: random.Random, calls: int) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    """Each call a new request: other words, routes and calls."""
    project = str(PROJECT_ID)
    routes = ["orders", "returns", "account", "search"]

    def listing(**fields: object) -> Callable[[], Awaitable[object]]:
        def call() -> Awaitable[object]:
            chosen = {k: v() if callable(v) else v for k, v in fields.items()}
            request = qpb.ListCallsRequest(project_id=project, **chosen)  # type: ignore[arg-type]
            return client.query.ListCalls(request, timeout=TIMEOUT_S)  # type: ignore[no-any-return]

        return call

    def one() -> Awaitable[object]:
        # The seed's ids: md5('call' || n) as a UUID (the text id req-n is kept beside it).
        call_id = str(uuid.UUID(hashlib.md5(f"call{rng.randrange(calls)}".encode()).hexdigest()))
        return client.query.GetCall(qpb.GetCallRequest(project_id=project, call_id=call_id), timeout=TIMEOUT_S)  # type: ignore[no-any-return]

    word = lambda: f"w{rng.randrange(VOCABULARY)}"  # noqa: E731 - a value drawn per call
    return [
        (
            "Calls page: 24 h, 50 + summary + hourly trend",
            listing(logged_after=lambda: _since(1), page_size=50, with_summary=True, trend="hour"),
        ),
        (
            "Calls page: 30 days + daily trend",
            listing(logged_after=lambda: _since(30), page_size=50, with_summary=True, trend="day"),
        ),
        ("traffic per hour, 24 h", listing(page_size=1, trend="hour", logged_after=lambda: _since(1))),
        ("traffic per day, 30 days", listing(page_size=1, trend="day", logged_after=lambda: _since(30))),
        # Filtered, the traffic is read from the matching calls (a quarter of them: one route).
        (
            "Calls page: route=X, 24 h + hourly trend",
            listing(
                logged_after=lambda: _since(1),
                page_size=50,
                with_summary=True,
                trend="hour",
                metadata=lambda: [f"route={rng.choice(routes)}"],
            ),
        ),
        (
            "Calls page: route=X, 30 days + daily trend",
            listing(
                logged_after=lambda: _since(30),
                page_size=50,
                with_summary=True,
                trend="day",
                metadata=lambda: [f"route={rng.choice(routes)}"],
            ),
        ),
        ("breakdown by route, 24 h", listing(page_size=1, breakdown="route", logged_after=lambda: _since(1))),
        ("breakdown by route, 30 days", listing(page_size=1, breakdown="route", logged_after=lambda: _since(30))),
        ("newest 50, any time", listing(page_size=50)),
        ("thumbs failed, newest 50", listing(page_size=50, feedback=["thumbs=failed"])),
        ("route=X, newest 50", listing(page_size=50, metadata=lambda: [f"route={rng.choice(routes)}"])),
        ("errored, 24 h, 50", listing(page_size=50, status="errored", logged_after=lambda: _since(1))),
        ("search a word, 24 h, 50", listing(page_size=50, search=word, logged_after=lambda: _since(1))),
        ("search a word, any time, 50", listing(page_size=50, search=word)),
        ("GetCall", one),
    ]


async def bench(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    running = (data_dir / "pg" / "postmaster.pid").exists()
    server = await asyncio.to_thread(postgres_server_url, data_dir, keep_running=running)
    await configure_postgres(data_dir, server, server_settings())
    url = await ensure_database(server, DATABASE_NAME)
    await migrate(url)
    await seed(url, args.calls)
    conn = await asyncpg.connect(url)
    try:
        _, project_key = await insert_key(conn, PROJECT_ID, "bench-calls", "read")
    finally:
        await conn.close()
    admin_key, _ = local_admin_key(data_dir)
    proc, grpc_address = start_query_service(url, data_dir / "logs", admin_key)
    rows: list[tuple[str, Timing]] = []
    try:
        await proc.wait_ready()
        async with Client(query=grpc_address, timeout_s=TIMEOUT_S, api_key=project_key) as client:
            rng = random.Random(7)
            for name, call in workload(client, rng, args.calls):
                rows.append((name, await measure(call, warmup=args.warmup, repeats=args.repeats)))
    finally:
        await asyncio.to_thread(proc.terminate)
    print(f"bench-calls: {args.calls:,} logged calls over {DAYS} days (10% with a thumbs, 3% with a rating)")
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.calls_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=".scorekeeper/bench-calls", help="embedded PostgreSQL (reused)")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
