"""One run spread over two executor replicas: chunks, the run's concurrency held across both,
a replica SIGKILLed mid-run, and a cancel that stops the calls of every replica."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.processes import ManagedProcess
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.support.fake_system import FakeSystemServer, fake_system_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
BUSES = ("nats", "kafka")

system_server = pytest.fixture(scope="module")(fake_system_server)


@pytest.fixture
def system(system_server: FakeSystemServer) -> Iterator[FakeSystemServer]:
    system_server.reset()
    yield system_server


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str
) -> AsyncIterator[Stack]:
    # Small chunks so a few hundred testcases make many; a killed replica's chunks come back
    # after 3 s and its lease lapses after 3 s.
    async with running_stack(
        tmp_path_factory,
        pg_server,
        template_database,
        bus_url,
        demo_system=False,
        replicas={"system_executor": 2},
        env={"SCOREKEEPER_CHUNK_CALLS": "20", "SCOREKEEPER_ACK_WAIT_S": "3", "SCOREKEEPER_LEASE_TTL_S": "3"},
    ) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Client]:
    async with stack.client() as c:
        yield c


def executors(stack: Stack) -> list[ManagedProcess]:
    return [p for p in stack.processes if p.module == "services.system_executor" and p.proc and p.proc.poll() is None]


async def calls_made(process: ManagedProcess) -> float:
    """The replica's count of system calls answered (its Prometheus counter)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{process.http_port}/metrics")).text
    found = re.search(r'scorekeeper_system_calls_total\{outcome="ok"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def start_run(
    client: Client,
    system: FakeSystemServer,
    name: str,
    testcases: int,
    latency_ms: int,
    *,
    max_concurrency: int,
    trials: int = 1,
) -> str:
    ids = await scenario.prepare(client, system.url("/unused"), testcases, name=name)
    version = await client.create_http_system(
        ids.project_id,
        "slow echo",
        {
            "url": system.url(f"/slow/{latency_ms}"),
            "body_template": {"question": "{{ inputs.question }}"},
            "response_path": "choices.0.message.content",
        },
    )
    run = await client.create_run(
        ids.project_id, ids.testset_id, version.id, [], max_concurrency=max_concurrency, trials=trials
    )
    return run.id


async def wait_for_records(client: Client, run_id: str, at_least: int) -> None:
    for _ in range(600):
        if (await client.get_run(run_id)).records >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {at_least} records")


async def test_two_replicas_share_one_run_within_its_concurrency(
    stack: Stack, client: Client, system: FakeSystemServer
) -> None:
    replicas = executors(stack)
    assert len(replicas) == 2
    before = [await calls_made(p) for p in replicas]
    run_id = await start_run(client, system, "shared", 300, 40, max_concurrency=6)

    final = await client.wait_for_run(run_id, timeout_s=60)

    assert (final.status, final.records, final.errored_records) == ("completed", 300, 0)
    made = [await calls_made(p) - b for p, b in zip(replicas, before, strict=True)]
    # Both replicas executed chunks of the run, and no testcase was called twice.
    assert all(n > 0 for n in made), made
    assert sum(made) == len(system.received("/slow/40")) == 300
    # The run's max_concurrency held across the two processes together.
    assert 2 <= system.peak_in_flight <= 6
    records = [r async for r in client.records(run_id)]
    assert len({(r.testcase_id, r.trial) for r in records}) == 300
    assert {r.outputs["response"] for r in records} == {f"echo: {r.inputs['question']}" for r in records}


async def test_a_replica_killed_mid_run_leaves_exactly_one_record_per_testcase_and_trial(
    stack: Stack, client: Client, system: FakeSystemServer
) -> None:
    run_id = await start_run(client, system, "killed", 150, 50, max_concurrency=8, trials=2)
    await wait_for_records(client, run_id, 60)

    victim = executors(stack)[0]
    victim.kill()
    try:
        # The survivor takes over the victim's chunks once JetStream redelivers them.
        final = await client.wait_for_run(run_id, timeout_s=90)
    finally:
        await stack.add_replica("system_executor")

    assert (final.status, final.records, final.expected_records, final.errored_records) == ("completed", 300, 300, 0)
    records = [r async for r in client.records(run_id)]
    pairs = [(r.testcase_id, r.trial) for r in records]
    assert len(pairs) == len(set(pairs)) == 300
    assert {trial for _, trial in pairs} == {0, 1}
    # Calls the victim had made but not published may have been made again, none recorded twice:
    # those in flight (the run's concurrency, 8), those waiting in its outbox for a batch to fill
    # (0.05 s of linger: at most 8 more at 50 ms a call) and those of a batch being published.
    assert 300 <= len(system.received("/slow/50")) <= 300 + 3 * 8


async def test_cancel_stops_the_calls_of_every_replica_within_two_seconds(
    stack: Stack, client: Client, system: FakeSystemServer
) -> None:
    replicas = executors(stack)
    before = [await calls_made(p) for p in replicas]
    run_id = await start_run(client, system, "cancelled", 400, 50, max_concurrency=8)
    # Cancel once both replicas are calling the system.
    for _ in range(200):
        if all([await calls_made(p) > b for p, b in zip(replicas, before, strict=True)]):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the run never spread over both replicas")

    await client.cancel_run(run_id)
    cancelled_at = time.monotonic()
    await asyncio.sleep(3.0)

    late = [r for r in system.received("/slow/50") if r.at > cancelled_at + 2.0]
    assert late == []
    settled = await client.get_run(run_id)
    await asyncio.sleep(1.0)
    later = await client.get_run(run_id)
    assert later.status == "cancelled"
    assert later.records == settled.records < 400
    # Calls cut off by the cancel are not recorded: every record has its answer.
    records = [r async for r in client.records(run_id)]
    assert len(records) == later.records
    assert all(r.status == "completed" for r in records)
