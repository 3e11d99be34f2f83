"""Processes die mid-run: SIGTERM drains, SIGKILL loses nothing that was acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
BUSES = ("nats", "kafka")


@pytest.fixture(scope="module")
async def slow_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str
) -> AsyncIterator[Stack]:
    # A crashed consumer's unacknowledged messages come back after 3 s instead of 30 s.
    async with running_stack(
        tmp_path_factory,
        pg_server,
        template_database,
        bus_url,
        demo_latency_ms=25,
        env={"SCOREKEEPER_ACK_WAIT_S": "3"},
    ) as running:
        yield running


async def _wait_for_records(client: Client, run_id: str, at_least: int) -> None:
    for _ in range(600):
        if (await client.get_run(run_id)).records >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {at_least} records")


async def test_killed_and_terminated_services_lose_nothing(slow_stack: Stack) -> None:
    async with slow_stack.client() as client:
        ids = await scenario.prepare(client, slow_stack.demo_system_url, 240, name="resilience")
        run = await client.create_run(
            ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, max_concurrency=4
        )
        await _wait_for_records(client, run.id, 40)

        by_name = {p.name: p for p in slow_stack.processes}
        orchestrator, scorer, executor = by_name["run-orchestrator"], by_name["scorer"], by_name["system-executor"]
        # SIGTERM: the orchestrator drains its in-flight messages and exits cleanly.
        assert await asyncio.to_thread(orchestrator.terminate, 30) == 0
        # SIGKILL: whatever the scorer and the executor had not acknowledged is redelivered.
        scorer.kill()
        executor.kill()
        for module in ("run_orchestrator", "scorer", "system_executor"):
            await slow_stack.add_replica(module)

        final = await client.wait_for_run(run.id, timeout_s=120)
        assert (final.status, final.records, final.errored_records) == ("completed", 240, 1)
        assert final.scores == final.expected_scores == 239 * 3
        assert {m.name: m.passed for m in final.metrics} == {
            "exact answer": 203,
            "mentions answer": 216,
            "concise": 225,
        }
        records = [r async for r in client.records(run.id)]
        assert len(records) == len({(r.testcase_id, r.trial) for r in records}) == 240
        assert sum(len(r.scores) for r in records) == 717
