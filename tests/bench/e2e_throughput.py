"""make bench: end-to-end throughput, kickoff to completion, every service as its own process.

N testcases × 3 heuristic metrics against the demo system at zero latency, on the embedded
PostgreSQL and NATS JetStream (``SCOREKEEPER_BUS=kafka``: Tansu; ``SCOREKEEPER_BUS_URL``: that
broker). Prints records/s and scores/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack, StackConfig, bus_from_env


async def bench(testcases: int, replicas: int) -> None:
    data_dir = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper")) / "bench"
    bus, bus_url = bus_from_env()
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            bus=bus,
            bus_url=bus_url,
            replicas={"scorer": replicas, "system_executor": 1, "run_orchestrator": replicas},
        )
    )
    await stack.start()
    try:
        async with Client(stack.orchestrator_grpc, stack.query_grpc, timeout_s=120, api_key=stack.admin_key) as client:
            ids = await scenario.prepare(client, stack.demo_system_url, testcases, name="bench")
            started = time.perf_counter()
            run = await client.create_run(
                ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, notes="make bench"
            )
            executed_at = None
            while True:
                view = await client.get_run(run.id)
                if executed_at is None and view.records == view.expected_records:
                    executed_at = time.perf_counter() - started
                if view.status in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            print(
                f"bench: {testcases} testcases x {len(ids.metric_ids)} heuristic metrics, demo system at 0 ms, "
                f"{replicas} orchestrator/scorer replica(s), 1 executor, {stack.bus_label} + PostgreSQL 16"
            )
            print(
                f"  status {view.status}: {view.records} records ({view.errored_records} errored), {view.scores} scores"
            )
            print(f"  all records in after {executed_at:.2f}s; completed after {elapsed:.2f}s")
            print(f"  records/s: {view.records / elapsed:,.0f}")
            print(f"  scores/s:  {view.scores / elapsed:,.0f}")
    finally:
        await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--testcases", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=1, help="replicas of the orchestrator and the scorer")
    args = parser.parse_args()
    asyncio.run(bench(args.testcases, args.replicas))


if __name__ == "__main__":
    main()
