"""make bench-monitor: production calls logged at a steady rate through the SDK, a 10% sample scored.

Every service is its own process on the embedded PostgreSQL and NATS JetStream. ``--loaders``
processes (the applications) each call ``client.log(…)`` at their share of ``--rate`` for
``--seconds``; one monitor samples ``--sample`` % of the calls into windows of ``--window-calls``
sampled calls, scored by one heuristic metric. Every ``--every`` seconds it prints what the server
stored and scored in that interval; then the intake rate, the SDK's drops, the scoring rate, how far
scoring lagged behind when logging stopped and how long it took to catch up, the CPU each process
used, and the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from scorekeeper_sdk import AsyncScorekeeper
from shared.devstack.stack import Stack, StackConfig

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def postgres_pids(data_dir: Path) -> list[int]:
    """The postmaster of the stack's embedded PostgreSQL and its backends."""
    try:
        postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return [postmaster, *children]


@dataclass
class Sample:
    at: float
    stored: int
    scored: int
    sampled_closed: int


async def sample(db: asyncpg.Connection, project_id: str, monitor_id: str) -> Sample:
    stored = await db.fetchval("SELECT count(*) FROM logged_calls WHERE project_id = $1::uuid", project_id)
    scored = await db.fetchval(
        "SELECT coalesce(sum(a.scored + a.errored), 0) FROM run_metric_aggregates a JOIN runs r ON r.id = a.run_id"
        " WHERE r.monitor_id = $1::uuid",
        monitor_id,
    )
    closed = await db.fetchval(
        "SELECT coalesce(sum(calls), 0) FROM monitor_windows WHERE monitor_id = $1::uuid", monitor_id
    )
    return Sample(time.monotonic(), int(stored), int(scored), int(closed))


async def bench(args: argparse.Namespace) -> None:
    data_dir = Path(os.environ.get("SCOREKEEPER_DATA_DIR", ".scorekeeper")) / "bench-monitor"
    stack = Stack(StackConfig(data_dir=data_dir, demo_system=False))
    await stack.start()
    load_start = os.getloadavg()
    try:
        async with AsyncScorekeeper(
            f"grpc://{stack.orchestrator_grpc}", stack.admin_key, query_url=f"grpc://{stack.query_grpc}"
        ) as sk:
            project = await sk.create_project(f"bench-monitor {time.strftime('%Y-%m-%d %H:%M:%S')}")
            metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "Please"})
            monitor = await sk.create_monitor(
                project.id, "bench", [metric.id], sample_rate=args.sample, window_calls=args.window_calls
            )
            db = await asyncpg.connect(stack.database_url)
            services = {p.name: p.pid for p in stack.processes}
            pg = postgres_pids(data_dir)
            cpu_before = {name: cpu_seconds(pid) for name, pid in services.items()}
            pg_before = sum(cpu_seconds(p) for p in pg)
            loaders = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tests.bench.monitor_load",
                    f"--url=grpc://{stack.orchestrator_grpc}",
                    f"--key={stack.admin_key}",
                    f"--project={project.id}",
                    f"--rate={args.rate / args.loaders}",
                    f"--seconds={args.seconds}",
                    f"--seed={i * 10_000_000}",
                    stdout=asyncio.subprocess.PIPE,
                )
                for i in range(args.loaders)
            ]
            for loader in loaders:
                assert loader.stdout is not None
                json.loads(await loader.stdout.readline())  # ready
            started = time.monotonic()
            print(
                f"bench-monitor: {args.rate:,.0f} calls/s target for {args.seconds:g}s from {args.loaders} SDK"
                f" processes; {args.sample:g}% sampled into windows of {args.window_calls} calls, 1 heuristic metric"
            )
            print("    t   stored/s   scored/s   closed, not yet scored")
            samples = [await sample(db, project.id, monitor.id)]
            while any(p.returncode is None for p in loaders):
                await asyncio.sleep(args.every)
                samples.append(await sample(db, project.id, monitor.id))
                a, b = samples[-2], samples[-1]
                dt = b.at - a.at
                print(
                    f"{b.at - started:5.0f}s {(b.stored - a.stored) / dt:10,.0f} {(b.scored - a.scored) / dt:10,.0f}"
                    f" {b.sampled_closed - b.scored:10,}"
                )
            logging_done = time.monotonic()
            reports = [json.loads((await p.communicate())[0].decode().strip().splitlines()[-1]) for p in loaders]
            at_stop = samples[-1]
            # Scoring catches up: every closed window's run scored.
            while True:
                last = await sample(db, project.id, monitor.id)
                if last.scored >= last.sampled_closed and last.stored == sum(r["sent"] for r in reports):
                    break
                await asyncio.sleep(0.5)
            drained_s = time.monotonic() - logging_done
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in services.items()}
            pg_cpu = sum(cpu_seconds(p) for p in postgres_pids(data_dir)) - pg_before
            window = await db.fetchrow(
                "SELECT min(logged_at) AS first, max(logged_at) AS last, count(*) AS n FROM logged_calls"
                " WHERE project_id = $1::uuid",
                project.id,
            )
            pending = await db.fetchval("SELECT count(*) FROM monitor_samples WHERE monitor_id = $1::uuid", monitor.id)
            await db.close()
            assert window is not None
    finally:
        await stack.stop()
    span = (window["last"] - window["first"]).total_seconds()
    wall = drained_s + (logging_done - started)
    # The intervals in full swing: after the first, before the last (the loaders finishing).
    steady = [(b.stored - a.stored) / (b.at - a.at) for a, b in itertools.pairwise(samples[1:-1])]
    print()
    print(f"logged:   {window['n']:,} calls stored in {span:.1f}s = {window['n'] / span:,.0f} calls/s", end="")
    if steady:
        print(f" (intervals after the first: min {min(steady):,.0f}, max {max(steady):,.0f} calls/s)")
    print(
        f"SDK:      {sum(r['logged'] for r in reports):,} logged, {sum(r['sent'] for r in reports):,} sent,"
        f" {sum(r['dropped'] for r in reports):,} dropped;"
        f" log() p50 / p99 / p99.9 / max {' / '.join(_worst(reports, q) for q in ('50', '99', '99.9', '100'))} ms;"
        f" loaders' CPU {sum(r['cpu_s'] for r in reports):.1f}s"
    )
    print(
        f"sampled:  {last.sampled_closed + pending:,} ({(last.sampled_closed + pending) / window['n']:.2%});"
        f" {last.scored:,} scored in closed windows, {pending} waiting in the open window"
    )
    print(
        f"scoring:  {at_stop.scored / (at_stop.at - started):,.0f} scores/s while logging; when logging stopped"
        f" {at_stop.sampled_closed - at_stop.scored:,} closed calls were not yet scored;"
        f" all scored {drained_s:.1f}s later"
    )
    print(f"CPU over {wall:.0f}s (core-seconds, 2 cores = {2 * wall:.0f}):")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<18} {seconds:7.1f}")
    print(f"  {'postgresql':<18} {pg_cpu:7.1f}")
    print(f"load average: {load_start[0]:.1f} before, {os.getloadavg()[0]:.1f} after (1-minute)")


def _worst(reports: list[dict[str, Any]], q: str) -> str:
    """The worst loader's percentile of log() durations."""
    return f"{max(r['log_ms'][q] for r in reports):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench-monitor")
    parser.add_argument("--rate", type=float, default=5000, help="calls logged per second, over all loaders")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--loaders", type=int, default=2, help="SDK processes logging")
    parser.add_argument("--sample", type=float, default=10, help="percent sampled")
    parser.add_argument("--window-calls", type=int, default=500)
    parser.add_argument("--every", type=float, default=5, help="seconds between progress lines")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
