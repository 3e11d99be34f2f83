"""Failing systems, redelivered events and poison messages, on the real processes and broker."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from scorekeeper_sdk import Client
from services.demo_system.app import answer
from services.demo_system.testset import sample_testcases
from shared.db.pool import create_pool
from shared.devstack import scenario
from shared.devstack.stack import Stack
from shared.embedded import free_port
from shared.events import RecordProduced, RunCreated, ScoreCompleted, ScoreRequested
from shared.messaging.bus import Bus
from tests.support.broker_view import DeadLetterWatch, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
BUSES = ("nats", "kafka")


async def _run_against(
    client: Client, project_id: str, testset_id: str, config: dict[str, Any], metric_ids: list[str], name: str
) -> Any:
    version = await client.create_http_system(project_id, name, config)
    run = await client.create_run(project_id, testset_id, version.id, metric_ids)
    return await client.wait_for_run(run.id, timeout_s=60)


async def test_failing_systems_make_errored_records_and_the_run_completes(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 6, name="failing")
    base = stack.demo_system_url.rsplit("/", 1)[0]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": f"http://127.0.0.1:{free_port()}/answer"}, "could not reach"),
        ({"url": f"{base}/text"}, "system answered non-JSON: I am not JSON"),
        (
            {
                "url": stack.demo_system_url,
                "body_template": {"question": "{{ inputs.question }}"},
                "response_path": "choices.0",
            },
            "response has no 'choices' at path 'choices.0'",
        ),
        ({"url": stack.demo_system_url, "body_template": {"wrong": 1}}, "system answered HTTP 400"),
    ]
    for i, (config, fragment) in enumerate(cases):
        view = await _run_against(client, ids.project_id, ids.testset_id, config, ids.metric_ids, f"broken-{i}")
        assert (view.status, view.records, view.errored_records, view.scores) == ("completed", 6, 6, 0), config
        records = [r async for r in client.records(view.id)]
        assert len(records) == 6
        for r in records:
            overloaded = "response_path" in config and answer(str(r.inputs["question"]))[0] == 500
            assert r.status == "errored" and not r.scores
            assert (overloaded and "system answered HTTP 500" in r.error) or fragment in r.error, r.error


async def _snapshot(database_url: str, run_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        rid = uuid.UUID(run_id)
        run = await conn.fetchrow("SELECT status, finished_at FROM runs WHERE id = $1", rid)
        counts = await conn.fetch(
            "SELECT shard, records, errored FROM run_record_counts WHERE run_id = $1 ORDER BY shard", rid
        )
        aggregates = await conn.fetch(
            "SELECT metric_version_id, shard, scored, passed, sum, sum_sq, errored FROM run_metric_aggregates"
            " WHERE run_id = $1 ORDER BY metric_version_id, shard",
            rid,
        )
        return {
            "run": dict(run or {}),
            "counts": [dict(c) for c in counts],
            "records": await conn.fetchval("SELECT count(*) FROM records WHERE run_id = $1", rid),
            "scores": await conn.fetchval("SELECT count(*) FROM scores WHERE run_id = $1", rid),
            "aggregates": [dict(a) for a in aggregates],
            "transitions": await conn.fetchval("SELECT count(*) FROM run_status_transitions WHERE run_id = $1", rid),
        }
    finally:
        await conn.close()


async def test_publishing_every_event_again_changes_nothing(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 30, name="replay")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
    await client.wait_for_run(run.id, timeout_s=60)
    before = await _snapshot(stack.database_url, run.id)
    assert before["records"] == 30 and before["run"]["status"] == "completed"

    async with create_pool(stack.database_url, max_size=1) as pool:
        records = await pool.fetch("SELECT * FROM records WHERE run_id = $1", uuid.UUID(run.id))
        scores = await pool.fetch("SELECT * FROM scores WHERE run_id = $1", uuid.UUID(run.id))
    bus = Bus(stack.bus_url, service="replayer", topic_prefix=stack.config.topic_prefix)
    await bus.start()
    try:
        for _ in range(2):
            await bus.publish(RunCreated(run_id=uuid.UUID(run.id), project_id=uuid.UUID(ids.project_id)))
            for r in records:
                await bus.publish(
                    RecordProduced(
                        run_id=r["run_id"],
                        testcase_id=r["testcase_id"],
                        trial=r["trial"],
                        inputs=r["inputs"],
                        expected=r["expected"],
                        outputs=r["outputs"],
                        status=r["status"],
                        error=r["error"],
                        latency_ms=r["latency_ms"],
                    )
                )
            for s in scores:
                await bus.publish(
                    ScoreRequested(
                        run_id=s["run_id"], record_id=s["record_id"], metric_version_id=s["metric_version_id"]
                    )
                )
                await bus.publish(
                    ScoreCompleted(
                        run_id=s["run_id"],
                        record_id=s["record_id"],
                        metric_version_id=s["metric_version_id"],
                        score_id=s["id"],
                        status=s["status"],
                    )
                )
    finally:
        await bus.drain(5)
    await wait_idle(stack)
    assert await _snapshot(stack.database_url, run.id) == before


async def test_poison_messages_go_to_the_dead_letter_topics(client: Client, stack: Stack) -> None:
    prefix = stack.config.topic_prefix
    letters: dict[str, list[dict[str, Any]]] = {}
    bus = Bus(stack.bus_url, service="poisoner", topic_prefix=prefix)
    await bus.start()
    unknown_run = uuid.uuid4()
    try:
        async with DeadLetterWatch(stack, "record.produced.dlq", "score.requested.dlq") as watch:
            await bus.publish_raw("record.produced", b"\x00 definitely not json")
            await bus.publish(RecordProduced(run_id=unknown_run, testcase_id=uuid.uuid4(), trial=0, status="completed"))
            await bus.publish(
                ScoreRequested(run_id=unknown_run, record_id=uuid.uuid4(), metric_version_id=uuid.uuid4())
            )
            letters["record.produced.dlq"] = await watch.collect("record.produced.dlq", 2)
            letters["score.requested.dlq"] = await watch.collect("score.requested.dlq", 1)
    finally:
        await bus.drain(5)
    produced = sorted(letters["record.produced.dlq"], key=lambda d: d["error"])
    assert produced[0]["error"].startswith("invalid record.produced event: <root>: Invalid JSON")
    assert produced[0]["service"] == "run-orchestrator"
    assert produced[1]["error"] == f"run {unknown_run} does not exist"
    assert [d["error"] for d in letters["score.requested.dlq"]] == [
        f"metric version {json.loads(letters['score.requested.dlq'][0]['payload'])['metric_version_id']} does not exist"
    ]
    # The services shrug it off: the next run completes.
    ids = await scenario.prepare(client, stack.demo_system_url, 12, name="after-poison")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
    assert (await client.wait_for_run(run.id, timeout_s=60)).status == "completed"
    assert len(sample_testcases(12)) == 12
