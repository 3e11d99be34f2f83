"""make bench-import: stream a large CSV into a testset over HTTP and watch the orchestrator's memory.

N rows (default 100,000) are generated on the fly and uploaded as a chunked body to
``POST /v1/testsets/{id}/testcases:import?format=csv`` of a running run-orchestrator process (the
whole stack, embedded PostgreSQL and NATS). Prints rows/s and the orchestrator's peak RSS (VmHWM
from /proc/<pid>/status) before and after: a streamed import keeps it flat, whatever N is; then
how long the first page (50) of a search of the imported testcases takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from scorekeeper_sdk import AsyncScorekeeper
from shared.devstack.stack import Stack, StackConfig

# Searches of the imported testcases: a word of one row, of every row, of none; a word and a word not.
SEARCHES = ("99999", "what", "nowhere", '"t3" -x')

SCHEMA = {
    "type": "object",
    "required": ["question", "answer"],
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "difficulty": {"type": "integer"},
        "score": {"type": "number"},
        "tags": {"type": "array"},
    },
}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


async def csv_body(rows: int, rows_per_chunk: int = 500) -> AsyncIterator[bytes]:
    yield b"question,answer,difficulty,score,tags,category\n"
    for start in range(0, rows, rows_per_chunk):
        lines = [
            f'"What is {i} + {i}, and why?",{2 * i},{i % 5 + 1},{(i % 100) / 100},"[""t{i % 7}"", ""x""]",arith\n'
            for i in range(start, min(start + rows_per_chunk, rows))
        ]
        yield "".join(lines).encode()


async def bench(rows: int) -> None:
    data_dir = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper")) / "bench-import"
    stack = Stack(StackConfig(data_dir=data_dir, demo_system=False))
    await stack.start()
    try:
        orchestrator = next(p for p in stack.processes if p.name == "run-orchestrator")
        async with stack.client() as client:
            project = await client.create_project("bench-import")
            testset = await client.create_testset(
                project.id,
                "imported",
                [{"question": "seed", "answer": "seed"}],
                inputs=["question"],
                expected=["answer"],
                json_schema=SCHEMA,
            )
            before = peak_rss_mib(orchestrator.pid)
            started = time.perf_counter()
            async with stack.http(stack.orchestrator_http, timeout=600) as http:
                response = await http.post(
                    f"/v1/testsets/{testset.id}/testcases:import",
                    params={"format": "csv", "replace": "true"},
                    content=csv_body(rows),
                )
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            result = response.json()
            after = peak_rss_mib(orchestrator.pid)
            export_started = time.perf_counter()
            exported = 0
            async for chunk in client.export_testcases(testset.id):
                exported += len(chunk)
            export_s = time.perf_counter() - export_started
            final = peak_rss_mib(orchestrator.pid)
        async with stack.sdk() as sdk:
            searched = [(words, *await first_page(sdk, testset.id, words)) for words in SEARCHES]
        print(f"bench-import: {rows:,} CSV rows streamed over HTTP into one testset version")
        print(
            f"  imported {result['imported']:,} testcases (version {result['testset']['version']}) in {elapsed:.2f}s:"
            f" {rows / elapsed:,.0f} rows/s"
        )
        print(f"  orchestrator peak RSS (VmHWM): {before:.1f} MiB before, {after:.1f} MiB after the import")
        print(f"  CSV export over gRPC: {exported / 1e6:.1f} MB in {export_s:.2f}s; peak RSS after it {final:.1f} MiB")
        for words, found, best, median in searched:
            shown = f"{found} testcases on the first page"
            print(f"  search {words!r}: {shown}, {best:.1f} ms best, {median:.1f} ms median of 5")
    finally:
        await stack.stop()


async def first_page(sdk: AsyncScorekeeper, testset_id: str, words: str) -> tuple[int, float, float]:
    """The first page (50) of a search: how many it held, the best and median of 5 times (ms)."""
    times, found = [], 0
    for _ in range(5):
        started = time.perf_counter()
        found = 0
        async for _testcase in sdk.list_testcases(testset_id, search=words, page_size=50):
            found += 1
            if found == 50:
                break
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return found, times[0], times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench-import")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(bench(args.rows))


if __name__ == "__main__":
    main()
