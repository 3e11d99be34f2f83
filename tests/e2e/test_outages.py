"""Ordinary outages never wedge a run nor lose an event: PostgreSQL stopped for longer than the
whole redelivery schedule, NATS stopped for three minutes. Each test has a database and a broker
of its own, stopped and started again by the test."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.devstack import scenario
from shared.devstack.stack import Stack, StackConfig
from shared.embedded import ensure_database, free_port, start_nats
from shared.embedded_kafka import fast_join_env
from tests.support.broker_view import dead_letter_count
from tests.support.postgres import OwnPostgres, own_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

TESTCASES = 120
# The broker's own outage is a restart, and Tansu keeps topics and offsets in memory only.
TANSU_RESTART = "a broker restart needs Apache Kafka: Tansu (memory storage) loses every topic and offset"


async def _stack(tmp: Path, database_url: str, bus_url: str, env: dict[str, str]) -> Stack:
    if bus_url.startswith("kafka://"):
        env = {**fast_join_env(), **env}
    stack = Stack(
        StackConfig(
            data_dir=tmp / "stack",
            database_url=database_url,
            bus_url=bus_url,
            topic_prefix=f"o{uuid.uuid4().hex[:8]}.",
            demo_latency_ms=40,
            env=env,
        )
    )
    await stack.start()
    return stack


async def _healthz_answers(stack: Stack) -> list[int]:
    async with httpx.AsyncClient(timeout=3) as http:
        codes = []
        for process in stack.processes:
            if process.name == "demo-system":
                continue
            try:
                codes.append((await http.get(f"http://127.0.0.1:{process.http_port}/healthz")).status_code)
            except httpx.HTTPError:
                codes.append(0)
        return codes


@pytest.fixture
async def nats_of_its_own(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    port = free_port()
    yield port, tmp_path / "nats"


@pytest.fixture
def database() -> Iterator[OwnPostgres]:
    with own_postgres() as server:
        yield server


async def test_postgresql_down_longer_than_the_redelivery_schedule_loses_nothing(
    tmp_path: Path, bus_url: str, database: OwnPostgres
) -> None:
    # Two deliveries, 1 s apart at most: the outage below outlasts the whole schedule many times.
    env = {"SCOREKEEPER_MAX_DELIVERIES": "2", "SCOREKEEPER_REDELIVERY_MAX_S": "1"}
    stack = await _stack(tmp_path, await ensure_database(database.url, "scorekeeper"), bus_url, env)
    try:
        async with stack.client() as client:
            demo = await scenario.prepare(client, stack.demo_system_url, TESTCASES, name="pg-outage")
            run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
            while (await client.get_run(run.id)).records < 10:
                await asyncio.sleep(0.1)
        database.stop()
        await asyncio.sleep(20)
        assert set(await _healthz_answers(stack)) == {200}  # alive, only not ready
        database.start()
        async with stack.client() as client:
            final = await client.wait_for_run(run.id, timeout_s=180)
        assert (final.status, final.records, final.errored_records) == ("completed", TESTCASES, 1)
        assert final.scores == final.expected_scores == (TESTCASES - 1) * 3
        assert await dead_letter_count(stack) == 0
    finally:
        await stack.stop()


async def test_nats_down_for_three_minutes_then_every_service_carries_on(
    tmp_path: Path, pg_server: str, template_database: str, nats_of_its_own: tuple[int, Path], bus: str
) -> None:
    from tests.conftest import clone_database

    if bus == "kafka":
        pytest.skip(TANSU_RESTART)

    port, store = nats_of_its_own
    broker = start_nats(store, port, detached=False)
    stack = await _stack(tmp_path, await clone_database(pg_server, template_database), f"nats://127.0.0.1:{port}", {})
    try:
        async with stack.client() as client:
            demo = await scenario.prepare(client, stack.demo_system_url, TESTCASES, name="nats-outage")
            run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
            while (await client.get_run(run.id)).records < 10:
                await asyncio.sleep(0.1)
        broker.terminate()
        broker.wait(10)
        started = time.monotonic()
        busy: dict[int, float] = {}
        while time.monotonic() - started < 180:
            await asyncio.sleep(15)
            # Every service still answers (its event loop is not starved) and none has given up.
            assert set(await _healthz_answers(stack)) == {200}
            assert all(p.running() for p in stack.processes)
        for process in stack.processes:
            busy[process.pid] = _cpu_seconds(process.pid)
        await asyncio.sleep(5)
        idle = {pid: _cpu_seconds(pid) - before for pid, before in busy.items()}
        assert max(idle.values()) < 2.5, idle  # nobody spins while the broker is away
        broker = start_nats(store, port, detached=False)
        async with stack.client() as client:
            final = await client.wait_for_run(run.id, timeout_s=180)
        assert (final.status, final.records, final.errored_records) == ("completed", TESTCASES, 1)
        assert final.scores == final.expected_scores
    finally:
        # SIGTERM drains and exits (the stop would SIGKILL after 30 s).
        started = time.monotonic()
        await stack.stop()
        assert time.monotonic() - started < 35
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
