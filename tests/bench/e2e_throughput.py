"""make bench: end-to-end throughput, kickoff to completion, every service as its own process.

N testcases × 3 heuristic metrics against the demo system at zero latency, on the embedded
PostgreSQL and NATS JetStream (``SCOREKEEPER_BUS=kafka``: Tansu; ``SCOREKEEPER_BUS_URL``: that
broker). Prints, with the machine's load and how many records and scores the database already held
(earlier runs stay in it): a 10-testcase run's kickoff → completed (median of 3),
the N-testcase run's records/s and scores/s (kickoff to completed, and between 10% and 90% of its
records), the CPU each process used per testcase (the services, PostgreSQL, the broker), each
service's peak RSS (its process and its worker processes) and, per replica, the events it handled
(how the work was shared). ``--repeat R`` (``REPEAT=R make bench``) runs the N testcases R times
on the same stack, one run after another, and prints each run and the medians: back-to-back runs
on a small machine vary by ±10%.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb
from shared.devstack import scenario
from shared.devstack.processes import ManagedProcess
from shared.devstack.stack import Stack, StackConfig, bus_from_env

SMALL = 10


@dataclass
class Timeline:
    """When a run got there, in seconds from its kickoff."""

    completed: float = 0.0
    all_records: float | None = None
    # (seconds, records in) at the first poll past 10% and past 90% of the records
    tenth: tuple[float, int] | None = None
    ninetieth: tuple[float, int] | None = None

    def steady_rate(self) -> float | None:
        """Records a second between 10% and 90% of them: the pipeline's pace, without the ramp
        at the start and the last retries' backoff at the end."""
        if self.tenth is None or self.ninetieth is None or self.ninetieth[0] <= self.tenth[0]:
            return None
        return (self.ninetieth[1] - self.tenth[1]) / (self.ninetieth[0] - self.tenth[0])


async def _run(client: Client, ids: scenario.DemoIds, notes: str, poll_s: float = 0.02) -> tuple[Timeline, qpb.RunView]:
    """Kick a run off and poll it to its end. Each poll is a GetRun (~0.5 ms of the query service
    and as much of PostgreSQL): the large run is polled every 0.1 s, not to measure the
    benchmark's own reads."""
    started = time.perf_counter()
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, notes=notes)
    timeline = Timeline()
    while True:
        view = await client.get_run(run.id)
        at = time.perf_counter() - started
        if timeline.tenth is None and view.records >= view.expected_records / 10:
            timeline.tenth = (at, view.records)
        if timeline.ninetieth is None and view.records >= view.expected_records * 9 / 10:
            timeline.ninetieth = (at, view.records)
        if timeline.all_records is None and view.records == view.expected_records:
            timeline.all_records = at
        if view.status in ("completed", "failed", "cancelled"):
            timeline.completed = at
            return timeline, view
        await asyncio.sleep(poll_s)


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += [int(child), *_children(int(child))]
    except OSError:
        pass
    return found


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process and its worker processes have used so far."""
    total = 0.0
    for one in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # an outside PostgreSQL (SCOREKEEPER_DATABASE_URL): not measured


def _cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each service, and of the embedded PostgreSQL (with its backends) and
    the broker the stack started."""
    cpu = {p.name: _cpu_s(p.pid) for p in stack.processes if p.running()}
    if (postmaster := _postmaster_pid(stack.config.data_dir)) is not None:
        cpu["postgresql"] = _cpu_s(postmaster)
    if stack.broker_pid is not None:
        cpu[stack.bus_kind if stack.bus_kind == "nats" else "tansu"] = _cpu_s(stack.broker_pid)
    return cpu


async def _handled(process: ManagedProcess) -> dict[str, float]:
    """Events this process handled, by topic (its /metrics)."""
    counts: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{process.http_port}/metrics")).text
    for line in text.splitlines():
        if line.startswith("scorekeeper_messages_handled_total{"):
            labels, value = line.rsplit(" ", 1)
            topic = labels.split('topic="', 1)[1].split('"', 1)[0]
            counts[topic] = counts.get(topic, 0) + float(value)
    return counts


async def _report_processes(stack: Stack, cpu: dict[str, float], testcases: int) -> None:
    print("  CPU per testcase of the N-testcase run(s) (ms; each process with its workers):")
    print(f"    all {sum(cpu.values()) * 1000 / testcases:.2f}:")
    print("    " + ", ".join(f"{name} {seconds * 1000 / testcases:.2f}" for name, seconds in cpu.items() if seconds))
    print("  peak RSS per process (MB; + its worker processes):")
    for p in stack.processes:
        if not p.running():
            continue
        workers = _children(p.pid)
        extra = f" + {sum(_peak_rss_mb(w) for w in workers):,.0f} in {len(workers)} workers" if workers else ""
        handled = await _handled(p) if p.name != "demo-system" else {}
        shown = ", ".join(f"{t} {n:,.0f}" for t, n in sorted(handled.items()))
        print(f"    {p.name:<22} {_peak_rss_mb(p.pid):>6,.0f}{extra}" + (f"; handled: {shown}" if shown else ""))


async def _held_rows(database_url: str) -> str:
    """What the database already holds (earlier bench runs stay in it): inserts into larger indexes
    cost more, so figures compare best at similar sizes."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM records) AS records, (SELECT count(*) FROM scores) AS scores,"
            " pg_total_relation_size('records') + pg_total_relation_size('scores') AS bytes"
        )
    finally:
        await conn.close()
    assert row is not None  # a SELECT without FROM returns its one row
    return f"{row['records']:,} records, {row['scores']:,} scores ({row['bytes'] / 2**30:.1f} GiB with their indexes)"


async def _wal_lsn(database_url: str) -> str:
    """Where PostgreSQL's write-ahead log is: the log written per testcase is what every commit,
    checkpoint and full-page image costs."""
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))
    finally:
        await conn.close()


async def _wal_bytes(database_url: str, since: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", since))
    finally:
        await conn.close()


def _print_run(timeline: Timeline, view: qpb.RunView) -> None:
    elapsed = timeline.completed
    print(f"  status {view.status}: {view.records} records ({view.errored_records} errored), {view.scores} scores")
    print(f"  all records in after {timeline.all_records or 0:.2f}s; completed after {elapsed:.2f}s")
    print(f"  testcases/s: {view.records / elapsed:,.0f} (kickoff to completed)")
    if (steady := timeline.steady_rate()) is not None and timeline.tenth and timeline.ninetieth:
        print(
            f"  testcases/s between 10% and 90% of the records: {steady:,.0f}"
            f" (10% in after {timeline.tenth[0]:.2f}s, 90% after {timeline.ninetieth[0]:.2f}s)"
        )
    print(f"  scores/s:    {view.scores / elapsed:,.0f}")


async def bench(testcases: int, replicas: int, repeat: int = 1) -> None:
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
        print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min)")
        print(f"the database held before: {await _held_rows(stack.database_url)}")
        async with Client(stack.orchestrator_grpc, stack.query_grpc, timeout_s=120, api_key=stack.admin_key) as client:
            small = await scenario.prepare(client, stack.demo_system_url, SMALL, name="bench small")
            quick = [(await _run(client, small, "make bench, small"))[0].completed for _ in range(4)][1:]
            ids = await scenario.prepare(client, stack.demo_system_url, testcases, name="bench")
            before = _cpu(stack)
            wal_from = await _wal_lsn(stack.database_url)
            runs = [await _run(client, ids, "make bench", poll_s=0.1) for _ in range(repeat)]
            cpu = {name: seconds - before.get(name, 0.0) for name, seconds in _cpu(stack).items()}
            wal = await _wal_bytes(stack.database_url, wal_from)
            print(
                f"bench: {testcases} testcases x {len(ids.metric_ids)} heuristic metrics, demo system at 0 ms, "
                f"{replicas} orchestrator/scorer replica(s), 1 executor, {stack.bus_label} + PostgreSQL 16"
            )
            print(
                f"  a {SMALL}-testcase run, kickoff to completed: {statistics.median(quick) * 1000:,.0f} ms"
                " (median of 3)"
            )
            for number, (timeline, view) in enumerate(runs, 1):
                if repeat > 1:
                    print(f"  run {number} of {repeat}:")
                _print_run(timeline, view)
            if repeat > 1:
                rates = [view.records / timeline.completed for timeline, view in runs]
                steady = [rate for timeline, _ in runs if (rate := timeline.steady_rate()) is not None]
                print(
                    f"  median of {repeat} runs: {statistics.median(rates):,.0f} testcases/s kickoff to completed"
                    + (f", {statistics.median(steady):,.0f} between 10% and 90%" if steady else "")
                )
            await _report_processes(stack, cpu, testcases * repeat)
            print(f"  PostgreSQL's write-ahead log: {wal / (testcases * repeat) / 1024:,.1f} KiB per testcase")
            print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        await stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--testcases", type=int, default=2000)
    parser.add_argument("--replicas", type=int, default=1, help="replicas of the orchestrator and the scorer")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of N testcases one after another (each printed, then the median)"
    )
    args = parser.parse_args()
    if args.testcases < 1 or args.repeat < 1:
        parser.error("--testcases and --repeat must be at least 1")
    asyncio.run(bench(args.testcases, args.replicas, args.repeat))


if __name__ == "__main__":
    main()
