"""CompareRuns of two runs of 100,000 testcases each: ``make bench-compare``.

On the ``make bench-query`` dataset (its data directory; the full size by default): the dataset's
largest run (``support-tickets``, 100,000 records, 3 scores each) against a twin made for the
measurement — a run of the same testset whose records are the big run's, their latencies between
0.5 and 1.5 times, and every tenth score halved — written in one transaction, then removed (``--keep``
leaves it for another pass). Each case is a page of 50 through the query service over gRPC with a
key of the project: the first page and the one after it (a page token), warm, the median of
``--repeats``. The counts are checked against the same numbers counted by a plain SQL statement.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb
from shared.auth.bootstrap import local_admin_key
from tests.bench import query_bench
from tests.bench.latency import Timing, measure, print_table

TWIN = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
PAGE = 50


async def make_twin(conn: asyncpg.Connection, big: uuid.UUID) -> None:
    """The twin run: the big run's row, records and scores under new ids, some values changed."""
    columns = {
        table: await conn.fetchval(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)"
            " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1"
            " AND is_generated = 'NEVER'",
            table,
        )
        for table in ("runs", "records", "scores")
    }
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE twin_run ON COMMIT DROP AS SELECT * FROM runs WHERE id = $1", big)
        await conn.execute("UPDATE twin_run SET id = $1, created_at = created_at + interval '1 day'", TWIN)
        await conn.execute(f"INSERT INTO runs ({columns['runs']}) SELECT {columns['runs']} FROM twin_run")
        copy = "CREATE TEMP TABLE twin_{0} ON COMMIT DROP AS SELECT * FROM {0} WHERE run_id = $1"
        await conn.execute(copy.format("records"), big)
        await conn.execute(
            "UPDATE twin_records SET id = md5(id::text || 'twin')::uuid, run_id = $1,"
            " latency_ms = latency_ms * (0.5 + (hashtext(id::text) & 1023) / 1023.0)",
            TWIN,
        )
        await conn.execute(f"INSERT INTO records ({columns['records']}) SELECT {columns['records']} FROM twin_records")
        await conn.execute(copy.format("scores"), big)
        await conn.execute(
            "UPDATE twin_scores SET id = md5(id::text || 'twin')::uuid,"
            " record_id = md5(record_id::text || 'twin')::uuid, run_id = $1,"
            " value_num = CASE WHEN hashtext(id::text) % 10 = 0 THEN value_num / 2 ELSE value_num END",
            TWIN,
        )
        await conn.execute(f"INSERT INTO scores ({columns['scores']}) SELECT {columns['scores']} FROM twin_scores")
    await conn.execute("ANALYZE records")
    await conn.execute("ANALYZE scores")


async def remove_twin(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM scores WHERE run_id = $1", TWIN)
        await conn.execute("DELETE FROM records WHERE run_id = $1", TWIN)
        await conn.execute("DELETE FROM runs WHERE id = $1", TWIN)


async def expected_regressions(conn: asyncpg.Connection, big: uuid.UUID) -> dict[str, int]:
    """Per metric id, the testcases whose twin's mean value is below the big run's: counted apart."""
    rows = await conn.fetch(
        "SELECT v.metric_id::text, count(*) FILTER (WHERE b.value < a.value - 1e-9)::int AS regressions FROM"
        " (SELECT r.testcase_id, s.metric_version_id, avg(s.value_num) AS value FROM scores s JOIN records r"
        "   ON r.id = s.record_id WHERE s.run_id = $1 AND s.status = 'completed' GROUP BY 1, 2) a"
        " JOIN (SELECT r.testcase_id, s.metric_version_id, avg(s.value_num) AS value FROM scores s JOIN records r"
        "   ON r.id = s.record_id WHERE s.run_id = $2 AND s.status = 'completed' GROUP BY 1, 2) b"
        "   USING (testcase_id, metric_version_id)"
        " JOIN metric_versions v ON v.id = a.metric_version_id GROUP BY 1",
        big,
        TWIN,
    )
    return {r["metric_id"]: r["regressions"] for r in rows}


async def bench(client: Client, big: str, metric: str, testcase: str, repeats: int) -> list[tuple[str, Timing]]:
    cases: Sequence[tuple[str, dict[str, Any]]] = (
        ("by testcase (the default)", {}),
        ("regressions only", {"regressions_only": True}),
        ("the largest drop first", {"order_by": "delta"}),
        ("one metric's largest drop first", {"order_by": f"delta.{metric}"}),
        ("the most slowed first", {"order_by": "latency_delta desc"}),
        ("a slice (metadata.category)", {"fields": ["metadata.category=billing"]}),
        ("one testcase (the console's side by side)", {"testcase_ids": [testcase]}),
        (
            "where one testcase stands, the largest drop first (its previous / next)",
            {"around_testcase_id": testcase, "order_by": "delta"},
        ),
    )
    rows: list[tuple[str, Timing]] = []
    for name, options in cases:

        async def page(token: str = "", options: dict[str, Any] = options) -> qpb.CompareRunsResponse:
            return await client.compare_runs(str(TWIN), big, page_size=PAGE, page_token=token, **options)

        first = await page()
        print(f"  {name} …", flush=True)
        rows.append((f"{name}: first page", await measure(page, warmup=1, repeats=repeats)))
        if first.next_page_token:
            after = functools.partial(page, first.next_page_token)
            rows.append((f"{name}: next page", await measure(after, warmup=0, repeats=repeats)))
    matrix = qpb.CompareRunMatrixRequest(run_ids=[big, str(TWIN)], page_size=PAGE)
    print("  CompareRunMatrix …", flush=True)
    rows.append(
        (
            "CompareRunMatrix, the two runs side by side: first page",
            await measure(lambda: client.query.CompareRunMatrix(matrix, timeout=60), warmup=1, repeats=repeats),
        )
    )
    return rows


async def main_async(args: argparse.Namespace) -> None:
    url = await query_bench.prepare_database(args)
    conn = await asyncpg.connect(url)
    try:
        big = await conn.fetchval(
            "SELECT run_id FROM run_record_counts WHERE run_id <> $1"
            " GROUP BY run_id ORDER BY sum(records) DESC LIMIT 1",
            TWIN,
        )
        if not await conn.fetchval("SELECT count(*) FROM runs WHERE id = $1", TWIN):
            started = time.perf_counter()
            await make_twin(conn, big)
            print(f"the twin run written in {time.perf_counter() - started:.1f} s")
        expected = await expected_regressions(conn, big)
        metric = await conn.fetchval(
            "SELECT v.metric_id::text FROM runs r JOIN metric_versions v ON v.id = r.metric_version_ids[1]"
            " WHERE r.id = $1",
            big,
        )
        testcase = await conn.fetchval("SELECT testcase_id::text FROM records WHERE run_id = $1 LIMIT 1", big)
        records = await conn.fetchval("SELECT count(*) FROM records WHERE run_id = $1", TWIN)
    finally:
        await conn.close()
    admin_key, _ = local_admin_key(Path(args.data_dir))
    project_key = await query_bench.bench_project_key(url)
    proc, address = query_bench.start_query_service(url, Path(args.data_dir) / "logs", admin_key)
    try:
        await proc.wait_ready()
        async with Client(query=address, timeout_s=60, api_key=project_key) as client:
            whole = await client.compare_runs(str(TWIN), str(big), page_size=PAGE)
            counted = {m.metric_id: m.regressions for m in whole.metrics}
            if whole.testcases_compared != records or counted != expected:
                raise RuntimeError(f"CompareRuns counted {counted} of {whole.testcases_compared}, expected {expected}")
            print(f"measuring CompareRuns, {records:,} testcases a run, pages of {PAGE} (load {query_bench.load()}):")
            rows = await bench(client, str(big), metric, testcase, args.repeats)
    finally:
        await asyncio.to_thread(proc.terminate)
        if not args.keep:
            conn = await asyncpg.connect(url)
            try:
                await remove_twin(conn)
            finally:
                await conn.close()
    print()
    print(
        f"CompareRuns of two {records:,}-testcase runs; regressions per metric {sorted(expected.values())};"
        f" load after the run {query_bench.load()}"
    )
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.compare_large", description=__doc__.split("\n")[0])
    query_bench.database_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the twin run in the database")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
