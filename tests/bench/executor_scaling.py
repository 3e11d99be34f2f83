"""make bench-executor: one large run over 1, then 2 executor replicas.

N testcases against the demo system answering after a fixed latency, every service its own
process on the embedded PostgreSQL and NATS JetStream (``SCOREKEEPER_BUS=kafka``: Tansu), no
metrics (the executor is what is measured). Each executor may have ``--per-replica`` calls in
flight; the run allows twice that, so a second replica can double the throughput. For each case
it prints the time from kickoff to the last record stored, and how close that is to the bound
``testcases × latency / concurrency`` (concurrency: what the replicas together may run).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack, StackConfig, bus_from_env


@dataclass(frozen=True)
class Case:
    replicas: int
    seconds: float
    records: int
    errored: int
    bound_s: float
    # Mean latency of a system call as the executors saw it (their Prometheus histogram).
    call_ms: float


async def _call_seconds(stack: Stack) -> tuple[float, float]:
    """(sum, count) of the executors' system-call latency histograms."""
    total, count = 0.0, 0.0
    async with httpx.AsyncClient() as http:
        for process in stack.processes:
            if process.module != "services.system_executor":
                continue
            text = (await http.get(f"http://127.0.0.1:{process.http_port}/metrics")).text
            for name, value in re.findall(r"^scorekeeper_system_call_seconds_(sum|count) (\S+)$", text, re.M):
                if name == "sum":
                    total += float(value)
                else:
                    count += float(value)
    return total, count


async def _measure(
    stack: Stack, client: Client, ids: scenario.DemoIds, replicas: int, args: argparse.Namespace
) -> Case:
    concurrency = min(args.run_concurrency, replicas * args.per_replica)
    calls_before = await _call_seconds(stack)
    started = time.perf_counter()
    run = await client.create_run(
        ids.project_id,
        ids.testset_id,
        ids.system_version_id,
        [],
        max_concurrency=args.run_concurrency,
        notes=f"make bench-executor, {replicas} replica(s)",
    )
    while True:
        view = await client.get_run(run.id)
        if view.records >= view.expected_records or view.status in ("failed", "cancelled"):
            break
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    bound = args.testcases * args.latency_ms / 1000 / concurrency
    calls_after = await _call_seconds(stack)
    call_ms = 1000 * (calls_after[0] - calls_before[0]) / max(calls_after[1] - calls_before[1], 1)
    return Case(replicas, seconds, view.records, view.errored_records, bound, call_ms)


async def bench(args: argparse.Namespace) -> None:
    data_dir = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper")) / "bench-executor"
    bus, bus_url = bus_from_env()
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            bus=bus,
            bus_url=bus_url,
            replicas={"system_executor": 1},
            demo_latency_ms=args.latency_ms,
            env={"SCOREKEEPER_MAX_CONCURRENCY": str(args.per_replica)},
        )
    )
    await stack.start()
    cases: list[Case] = []
    try:
        async with Client(stack.orchestrator_grpc, stack.query_grpc, timeout_s=120, api_key=stack.admin_key) as client:
            ids = await scenario.prepare(client, stack.demo_system_url, args.testcases, name="bench-executor")
            # One attempt per call: the demo system's deliberate 1% of 500s are not retried
            # (backoff would hold run slots and blur the comparison with the bound).
            version = await client.create_http_system(
                ids.project_id,
                "demo-qa, one attempt",
                {
                    "url": stack.demo_system_url,
                    "body_template": {"question": "{{ inputs.question }}"},
                    "response_path": "answer",
                    "max_attempts": 1,
                },
            )
            ids = dataclasses.replace(ids, system_version_id=version.id)
            cases.append(await _measure(stack, client, ids, 1, args))
            await stack.add_replica("system_executor")
            cases.append(await _measure(stack, client, ids, 2, args))
    finally:
        await stack.stop()

    print(
        f"bench-executor: {args.testcases} testcases, demo system at {args.latency_ms:g} ms, "
        f"{args.per_replica} calls in flight per executor replica, run max_concurrency {args.run_concurrency}, "
        f"{stack.bus_label} + PostgreSQL 16, every service its own process"
    )
    for case in cases:
        print(
            f"  {case.replicas} replica(s): {case.records} records ({case.errored} errored, the demo system's 1%)"
            f" in {case.seconds:.2f}s = {case.records / case.seconds:,.0f} records/s;"
            f" bound {case.bound_s:.2f}s, {case.bound_s / case.seconds:.0%} of it;"
            f" mean call {case.call_ms:.1f} ms as the executors saw it"
        )
    print(f"  speed-up with 2 replicas: {cases[0].seconds / cases[1].seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench-executor")
    parser.add_argument("--testcases", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--per-replica", type=int, default=8, help="calls in flight per executor process")
    parser.add_argument("--run-concurrency", type=int, default=16, help="the run's max_concurrency")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
