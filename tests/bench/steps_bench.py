"""GetRunSteps and a record's steps at scale: ``make bench-steps``.

An embedded PostgreSQL of its own (``.scorekeeper/bench-steps``) holds one run of ``--records``
records (100,000 by default), each with the steps of a retrieval-augmented call: a retrieval holding
an embedding, a reranking, then the model call (``--failing`` of them failed), written with
``generate_series`` in one statement per table. Then, warm, the median of ``--repeats``:
GetRunSteps over the whole run (what the run page's *Steps across the run* and ``runs steps`` ask),
GetRecord of one record (its steps included), and ListRecords' first page (which leaves the steps
out), and its first page of the records whose steps match a condition, from one every record's
steps meet to one none meets. The sums are checked against the seeded numbers."""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
import uuid
from pathlib import Path

from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader
from services.query.records.reads import RecordReads
from services.query.run_steps import StepReads
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.embedded import ensure_database, postgres_server_url
from tests.bench.latency import Timing, measure, print_table
from tests.support.db_seed import seed

DATA_DIR = Path(".scorekeeper/bench-steps")

# Record n's steps: its times vary with n, every --failing-th model call failed.
_STEPS = """
INSERT INTO record_spans (record_id, spans)
SELECT r.id, jsonb_build_array(
    jsonb_build_object('id', '1', 'parent_id', '', 'name', 'retrieve', 'kind', 'retrieval', 'start_ms', 0,
                       'duration_ms', 20 + r.n % 30, 'input', 'question ' || r.n,
                       'output', jsonb_build_array('d1', 'd2')),
    jsonb_build_object('id', '2', 'parent_id', '1', 'name', 'embed', 'kind', 'embedding', 'start_ms', 1,
                       'duration_ms', 5 + r.n % 5, 'parent_name', 'retrieve'),
    jsonb_build_object('id', '3', 'parent_id', '', 'name', 'rerank', 'kind', 'tool', 'start_ms', 50,
                       'duration_ms', 3 + r.n % 7),
    jsonb_build_object('id', '4', 'parent_id', '', 'name', 'answer', 'kind', 'llm', 'start_ms', 60,
                       'duration_ms', 200 + r.n % 400, 'prompt_tokens', 100, 'completion_tokens', 20,
                       'cost_usd', 0.0001, 'error', CASE WHEN r.n % $2 = 0 THEN 'timeout' ELSE '' END))
FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM records WHERE run_id = $1) r
"""


async def build(dsn: str, records: int, failing: int) -> uuid.UUID:
    async with create_pool(dsn, max_size=2) as pool:
        run, _, _ = await seed(pool, 0, 1, [])
        testset = await pool.fetchval("SELECT testset_id FROM runs WHERE id = $1", run)
        await pool.execute(
            "INSERT INTO testcases (id, testset_id) SELECT md5('t' || n)::uuid, $1 FROM generate_series(1, $2) n",
            testset,
            records,
        )
        await pool.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status)"
            " SELECT md5('r' || n)::uuid, $1, md5('t' || n)::uuid, 0, '{}', '{}', '{}', 'completed'"
            " FROM generate_series(1, $2) n",
            run,
            records,
        )
        await pool.execute(_STEPS, run, failing)
        await pool.execute("ANALYZE")
        return run


async def main(args: argparse.Namespace) -> None:
    server = await asyncio.to_thread(postgres_server_url, DATA_DIR, keep_running=args.keep_running)
    dsn = await ensure_database(server, f"steps_v2_{args.records}")
    await migrate(dsn)
    async with create_pool(dsn, max_size=2) as pool:
        run = await pool.fetchval(
            "SELECT run_id FROM records GROUP BY run_id HAVING count(*) = $1 LIMIT 1", args.records
        )
    if run is None:
        started = time.perf_counter()
        run = await build(dsn, args.records, args.failing)
        print(f"seeded {args.records:,} records with 4 steps each in {time.perf_counter() - started:.1f}s")
    async with create_pool(dsn, max_size=2) as pool:
        reader = Reader(pool)
        steps, records = StepReads(reader), RecordReads(reader)
        found = await steps.get_run_steps(pb.GetRunStepsRequest(run_id=str(run)))
        names = [(s.name, s.depth, s.records, s.failed) for s in found.steps]
        failed = args.records // args.failing
        assert names == [
            ("retrieve", 0, args.records, 0),
            ("embed", 1, args.records, 0),
            ("rerank", 0, args.records, 0),
            ("answer", 0, args.records, failed),
        ], names
        assert found.steps[3].prompt_tokens == 100 * args.records
        one = await pool.fetchval("SELECT id FROM records WHERE run_id = $1 LIMIT 1", run)
        calls = {
            f"GetRunSteps, {args.records:,} records x 4 steps": lambda: steps.get_run_steps(
                pb.GetRunStepsRequest(run_id=str(run))
            ),
            "GetRecord with its 4 steps": lambda: records.get_record(pb.GetRecordRequest(record_id=str(one))),
            "ListRecords, first page of 50 (no steps)": lambda: records.list_records(
                pb.ListRecordsRequest(run_id=str(run), page_size=50)
            ),
        }
        # Records by their steps: the page walks the run's records until it holds 50 that match.
        for label, step in (
            ("every record's", "rerank"),
            (f"1 in {args.failing}'s", "answer:failed"),
            ("1 in 400's", "answer:gt:598.5"),
            ("no record's", "answer:gt:100000"),
        ):
            calls[f"ListRecords by {label} step ({step}), first page of 50"] = functools.partial(
                records.list_records, pb.ListRecordsRequest(run_id=str(run), page_size=50, steps=[step])
            )
        timings: list[tuple[str, Timing]] = [
            (name, await measure(call, warmup=1, repeats=args.repeats)) for name, call in calls.items()
        ]
    print_table(timings)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--failing", type=int, default=50, help="every n-th model call failed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep-running", action="store_true", help="leave its PostgreSQL up afterwards")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
