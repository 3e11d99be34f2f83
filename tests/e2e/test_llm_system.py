"""Systems of kind ``llm`` on the real processes: a prompt run by the executor against a real HTTP
server speaking the chat-completions protocol (standing in for a paid LLM provider)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb
from scorekeeper_sdk.exact_json import struct
from services.demo_system.app import answer
from services.demo_system.testset import sample_testcases
from shared.devstack import scenario
from shared.devstack.stack import Stack
from shared.edge.convert import struct_to_dict
from tests.e2e.conftest import LLM_KEY, LLM_PRICES, bot_or_judge
from tests.support.fake_llm import FakeLlmServer, http_error

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

PROMPT = [
    {"role": "system", "content": "Answer with the answer only. Category: {{ metadata.category }}."},
    {"role": "user", "content": "{{ inputs.question }}"},
]


@pytest.fixture
async def client(llm_stack: Stack, llm: FakeLlmServer) -> AsyncIterator[Client]:
    llm.reset(bot_or_judge)
    llm.expected_key = LLM_KEY
    async with llm_stack.client() as c:
        yield c


async def llm_system(client: Client, project_id: str, model: str, **config: object) -> cpb.SystemVersion:
    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=project_id, name=model))
    version: cpb.SystemVersion = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(
            system_id=system.id, kind="llm", name="v1", config=struct({"model": model, "messages": PROMPT, **config})
        )
    )
    return version


async def test_an_llm_system_runs_the_prompt_on_every_testcase(
    llm_stack: Stack, client: Client, llm: FakeLlmServer
) -> None:
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 30, name="llm-system")
    version = await llm_system(client, ids.project_id, "e2e-bot", temperature=0.2, max_tokens=50)
    llm.script(http_error(429, headers={"Retry-After": "1"}), model="e2e-bot")  # rate limited once
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids[:1], trials=2)
    view = await client.wait_for_run(run.id, timeout_s=60)
    assert (view.status, view.records, view.errored_records) == ("completed", 60, 0)

    cases = {c["question"]: c for c in sample_testcases(30)}
    records = [r async for r in client.records(run.id)]
    assert len({(r.testcase_id, r.trial) for r in records}) == 60
    for record in records:
        question = struct_to_dict(record.inputs)["question"]
        outputs = struct_to_dict(record.outputs)
        assert outputs["response"] == answer(question)[1]
        assert outputs["finish_reason"] == "stop"
        assert outputs["usage"] == {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
        }
        price = LLM_PRICES["e2e-bot"]
        assert record.cost_usd == pytest.approx(
            (record.prompt_tokens * price["input_per_mtok"] + record.completion_tokens * price["output_per_mtok"]) / 1e6
        )
        assert record.latency_ms > 0
    exact = sum(answer(q)[1] == c["answer"] for q, c in cases.items())
    assert view.metrics[0].passed == 2 * exact

    requests = llm.received("e2e-bot")
    assert len(requests) == 60 + 1  # one call per testcase × trial, plus the rate-limited one
    first = requests[0].body
    assert (first["temperature"], first["max_tokens"]) == (0.2, 50)
    assert first["messages"][0]["content"].startswith("Answer with the answer only. Category: ")
    assert {r.body["messages"][1]["content"] for r in requests} == set(cases)
    assert all(r.headers["authorization"] == f"Bearer {LLM_KEY}" for r in requests)


async def test_a_model_that_stays_down_gives_errored_records_and_the_run_completes(
    llm_stack: Stack, client: Client, llm: FakeLlmServer
) -> None:
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 2, name="llm-down")
    version = await llm_system(client, ids.project_id, "e2e-bot-down")
    llm.script(*[http_error(503, {"error": {"message": "overloaded"}})] * 8, model="e2e-bot-down")
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids[:1])
    view = await client.wait_for_run(run.id, timeout_s=60)
    assert (view.status, view.records, view.errored_records) == ("completed", 2, 2)
    for record in [r async for r in client.records(run.id)]:
        assert record.error.startswith("the model call failed: system endpoint 127.0.0.1:")
        assert "unavailable after 4 attempts" in record.error
        assert "overloaded" in record.error
        assert LLM_KEY not in record.error
    assert len(llm.received("e2e-bot-down")) == 8


async def test_a_prompt_that_reads_a_missing_field_errors_the_record(
    llm_stack: Stack, client: Client, llm: FakeLlmServer
) -> None:
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 1, name="llm-template")
    version = await llm_system(
        client, ids.project_id, "e2e-bot", messages=[{"role": "user", "content": "{{ inputs.topic }}"}]
    )
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, [])
    view = await client.wait_for_run(run.id, timeout_s=30)
    assert (view.status, view.errored_records) == ("completed", 1)
    [record] = [r async for r in client.records(run.id)]
    assert record.error == "prompt template failed: UndefinedError: 'dict object' has no attribute 'topic'"
    assert llm.received("e2e-bot") == []
