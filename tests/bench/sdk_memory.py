"""make bench-sdk: run_and_evaluate over large testsets and the SDK process's peak memory.

Starts the stack (embedded PostgreSQL and NATS, every service), streams testsets of each size
into it, then evaluates a trivial Python system over each in a process of its own (8 threads, no
metric), and prints the calls per second and that process's peak RSS (VmHWM). The records are
uploaded as the calls run, a page of testcases is read at a time, so the peak stays flat whatever
the size; the services store the records afterwards, which this does not wait for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from shared.devstack.stack import Stack, StackConfig


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def child(url: str, query_url: str, key: str, project: str, testset: str) -> None:
    from scorekeeper_sdk import Scorekeeper
    from scorekeeper_sdk.evaluate import run_and_evaluate

    def system(inputs: dict[str, object]) -> str:
        return f"answer to {inputs['question']}"

    with Scorekeeper(url, key, query_url=query_url) as client:
        started = time.perf_counter()
        evaluation = run_and_evaluate(
            client, project_id=project, testset_id=testset, system=system, max_concurrency=8, progress=False
        )
        elapsed = time.perf_counter() - started
    print(f"{evaluation.uploaded} {elapsed:.2f} {peak_rss_mib():.1f}")


async def csv_rows(rows: int) -> AsyncIterator[bytes]:
    yield b"question,answer\n"
    for start in range(0, rows, 1000):
        yield "".join(f"What is {i} + {i}?,{2 * i}\n" for i in range(start, min(start + 1000, rows))).encode()


async def bench(sizes: list[int]) -> None:
    data_dir = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper")) / "bench-sdk"
    stack = Stack(StackConfig(data_dir=data_dir, demo_system=False))
    await stack.start()
    try:
        async with stack.client() as client:
            project = await client.create_project("bench-sdk")
            key = (await client.create_api_key(project.id, "bench", "write")).secret
            print(f"{'testcases':>10} {'seconds':>8} {'calls/s':>8} {'peak RSS':>9}")
            for size in sizes:
                testset = await client.create_testset(
                    project.id,
                    f"{size}",
                    [{"question": "seed", "answer": "0"}],
                    inputs=["question"],
                    expected=["answer"],
                )
                await client.import_testcases(testset.id, csv_rows(size), "csv", replace=True)
                args = [f"grpc://{stack.orchestrator_grpc}", f"grpc://{stack.query_grpc}", key, project.id, testset.id]
                done = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "tests.bench.sdk_memory", "--child", *args],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                uploaded, seconds, peak = done.stdout.split()
                assert int(uploaded) == size, done.stdout
                rate = size / float(seconds)
                print(f"{size:>10,} {float(seconds):>8.1f} {rate:>8.0f} {float(peak):>6.1f} MiB", flush=True)
    finally:
        await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.sdk_memory")
    parser.add_argument("--sizes", default="10000,100000", help="testcases per testset, comma-separated")
    parser.add_argument("--child", nargs=5, metavar=("URL", "QUERY_URL", "KEY", "PROJECT", "TESTSET"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    asyncio.run(bench([int(s) for s in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
