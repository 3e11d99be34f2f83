"""make bench-http: CPU per call of the HTTP clients the executor could call http systems with.

The demo system runs as its own process; this process calls it N times (16 at once) with httpx
(the default pool and one of 16 connections) and with aiohttp (the executor's client since this
benchmark), and prints the calls per second and this process's CPU time per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from shared.embedded import free_port, port_open

CONCURRENCY = 16


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(calls: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def bounded(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(bounded(i) for i in range(200)))  # warm: connections open
    started, cpu = time.perf_counter(), _cpu_s()
    await asyncio.gather(*(bounded(i) for i in range(calls)))
    return time.perf_counter() - started, _cpu_s() - cpu


async def with_httpx(url: str, calls: int, connections: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one(i: int) -> None:
            (await client.post(url, json={"question": f"What is {i} + 1?"})).json()

        return await _measure(calls, one)


async def with_aiohttp(url: str, calls: int, connections: int) -> tuple[float, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def one(i: int) -> None:
            async with session.post(url, json={"question": f"What is {i} + 1?"}) as response:
                json.loads(await response.read())

        return await _measure(calls, one)


def _start_demo(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.demo_system"], env=os.environ | {"DEMO_SYSTEM_PORT": str(port)}
    )


async def bench(calls: int) -> None:
    port = free_port()
    demo = _start_demo(port)
    try:
        while not port_open(port):
            await asyncio.sleep(0.1)
        url = f"http://127.0.0.1:{port}/answer"
        print(f"bench-http: {calls} calls to the demo system, {CONCURRENCY} at once; load {os.getloadavg()[0]:.1f}")
        for name, client, connections in (
            ("httpx, 64 connections", with_httpx, 64),
            ("httpx, 16 connections", with_httpx, 16),
            ("aiohttp, 64 connections", with_aiohttp, 64),
            ("aiohttp, 16 connections", with_aiohttp, 16),
        ):
            wall, cpu = await client(url, calls, connections)
            print(f"  {name:24s} {calls / wall:6,.0f} calls/s   {1000 * cpu / calls:.3f} ms CPU a call (client)")
    finally:
        demo.terminate()
        demo.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench-http")
    parser.add_argument("--calls", type=int, default=5000)
    asyncio.run(bench(parser.parse_args().calls))


if __name__ == "__main__":
    main()
