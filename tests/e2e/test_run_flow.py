"""A whole run through the four service processes, checked exactly against an independent oracle."""

from __future__ import annotations

import re
from collections import Counter

import asyncpg
import httpx
import pytest

from scorekeeper_sdk import Client
from services.demo_system.app import answer
from services.demo_system.testset import sample_testcases
from shared.devstack import scenario
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

CONCISE = re.compile(r"-?\d+|[A-Z][\w\s'-]*")


def oracle(question: str, expected: str) -> dict[str, bool] | None:
    """What each demo metric must say about the demo system's answer; None for an errored call."""
    status, text = answer(question)
    if status != 200:
        return None
    return {
        "exact answer": " ".join(text.split()) == " ".join(expected.split()),
        "mentions answer": expected.casefold() in text.casefold(),
        "concise": CONCISE.fullmatch(text) is not None,
    }


@pytest.fixture(scope="module")
async def finished_run(stack: Stack) -> tuple[str, scenario.DemoIds]:
    async with stack.client() as client:
        ids = await scenario.prepare(client, stack.demo_system_url, 240, name="e2e")
        run = await client.create_run(
            ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, notes="e2e"
        )
        assert run.status == "awaiting_execution"
        assert run.expected_records == 240
        await client.wait_for_run(run.id, timeout_s=120)
        return run.id, ids


async def test_run_completes_with_exact_counts_and_aggregates(
    stack: Stack, client: Client, finished_run: tuple[str, scenario.DemoIds]
) -> None:
    run_id, _ = finished_run
    view = await client.get_run(run_id)
    cases = sample_testcases(240)
    verdicts = [oracle(c["question"], c["answer"]) for c in cases]
    errored = sum(v is None for v in verdicts)
    assert errored == 1
    assert (view.status, view.records, view.errored_records) == ("completed", 240, 1)
    assert (view.expected_scores, view.scores) == (239 * 3, 239 * 3)
    passed = Counter(name for v in verdicts if v for name, ok in v.items() if ok)
    assert passed == {"exact answer": 203, "mentions answer": 216, "concise": 225}
    by_name = {m.name: m for m in view.metrics}
    for name, count in passed.items():
        summary = by_name[name]
        assert (summary.scored, summary.passed, summary.errored, summary.pending) == (239, count, 0, 0)
        assert summary.pass_rate == pytest.approx(count / 239)
        assert summary.mean == pytest.approx(count / 239)
    assert view.url == f"{stack.console_url}/projects/{view.project_id}/runs/{run_id}"
    assert view.finished_at and view.started_at and view.duration_s > 0


async def test_every_record_and_score_matches_the_oracle(
    client: Client, finished_run: tuple[str, scenario.DemoIds]
) -> None:
    run_id, _ = finished_run
    expected_by_question = {c["question"]: c for c in sample_testcases(240)}
    records = [r async for r in client.records(run_id, page_size=37)]
    assert len(records) == 240
    assert len({r.id for r in records}) == 240
    for record in records:
        case = expected_by_question[record.inputs["question"]]
        _, text = answer(case["question"])
        verdict = oracle(case["question"], case["answer"])
        assert record.expected["answer"] == case["answer"]
        if verdict is None:
            assert record.status == "errored"
            assert "HTTP 500" in record.error
            assert list(record.scores) == []
            continue
        assert record.status == "completed"
        assert record.outputs["response"] == text
        assert record.latency_ms > 0
        assert {s.metric_name: s.value.bool_value for s in record.scores} == verdict
        assert {s.metric_name: s.passed for s in record.scores} == verdict
        assert all(s.status == "completed" and s.reasoning for s in record.scores)


async def test_status_history_moves_forward_to_completed(
    stack: Stack, finished_run: tuple[str, scenario.DemoIds]
) -> None:
    run_id, _ = finished_run
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT status FROM run_status_transitions WHERE run_id = $1 ORDER BY at", run_id)
    finally:
        await conn.close()
    statuses = [r["status"] for r in rows]
    assert statuses[:2] == ["pending", "awaiting_execution"]
    assert statuses[-1] == "completed"
    order = ["pending", "awaiting_execution", "running_execution", "awaiting_scoring", "running_scoring", "completed"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    assert len(set(statuses)) == len(statuses)


async def test_http_gateway_serves_the_same_run_and_records(
    stack: Stack, client: Client, finished_run: tuple[str, scenario.DemoIds]
) -> None:
    run_id, _ = finished_run
    view = await client.get_run(run_id)
    async with stack.http(stack.query_http) as http:
        body = (await http.get(f"/v1/runs/{run_id}")).json()
        assert body["status"] == "completed"
        assert (body["records"], body["errored_records"], body["scores"]) == (240, 1, 717)
        assert [(m["name"], m["passed"]) for m in body["metrics"]] == [(m.name, m.passed) for m in view.metrics]
        seen: list[str] = []
        token = ""
        while True:
            page = await http.get(f"/v1/runs/{run_id}/records", params={"page_size": 100, "page_token": token})
            assert page.status_code == 200
            data = page.json()
            seen += [r["id"] for r in data["records"]]
            token = data["next_page_token"]
            if not token:
                break
        assert len(seen) == len(set(seen)) == 240
        first = data["records"][0] if data["records"] else None
        assert first is None or {"inputs", "outputs", "expected", "scores", "status"} <= first.keys()


async def test_metrics_endpoints_count_handled_messages_and_scores(
    stack: Stack, finished_run: tuple[str, scenario.DemoIds]
) -> None:
    async with httpx.AsyncClient() as http:
        scorer = (await http.get(f"http://127.0.0.1:{stack.ports['scorer.http']}/metrics")).text
        orchestrator = (await http.get(f"{stack.orchestrator_http}/metrics")).text
        for path in ("/healthz", "/readyz"):
            assert (await http.get(f"{stack.query_http}{path}")).status_code == 200
    handled = re.search(r'scorekeeper_messages_handled_total\{service="scorer",topic="score.requested"\} (\S+)', scorer)
    assert handled is not None and float(handled.group(1)) >= 2  # batches of records: 240 / 128 at least
    written = re.search(r'scorekeeper_scores_written_total\{status="completed"\} (\S+)', scorer)
    assert written is not None and float(written.group(1)) >= 717
    assert 'scorekeeper_batch_events_bucket{le="1.0",service="scorer",topic="score.requested"}' in scorer
    assert (
        'scorekeeper_handler_seconds_bucket{le="0.001",service="run-orchestrator",topic="record.produced"}'
        in orchestrator
    )
    assert re.search(r'scorekeeper_run_transitions_total\{status="completed"\} [1-9]', orchestrator)


async def test_grpc_health_and_reflection(stack: Stack) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    for target, service in (
        (stack.orchestrator_grpc, "scorekeeper.v1.CatalogService"),
        (stack.query_grpc, "scorekeeper.v1.QueryService"),
    ):
        async with grpc.aio.insecure_channel(target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for response in stub.ServerReflectionInfo(iter([request]), timeout=5):
                names = {s.name for s in response.list_services_response.service}
                assert service in names and "grpc.health.v1.Health" in names
