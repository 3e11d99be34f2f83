"""No input can wedge a run: poison answers, ingest where it does not belong, events dead-lettered
for any reason, page tokens reused elsewhere, a catastrophic regex beside a live run."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import grpc
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb, qpb
from scorekeeper_sdk.exact_json import struct
from shared.devstack import scenario
from shared.devstack.stack import Stack
from shared.events import DeadLetter, ScoresRequested
from shared.messaging.bus import Bus
from shared.topics import Topic
from tests.support.broker_view import discard
from tests.support.fake_system import FakeSystemServer, fake_system_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

system = pytest.fixture(scope="module")(fake_system_server)
QUESTIONS = [{"question": f"q{i}", "answer": "a"} for i in range(3)]


async def _testset(client: Client, project_id: str, cases: list[dict[str, Any]] = QUESTIONS) -> str:
    testset = await client.create_testset(project_id, "t", cases, inputs=["question"], expected=["answer"])
    return testset.id


async def _sdk_version(client: Client, project_id: str) -> str:
    system_row = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=project_id, name="client"))
    version = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system_row.id, kind="sdk", name="v1", config=struct({}))
    )
    return str(version.id)


async def _records(client: Client, run_id: str) -> list[qpb.RecordView]:
    return [r async for r in client.records(run_id)]


# --- poison answers ----------------------------------------------------------------------------

POISONS: dict[str, tuple[dict[str, Any], str]] = {
    "nul": (
        {"response_path": "answer"},
        "the outputs were not kept: it holds a NUL character (\\u0000), which PostgreSQL cannot store",
    ),
    "surrogate": (
        {"response_path": "answer"},
        "the outputs were not kept: it holds an unpaired surrogate (\\ud800 … \\udfff), which is not text",
    ),
    "nan": ({"response_path": "answer"}, "the outputs were not kept: it holds nan, which JSON cannot"),
    "deep": ({}, "system answered JSON nested too deeply to read (20000 bytes)"),
    "big": (
        {"outputs": {"first": "answer", "second": "answer"}},
        "the outputs were not kept: it is 1,200,024 bytes of JSON, more than the 524,288 a record's outputs may hold",
    ),
}


@pytest.mark.parametrize("kind", list(POISONS))
async def test_a_poison_answer_is_an_errored_record_naming_the_limit(
    client: Client, system: FakeSystemServer, kind: str
) -> None:
    project = await client.create_project(f"poison {kind}")
    testset_id = await _testset(client, project.id)
    config, error = POISONS[kind]
    version = await client.create_http_system(project.id, "poisoner", {"url": system.url(f"/poison/{kind}"), **config})
    metric = await client.create_heuristic_metric(project.id, "m", "contains", {"value": "a"})
    run = await client.create_run(project.id, testset_id, version.id, [metric.id])
    final = await client.wait_for_run(run.id, timeout_s=60)
    assert (final.status, final.records, final.errored_records, final.scores) == ("completed", 3, 3, 0)
    assert [(r.status, r.error, dict(r.outputs)) for r in await _records(client, run.id)] == [
        ("errored", error, {})
    ] * 3


# --- ingest where it does not belong --------------------------------------------------------------


async def test_ingest_only_into_sdk_runs_and_the_answer_says_what_was_taken(
    stack: Stack, client: Client, system: FakeSystemServer
) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 2, name="ingest-where")
    http_run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
    testcases = [t async for t in client.testcases(demo.testset_id)]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.ingest_records(http_run.id, [{"testcase_id": testcases[0].id, "outputs": {"response": "hijack"}}])
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == (
        f"run {http_run.id} executes its http system itself; records can be ingested only into runs of sdk systems"
    )
    await client.wait_for_run(http_run.id, timeout_s=60)
    assert "hijack" not in {dict(r.outputs).get("response") for r in await _records(client, http_run.id)}

    sdk_run = await client.create_run(demo.project_id, demo.testset_id, await _sdk_version(client, demo.project_id), [])
    deep: Any = "x"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(grpc.aio.AioRpcError) as nul:
        await client.ingest_records(sdk_run.id, [{"testcase_id": testcases[0].id, "outputs": {"response": "a\x00"}}])
    assert nul.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (
        nul.value.details() == "records[0].outputs.response contains a NUL character (\\u0000), which cannot be stored"
    )
    # Deeper than protobuf nests a Struct (100 message levels): refused at the edge, naming it.
    async with stack.http(stack.orchestrator_http) as http:
        too_deep = await http.post(
            f"/v1/runs/{sdk_run.id}/records:ingest",
            json={"records": [{"testcase_id": testcases[1].id, "outputs": {"response": deep}}]},
        )
    assert too_deep.status_code == 400 and "Message too deep" in too_deep.json()["error"]["message"]
    # Larger than a record's outputs may be: taken as an errored record, listed as refused.
    answer = await client.ingest_records(
        sdk_run.id,
        [
            {"testcase_id": testcases[0].id, "outputs": {"response": "fine"}},
            {"testcase_id": testcases[1].id, "outputs": {"response": "x" * 600_000}},
        ],
    )
    assert [s.index for s in answer.stored] == [0]
    assert [(r.record.index, r.reason) for r in answer.refused] == [
        (
            1,
            "the outputs were not kept: it is 600,015 bytes of JSON, more than the 524,288 a record's outputs may hold",
        )
    ]
    final = await client.wait_for_run(sdk_run.id, timeout_s=30)
    assert (final.status, final.records, final.errored_records) == ("completed", 2, 1)
    again = await client.ingest_records(sdk_run.id, [{"testcase_id": testcases[0].id, "outputs": {"response": "late"}}])
    assert (again.accepted, [d.index for d in again.duplicates]) == (0, [0])
    assert {dict(r.outputs).get("response") for r in await _records(client, sdk_run.id)} == {"fine", None}


# --- every kind of dead letter ends its run ---------------------------------------------------------


async def _publish_raw(stack: Stack, topic: str, body: bytes) -> None:
    bus = Bus(stack.bus_url, service="test", topic_prefix=stack.config.topic_prefix)
    await bus.start()
    try:
        await bus.publish_raw(topic, body)
    finally:
        await bus.drain(5)


async def _dead_letter(stack: Stack, topic: Topic, service: str, payload: dict[str, Any] | str, error: str) -> None:
    """As the bus does after giving up on an event: the event is gone from its topic for the
    (stopped) ``service`` that consumes it, and a dead letter is on ``<topic>.dlq``."""
    await discard(stack, topic.value, service)
    await _letter(stack, topic, payload, error)


async def _letter(stack: Stack, topic: Topic, payload: dict[str, Any] | str, error: str) -> None:
    """A dead letter of ``payload`` on ``<topic>.dlq``."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    letter = DeadLetter(topic=topic.value, service="test", error=error, payload=body)
    await _publish_raw(stack, topic.dlq, letter.model_dump_json().encode())


def _process(stack: Stack, module: str) -> Any:
    return next(p for p in stack.processes if p.module == f"services.{module}" and p.running())


async def test_a_dead_lettered_run_created_fails_the_run_with_the_reason(stack: Stack, client: Client) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 3, name="dlq-run")
    executor = _process(stack, "system_executor")
    executor.terminate()
    try:
        run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
        await _dead_letter(stack, Topic.RUN_CREATED, "system-executor", {"run_id": run.id}, "planning blew up")
        final = await client.wait_for_run(run.id, timeout_s=30)
        assert (final.status, final.error) == ("failed", "the run could not be planned: planning blew up")
    finally:
        await stack.restart(executor)


async def test_a_dead_lettered_chunk_makes_errored_records(stack: Stack, client: Client) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 3, name="dlq-chunk")
    executor = _process(stack, "system_executor")
    executor.terminate()
    try:
        # The executor is down, so the run is not planned yet and no chunk was published: the
        # letter alone stands for a chunk dead-lettered. The run ends before the executor is back
        # (which then finds it completed and executes nothing).
        run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
        chunk = {"run_id": run.id, "first_position": 0, "last_position": 2, "chunk": 0}
        await _letter(stack, Topic.CHUNK_REQUESTED, chunk, "executor crashed on it")
        final = await client.wait_for_run(run.id, timeout_s=30)
        assert (final.status, final.records, final.errored_records) == ("completed", 3, 3)
        errors = {r.error for r in await _records(client, run.id)}
        assert errors == {"the chunk of testcases could not be executed: executor crashed on it"}
    finally:
        await stack.restart(executor)


@pytest.mark.parametrize("schema_version", [1, 2])
async def test_a_poison_record_event_is_dead_lettered_and_its_records_errored(
    stack: Stack, client: Client, schema_version: int
) -> None:
    project = await client.create_project(f"dlq-record-v{schema_version}")
    testset_id = await _testset(client, project.id, QUESTIONS[:2])
    run = await client.create_run(project.id, testset_id, await _sdk_version(client, project.id), [])
    first, second = [t async for t in client.testcases(testset_id)]
    # Not even JSON a model can take: nested 10,000 deep. The bus dead-letters it, the
    # orchestrator settles the letter: every record it held becomes an errored record.
    deep = f'{{"x": {"[" * 10_000}{"]" * 10_000}}}'
    if schema_version == 1:
        events = [
            f'{{"run_id": "{run.id}", "testcase_id": "{t.id}", "trial": 0, "status": "completed", "outputs": {deep}}}'
            for t in (first, second)
        ]
    else:
        events = [
            f'{{"schema_version": 2, "run_id": "{run.id}", "records": ['
            f'{{"testcase_id": "{first.id}", "trial": 0, "status": "completed", "outputs": {{}}}}, '
            f'{{"testcase_id": "{second.id}", "trial": 0, "status": "completed", "outputs": {deep}}}]}}'
        ]
    for poison in events:
        await _publish_raw(stack, "record.produced", poison.encode())
    final = await client.wait_for_run(run.id, timeout_s=30)
    assert (final.status, final.records, final.errored_records) == ("completed", 2, 2)
    records = await _records(client, run.id)
    assert {r.error.split(":")[0] for r in records} == {"the record could not be stored"}
    assert all("invalid record.produced event" in r.error for r in records)
    assert sorted(str(dict(r.inputs)["question"]) for r in records) == ["q0", "q1"]


async def test_steps_no_api_checked_are_not_kept_and_their_record_is(stack: Stack, client: Client) -> None:
    project = await client.create_project("unchecked steps")
    testset_id = await _testset(client, project.id, QUESTIONS[:2])
    run = await client.create_run(project.id, testset_id, await _sdk_version(client, project.id), [])
    first, second = [t async for t in client.testcases(testset_id)]
    # A producer that did not check its steps: a duration that is text; the other record's are fine.
    bad = '[{"id": "1", "name": "search", "duration_ms": "slow"}]'
    good = '[{"id": "1", "parent_id": "", "name": "search", "kind": "tool", "start_ms": 0, "duration_ms": 2.5}]'
    record = '{{"testcase_id": "{}", "trial": 0, "status": "completed", "outputs": {{"r": 1}}, "spans": {}}}'
    both = ", ".join([record.format(first.id, bad), record.format(second.id, good)])
    event = f'{{"schema_version": 2, "run_id": "{run.id}", "records": [{both}]}}'
    await _publish_raw(stack, "record.produced", event.encode())
    final = await client.wait_for_run(run.id, timeout_s=30)
    assert (final.status, final.records, final.errored_records) == ("completed", 2, 0)
    kept = {r.testcase_id: len((await client.get_record(r.id)).spans) for r in await _records(client, run.id)}
    assert kept == {first.id: 0, second.id: 1}
    summed = await client.query.GetRunSteps(qpb.GetRunStepsRequest(run_id=run.id))
    assert [(s.name, s.records) for s in summed.steps] == [("search", 1)]


async def test_a_dead_lettered_score_request_is_an_errored_score(stack: Stack, client: Client) -> None:
    project = await client.create_project("dlq-score")
    testset_id = await _testset(client, project.id, QUESTIONS[:1])
    metric = await client.create_heuristic_metric(project.id, "m", "contains", {"value": "a"})
    run = await client.create_run(project.id, testset_id, await _sdk_version(client, project.id), [metric.id])
    (testcase,) = [t async for t in client.testcases(testset_id)]
    scorer = _process(stack, "scorer")
    scorer.terminate()
    try:
        await client.ingest_records(run.id, [{"testcase_id": testcase.id, "outputs": {"response": "a"}}])
        while (await client.get_run(run.id)).records < 1:
            await asyncio.sleep(0.1)
        (record,) = await _records(client, run.id)
        # As the orchestrator publishes it (schema version 2, "human": null).
        request = ScoresRequested(
            run_id=uuid.UUID(run.id),
            record_ids=[uuid.UUID(record.id)],
            metric_version_ids=[uuid.UUID(metric.version_id)],
        ).model_dump_json()
        await _dead_letter(stack, Topic.SCORE_REQUESTED, "scorer", request, "scorer crashed on it")
    finally:
        await stack.restart(scorer)
    final = await client.wait_for_run(run.id, timeout_s=30)
    assert (final.status, final.metrics[0].errored) == ("completed", 1)
    (record,) = await _records(client, run.id)
    assert record.scores[0].error == "the score could not be computed: scorer crashed on it"


async def test_a_dead_lettered_score_completed_still_completes_the_run(stack: Stack, client: Client) -> None:
    project = await client.create_project("dlq-completed")
    testset_id = await _testset(client, project.id, QUESTIONS[:1])
    metric = await client.create_heuristic_metric(project.id, "m", "contains", {"value": "a"})
    run = await client.create_run(project.id, testset_id, await _sdk_version(client, project.id), [metric.id])
    (testcase,) = [t async for t in client.testcases(testset_id)]
    await client.ingest_records(run.id, [{"testcase_id": testcase.id, "outputs": {"response": "a"}}])
    orchestrator = _process(stack, "run_orchestrator")
    while (await client.get_run(run.id)).records < 1:
        await asyncio.sleep(0.05)
    orchestrator.terminate()
    try:
        await asyncio.sleep(3)  # the scorer scores; its score.completed waits for the orchestrator
        await _dead_letter(
            stack, Topic.SCORE_COMPLETED, "run-orchestrator", {"run_id": run.id}, "orchestrator crashed on it"
        )
    finally:
        await stack.restart(orchestrator)
    final = await client.wait_for_run(run.id, timeout_s=30)
    assert (final.status, final.scores) == ("completed", 1)


# --- page tokens ---------------------------------------------------------------------------------


async def test_a_page_token_answers_only_the_request_it_came_from(stack: Stack, client: Client) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 4, name="tokens")
    runs = []
    for _ in range(2):
        run = await client.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
        await client.wait_for_run(run.id, timeout_s=60)
        runs.append(run.id)
    page = await client.query.ListRecords(qpb.ListRecordsRequest(run_id=runs[0], page_size=1), timeout=10)
    for request, message in (
        (
            qpb.ListRecordsRequest(run_id=runs[1], page_token=page.next_page_token),
            "page_token was issued for another run_id; pass it back with the request it came from",
        ),
        (
            qpb.ListRecordsRequest(run_id=runs[0], statuses=["errored"], page_token=page.next_page_token),
            "page_token was issued for other filters or another order; pass the same filters and order as its "
            "first page",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.query.ListRecords(request, timeout=10)
        assert (refused.value.code(), refused.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    runs_page = await client.query.ListRuns(qpb.ListRunsRequest(project_id=demo.project_id, page_size=1), timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.query.ListRuns(
            qpb.ListRunsRequest(project_id=demo.project_id, sources=["ci"], page_token=runs_page.next_page_token),
            timeout=10,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


# --- a catastrophic regex beside a live run ----------------------------------------------------------


async def test_a_catastrophic_regex_does_not_stop_other_runs_scores(stack: Stack, client: Client) -> None:
    slow_project = await client.create_project("catastrophic regex")
    slow_cases = [{"question": f"s{i}", "answer": "a"} for i in range(8)]
    slow_testset = await _testset(client, slow_project.id, slow_cases)
    regex = await client.create_heuristic_metric(slow_project.id, "backtracks", "regex", {"pattern": "(a|aa)+$"})
    slow_run = await client.create_run(
        slow_project.id, slow_testset, await _sdk_version(client, slow_project.id), [regex.id]
    )
    slow_testcases = [t async for t in client.testcases(slow_testset)]
    await client.ingest_records(
        slow_run.id, [{"testcase_id": t.id, "outputs": {"response": "a" * 60 + "b"}} for t in slow_testcases]
    )

    other = await client.create_project("another team")
    other_cases = [{"question": f"o{i}", "answer": "yes"} for i in range(20)]
    other_testset = await _testset(client, other.id, other_cases)
    exact = await client.create_heuristic_metric(other.id, "exact", "exact_match", {"expected_field": "answer"})
    other_run = await client.create_run(other.id, other_testset, await _sdk_version(client, other.id), [exact.id])
    await client.ingest_records(
        other_run.id,
        [{"testcase_id": t.id, "outputs": {"response": "yes"}} async for t in client.testcases(other_testset)],
    )
    done = await client.wait_for_run(other_run.id, timeout_s=60)
    assert (done.status, done.metrics[0].passed) == ("completed", 20)

    slow = await client.wait_for_run(slow_run.id, timeout_s=120)
    assert (slow.status, slow.metrics[0].errored) == ("completed", 8)
    errors = {s.error for r in await _records(client, slow_run.id) for s in r.scores}
    assert errors == {
        "the pattern /(a|aa)+$/ took longer than 1 s on this output (61 characters); "
        "a pattern that backtracks this much needs rewriting"
    }
    # The other team's 20 scores did not wait for the 8 slow ones (~1 s each on two workers), though
    # they came after them: its run finished while the slow one was still scoring. (An 8 s bound on
    # its duration, here before, failed at 8.26 s on Kafka on a busy machine.)
    assert datetime.fromisoformat(done.finished_at) < datetime.fromisoformat(slow.finished_at)
