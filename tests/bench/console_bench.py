"""The console's pages on the query benchmark's data (2,000 runs, 1,000,000 records at full size):
server time of the runs list with its charts, the 100,000-record run's page, the Records page and
the others, read from each response's Server-Timing header (the console's whole handling: its
gRPC calls included), and the wall time seen by the client.

    make bench-console                            # full size: seeds .scorekeeper/bench-query once
    make bench-console ARGS="--scale 0.1"         # a tenth of it (seeding takes minutes, not hours)

PostgreSQL, the query service, the run-orchestrator (the console lists projects through it) and
the console run as processes here; requests go one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import httpx

from shared.auth.bootstrap import local_admin_key
from shared.devstack.processes import ManagedProcess
from shared.embedded import free_port, start_nats
from tests.bench.latency import Timing, print_table
from tests.bench.query_bench import Workload, database_arguments, load_workload, prepare_database, warm

TARGET_MS = 300.0
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


def services(url: str, data_dir: Path, admin_key: str, nats_url: str) -> tuple[list[ManagedProcess], str]:
    ports = {name: free_port() for name in ("query.http", "query.grpc", "orch.http", "orch.grpc", "console")}
    console_url = f"http://127.0.0.1:{ports['console']}"
    common = {"SCOREKEEPER_ADMIN_KEY": admin_key, "SCOREKEEPER_DATABASE_URL": url, "SCOREKEEPER_BUS_URL": nats_url}
    log_dir = data_dir / "logs"
    query = ManagedProcess(
        "query-console-bench",
        "services.query",
        {
            **common,
            "SCOREKEEPER_HTTP_PORT": str(ports["query.http"]),
            "SCOREKEEPER_GRPC_PORT": str(ports["query.grpc"]),
            "SCOREKEEPER_PUBLIC_CONSOLE_URL": console_url,
        },
        ports["query.http"],
        log_dir,
    )
    orchestrator = ManagedProcess(
        "orchestrator-console-bench",
        "services.run_orchestrator",
        {
            **common,
            "SCOREKEEPER_HTTP_PORT": str(ports["orch.http"]),
            "SCOREKEEPER_GRPC_PORT": str(ports["orch.grpc"]),
            "SCOREKEEPER_TOPIC_PREFIX": "console-bench.",
        },
        ports["orch.http"],
        log_dir,
    )
    console = ManagedProcess(
        "console-bench",
        "services.console",
        {
            "SCOREKEEPER_HTTP_PORT": str(ports["console"]),
            "SCOREKEEPER_ORCHESTRATOR_GRPC": f"127.0.0.1:{ports['orch.grpc']}",
            "SCOREKEEPER_QUERY_GRPC": f"127.0.0.1:{ports['query.grpc']}",
        },
        ports["console"],
        log_dir,
    )
    return [query, orchestrator, console], console_url


def pages(w: Workload, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(name, paths) of the pages measured; each name's paths are taken round and round."""
    p = f"/projects/{w.project_id}"
    big = f"{p}/runs/{w.big_run.id}"
    conditions = []
    for _, requests in w.record_searches[:3]:
        for request in requests:
            metric, op, *value = request["where"][0].split(":")
            conditions.append(
                urlencode(
                    {"search": request["search"], "cond_metric": metric, "cond_op": op, "cond_value": "".join(value)}
                )
            )
    runs = [str(r.id) for r in w.runs]
    return [
        ("runs list + history charts", [f"{p}/runs"]),
        ("runs list by source + charts", [f"{p}/runs?source=ci", f"{p}/runs?source=api&status=completed"]),
        ("100k-record run page", [big]),
        ("100k-record run, search + score filter", [f"{big}?{q}" for q in conditions]),
        ("run page (any run)", [f"{p}/runs/{rng.choice(runs)}" for _ in range(50)]),
        ("Records page", [f"{p}/records"]),
        ("Records page, search + score filter", [f"{p}/records?{q}" for q in conditions]),
        ("compare (20 testcases)", [f"{p}/compare?baseline={a}&run={b}" for b, a in w.comparisons]),
        ("kickoff dialog", [f"{p}/kickoff"]),
    ]


async def measure_page(http: httpx.AsyncClient, paths: list[str], warmup: int, repeats: int) -> tuple[Timing, Timing]:
    server, wall = [], []
    for i in range(warmup + repeats):
        path = paths[i % len(paths)]
        response = await http.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        if i >= warmup:
            match = SERVER_TIMING.search(response.headers.get("server-timing", ""))
            if match is None:
                raise RuntimeError(f"{path}: no Server-Timing header")
            server.append(float(match.group(1)))
            wall.append(response.elapsed.total_seconds() * 1000)
    return Timing(tuple(server)), Timing(tuple(wall))


async def next_pages(http: httpx.AsyncClient, start: str, pages_deep: int) -> list[str]:
    """The run page's keyset pages: follow "Next page" links (the API's tokens) from ``start``."""
    found, path = [], start
    for _ in range(pages_deep):
        response = await http.get(path)
        link = re.search(r'href="([^"]+)" rel="next"', response.text)
        if link is None:
            break
        path = link.group(1).replace("&amp;", "&")
        found.append(path)
    return found


async def main_async(args: argparse.Namespace) -> None:
    url = await prepare_database(args)
    if not args.pg_defaults:
        await warm(url)
    workload = await load_workload(url, 20)
    data_dir = Path(args.data_dir)
    admin_key, _ = local_admin_key(data_dir)
    nats_port = free_port()
    nats = await asyncio.to_thread(start_nats, data_dir / "console-bench-nats", nats_port, detached=False)
    processes, console_url = services(url, data_dir, admin_key, f"nats://127.0.0.1:{nats_port}")
    try:
        for proc in processes:
            proc.start()
        await asyncio.gather(*(proc.wait_ready(120) for proc in processes))
        rng = random.Random(7)
        async with httpx.AsyncClient(base_url=console_url, cookies={"sk_session": admin_key}, timeout=60) as http:
            rows: list[tuple[str, Timing]] = []
            walls: list[tuple[str, Timing]] = []
            measured = pages(workload, rng)
            big = f"/projects/{workload.project_id}/runs/{workload.big_run.id}"
            measured.append(("100k-record run, pages 2-11 (keyset)", await next_pages(http, big, 10)))
            for name, paths in measured:
                if args.only and not any(o in name for o in args.only):
                    continue
                server, wall = await measure_page(http, paths, args.warmup, args.repeats)
                rows.append((name, server))
                walls.append((name, wall))
        print(f"\nserver time (Server-Timing), {args.repeats} requests a page:")
        print_table(rows, targets={name: TARGET_MS for name, _ in rows})
        print("\nwall time at the client (the same requests):")
        print_table(walls)
    finally:
        for proc in reversed(processes):
            await asyncio.to_thread(proc.terminate)
        nats.terminate()
        try:
            nats.wait(10)
        except subprocess.TimeoutExpired:
            nats.kill()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.console_bench", description=__doc__.split("\n")[0])
    database_arguments(parser)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--only", action="append", default=[], help="measure only pages whose name holds this")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
