"""The playground on the real processes: a prompt tried on picked testcases and typed inputs,
executed by the executor against a real HTTP server speaking the chat-completions protocol and
scored by the scorer, kept and listed as a try but never in run lists, the run history or the
Records page; tried again edited, saved as a version, kicked off as a full run; and every bad
request refused clearly with nothing written."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, NotFound, PermissionDenied, ScorekeeperError
from scorekeeper_sdk.client import cpb
from services.demo_system.app import answer
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import LLM_KEY, bot_or_judge
from tests.support.fake_llm import FakeLlmServer
from tests.support.playground import llm_version, sdk

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

PROMPT = {
    "model": "e2e-bot",
    "messages": [
        {"role": "system", "content": "Answer with the answer only ({{ metadata.category | default('typed') }})."},
        {"role": "user", "content": "{{ inputs.question }}"},
    ],
}


class World:
    def __init__(self, ids: scenario.DemoIds, version: cpb.SystemVersion, key: str, reader: str) -> None:
        self.ids = ids
        self.version = version
        self.key = key  # a write key named "playground tester"
        self.reader = reader  # a read key of the same project


@pytest.fixture(scope="module")
async def world(llm_stack: Stack) -> World:
    async with llm_stack.client() as admin:
        ids = await scenario.prepare(admin, llm_stack.demo_system_url, 30, name="playground")
        version = await llm_version(admin, ids.project_id, PROMPT)
        key = (await admin.create_api_key(ids.project_id, "playground tester", "write")).secret
        reader = (await admin.create_api_key(ids.project_id, "playground reader", "read")).secret
    return World(ids, version, key, reader)


@pytest.fixture
async def sk(llm_stack: Stack, llm: FakeLlmServer, world: World) -> AsyncIterator[AsyncScorekeeper]:
    llm.reset(bot_or_judge)
    llm.expected_key = LLM_KEY
    async with sdk(llm_stack, world.key) as client:
        yield client


async def _testcases(sk: AsyncScorekeeper, world: World) -> list[Any]:
    return [t async for t in sk.list_testcases(world.ids.testset_id)]


async def test_a_try_runs_the_prompt_on_picked_and_typed_cases_and_scores_them_in_seconds(
    sk: AsyncScorekeeper, llm: FakeLlmServer, world: World
) -> None:
    testcases = await _testcases(sk, world)
    picked = [testcases[4], testcases[5], testcases[1]]  # arithmetic, geography, arithmetic; in this order
    typed = {"inputs": {"question": "What is 2 + 2?"}, "expected": {"answer": "4"}}
    started = time.monotonic()
    tried = await sk.try_prompt(
        world.ids.project_id,
        system_version_id=world.version.id,
        testset_id=world.ids.testset_id,
        testcase_ids=[t.id for t in picked],
        cases=[typed],
        metric_ids=world.ids.metric_ids[:2],
        timeout_s=30,
    )
    took = time.monotonic() - started
    assert tried.status == "completed" and took < 15, (tried.status, took)
    assert (tried.created_by, tried.created_by_key_prefix) == ("playground tester", world.key[:15])
    behind = await sk.get_run(tried.run_id)  # the try's run says the same
    assert (behind.created_by, behind.created_by_key_prefix) == ("playground tester", world.key[:15])
    assert tried.system_version_id == world.version.id and tried.testset_id == world.ids.testset_id
    assert tried.config["model"] == "e2e-bot" and tried.config["messages"] == PROMPT["messages"]
    assert tried.metric_ids == world.ids.metric_ids[:2]
    assert [c.source_testcase_id for c in tried.cases] == [t.id for t in picked] + [""]
    assert [c.inputs for c in tried.cases] == [t.inputs for t in picked] + [typed["inputs"]]

    # Each case's output, in the try's order, scored by both metrics.
    assert tried.run is not None and (tried.run.source, tried.run.records) == ("playground", 4)
    assert tried.run.system_version is not None and tried.run.system_version.kind == "llm"
    assert [r.testcase_id for r in tried.records] == [c.testcase_id for c in tried.cases]
    for case, record in zip(tried.cases, tried.records, strict=True):
        response = answer(case.inputs["question"])[1]
        assert (record.status, record.outputs["response"]) == ("completed", response)
        exact = {s.metric_name: s for s in record.scores}["exact answer"]
        assert exact.status == "completed" and exact.passed == (response == case.expected["answer"])
        assert len(record.scores) == 2
    sent = [r.body["messages"] for r in llm.received("e2e-bot")]
    assert sorted(m[1]["content"] for m in sent) == sorted(c.inputs["question"] for c in tried.cases)
    assert "Answer with the answer only (typed)." in [m[0]["content"] for m in sent]

    # Kept and listed as a try; not a run of the lists, the history or the Records page.
    listed = [t async for t in sk.list_tries(world.ids.project_id)]
    assert tried.id in [t.id for t in listed]
    (again,) = [t for t in listed if t.id == tried.id]
    assert (again.outputs, again.errored_outputs, again.every_call_failed) == (4, 0, False)
    assert [r async for r in sk.list_runs(world.ids.project_id)] == []
    history = await sk.run_history(world.ids.project_id, world.ids.metric_ids[:1])
    assert history[0].points == []
    assert [r async for r in sk.list_records(project_id=world.ids.project_id)] == []
    assert [r async for r in sk.list_records(project_id=world.ids.project_id, search="capital")] == []
    assert [t.id async for t in sk.list_testsets(world.ids.project_id)] == [world.ids.testset_id]
    # A read key reads it; another project's key does not see it at all.
    async with AsyncScorekeeper(sk.settings.url, world.reader, query_url=sk.settings.query_url) as reader:
        assert (await reader.get_try(tried.id)).records == tried.records
        with pytest.raises(PermissionDenied):
            await reader.try_prompt(world.ids.project_id, system_version_id=world.version.id, cases=[typed])


async def test_an_edited_prompt_is_tried_again_saved_as_a_version_and_kicked_off(
    sk: AsyncScorekeeper, world: World
) -> None:
    cases = [{"inputs": {"question": "What is 3 * 7?"}, "expected": {"answer": "21"}}]
    edited = {**PROMPT, "messages": [{"role": "user", "content": "Question: {{ inputs.question }}"}]}
    first = await sk.try_prompt(world.ids.project_id, config=edited, cases=cases, metric_ids=world.ids.metric_ids[:1])
    assert first.records[0].outputs["response"] == "I don't know"  # the bot reads only bare questions
    assert first.records[0].scores[0].passed is False
    fixed = {**PROMPT, "messages": [{"role": "user", "content": "{{ inputs.question }}"}], "temperature": 0.5}
    second = await sk.try_prompt(
        world.ids.project_id,
        config=fixed,
        system_version_id=world.version.id,  # where the edit started from
        cases=cases,
        metric_ids=world.ids.metric_ids[:1],
    )
    assert second.records[0].outputs["response"] == "21" and second.records[0].scores[0].passed is True
    assert second.system_version_id == world.version.id and second.config["temperature"] == 0.5
    assert second.testset_id == ""

    system = await sk.create_system(world.ids.project_id, "bot")
    saved = await sk.create_system_version(system.id, "llm", second.config, name="v2")
    run = await sk.create_run(
        world.ids.project_id, world.ids.testset_id, saved.id, world.ids.metric_ids[:1], source="playground"
    )
    done = await sk.wait_for_run(run.id, timeout_s=60)
    assert (done.status, done.records, done.source) == ("completed", 30, "playground")
    listed = [r.id async for r in sk.list_runs(world.ids.project_id)]
    assert listed == [run.id]  # the kicked-off run, not the tries
    assert [r.id async for r in sk.list_runs(world.ids.project_id, sources=["playground"])] == [run.id]
    tries = [t.id async for t in sk.list_tries(world.ids.project_id)]
    assert tries[:2] == [second.id, first.id]
    points = (await sk.run_history(world.ids.project_id, world.ids.metric_ids[:1]))[0].points
    assert [p.run_id for p in points] == [run.id]


async def _refused(call: Callable[[], Awaitable[Any]]) -> ScorekeeperError:
    with pytest.raises(ScorekeeperError) as refused:
        await call()
    return refused.value


async def test_bad_tries_are_refused_clearly_and_write_nothing(
    llm_stack: Stack, sk: AsyncScorekeeper, world: World
) -> None:
    pid, tid = world.ids.project_id, world.ids.testset_id
    typed = [{"inputs": {"question": "What is 1 + 1?"}}]
    testcases = await _testcases(sk, world)
    before_tries = [t.id async for t in sk.list_tries(pid)]
    before_testsets = [t.id async for t in sk.list_testsets(pid)]
    bad_prompt = {**PROMPT, "messages": [{"role": "user", "content": "{{ inputs.question"}]}
    missing_field = {**PROMPT, "messages": [{"role": "user", "content": "{{ inputs.topic }}"}]}
    human = await sk.create_metric(pid, "reviewed", eval_type="human", output_type="boolean")
    cases: list[tuple[Callable[[], Awaitable[Any]], type[ScorekeeperError], str]] = [
        (lambda: sk.try_prompt(pid, cases=typed), InvalidArgument, "give the prompt to try"),
        (
            lambda: sk.try_prompt(pid, system_version_id="6f1c1b7e-0000-4000-8000-000000000000", cases=typed),
            NotFound,
            "system version 6f1c1b7e-0000-4000-8000-000000000000 does not exist",
        ),
        (
            lambda: sk.try_prompt(pid, system_version_id=world.ids.system_version_id, cases=typed),
            InvalidArgument,
            "system version 'v1' is of kind http: the playground tries prompts",
        ),
        (lambda: sk.try_prompt(pid, config=PROMPT), InvalidArgument, "a try needs at least one case"),
        (
            lambda: sk.try_prompt(pid, config=PROMPT, testset_id=tid),
            InvalidArgument,
            "has 30 testcases: name at most 20",
        ),
        (
            lambda: sk.try_prompt(
                pid, config=PROMPT, testset_id=tid, testcase_ids=[t.id for t in testcases[:15]], cases=typed * 6
            ),
            InvalidArgument,
            "a try takes at most 20 cases, got 21",
        ),
        (
            lambda: sk.try_prompt(pid, config=PROMPT, testcase_ids=[testcases[0].id]),
            InvalidArgument,
            "testcase_ids name testcases of a testset: give its testset_id too",
        ),
        (
            lambda: sk.try_prompt(
                pid, config=PROMPT, testset_id=tid, testcase_ids=["6f1c1b7e-0000-4000-8000-000000000001"]
            ),
            NotFound,
            "testcase(s) 6f1c1b7e-0000-4000-8000-000000000001 are not in testset",
        ),
        (lambda: sk.try_prompt(pid, config=bad_prompt, cases=typed), InvalidArgument, "config.messages.0.content"),
        (
            lambda: sk.try_prompt(pid, config=missing_field, cases=typed),
            InvalidArgument,
            "config.messages[0].content cannot be rendered for case 1: UndefinedError: 'dict object' has no"
            " attribute 'topic'",
        ),
        (
            lambda: sk.try_prompt(pid, config={"messages": PROMPT["messages"]}, cases=typed),
            InvalidArgument,
            "config.model",
        ),
        (
            lambda: sk.try_prompt(pid, config={**PROMPT, "api_key_env": "SCOREKEEPER_DATABASE_URL"}, cases=typed),
            InvalidArgument,
            "config.api_key_env 'SCOREKEEPER_DATABASE_URL' is one of the platform's own settings",
        ),
        (
            lambda: sk.try_prompt(pid, config=PROMPT, cases=typed, metric_ids=[human.id]),
            InvalidArgument,
            "metric(s) 'reviewed' wait for reviewers",
        ),
        (
            lambda: sk.get_try("6f1c1b7e-0000-4000-8000-000000000002"),
            NotFound,
            "try 6f1c1b7e-0000-4000-8000-000000000002",
        ),
    ]
    wrong = []
    for call, kind, message in cases:
        error = await _refused(call)
        if not isinstance(error, kind) or message not in str(error):
            wrong.append((kind.__name__, message, type(error).__name__, str(error)))
    assert wrong == []
    # Over HTTP: 4xx with the message, never a 500.
    async with llm_stack.http(llm_stack.orchestrator_http, world.key) as http:
        for body, status, message in [
            ({"config": PROMPT, "cases": [{"inputs": {"q": 1}}] * 21}, 400, "at most 20 cases"),
            ({"config": {**PROMPT, "temperature": 7}, "cases": typed}, 400, "config.temperature"),
            ({"system_version_id": "nope", "cases": typed}, 400, "system_version_id 'nope' is not a valid id"),
            ({"config": PROMPT, "cases": [{"inputs": "not an object"}]}, 400, ""),
            ({"config": missing_field, "testset_id": tid, "testcase_ids": [testcases[0].id]}, 400, "case 1"),
        ]:
            response = await http.post(f"/v1/projects/{pid}/playground/tries", json=body)
            assert response.status_code == status, response.text
            assert message in response.json()["error"]["message"]
        assert (await http.get("/v1/playground/tries/not-an-id")).status_code == 400
    assert [t.id async for t in sk.list_tries(pid)] == before_tries
    assert [t.id async for t in sk.list_testsets(pid)] == before_testsets


async def test_another_projects_key_sees_none_of_the_tries(
    llm_stack: Stack, sk: AsyncScorekeeper, world: World
) -> None:
    tried = await sk.try_prompt(
        world.ids.project_id, config=PROMPT, cases=[{"inputs": {"question": "What is 5 + 5?"}}], wait=False
    )
    async with llm_stack.client() as admin:
        other = await admin.create_project("playground elsewhere")
        key = (await admin.create_api_key(other.id, "elsewhere", "admin")).secret
    async with AsyncScorekeeper(sk.settings.url, key, query_url=sk.settings.query_url) as stranger:
        for call in (
            lambda: stranger.get_try(tried.id, results=False),
            lambda: stranger.get_run(tried.run_id),
            lambda: anext(stranger.list_tries(world.ids.project_id)),
            lambda: stranger.try_prompt(world.ids.project_id, config=PROMPT, cases=[{"inputs": {}}]),
        ):
            error = await _refused(call)
            assert isinstance(error, NotFound), error
        assert [t async for t in stranger.list_tries(other.id)] == []
