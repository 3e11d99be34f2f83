"""The metrics engine on the real processes: a heuristic, an LLM-judged and a human metric in one
run; the judge is a real HTTP server speaking the chat-completions protocol (the only test double:
it stands in for a paid LLM provider)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb, qpb
from scorekeeper_sdk.exact_json import struct
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import LLM_KEY, bot_or_judge
from tests.support.fake_llm import FakeLlmServer, answer, http_error

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

MODEL = "e2e-judge"


@pytest.fixture
async def client(llm_stack: Stack) -> AsyncIterator[Client]:
    async with llm_stack.client() as c:
        yield c


def judge_says(record: qpb.RecordView) -> bool:
    """What the test judge answers for a record: the reference answer appears in the output."""
    reference = str(dict(record.expected)["answer"])
    output = str(next(iter(dict(record.outputs).values())))
    return reference.casefold() in output.casefold()


def score_of(record: qpb.RecordView, metric: str) -> qpb.ScoreView:
    return next(s for s in record.scores if s.metric_name == metric)


async def wait_for_status(client: Client, run_id: str, status: str, timeout_s: float = 60) -> qpb.RunView:
    for _ in range(int(timeout_s * 10)):
        view = await client.get_run(run_id)
        if view.status == status:
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} is {view.status}, not {status}: {view.status_explanation}")


async def test_heuristic_ai_and_human_metrics_in_one_run(llm_stack: Stack, client: Client, llm: FakeLlmServer) -> None:
    llm.reset(bot_or_judge)
    llm.expected_key = LLM_KEY
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 40, name="engine")
    correct = await client.create_ai_metric(
        ids.project_id, "judged correct", model=MODEL, template="answer_correctness", guidelines="Ignore case."
    )
    graded = await client.create_ai_metric(
        ids.project_id, "judged grade", model=MODEL, template="answer_correctness", output_type="int", threshold=4
    )
    reviewed = await client.create_metric(ids.project_id, "reviewer agrees", eval_type="human")
    # The judge is briefly rate limited and then fails once; both are retried.
    llm.script(http_error(429, headers={"Retry-After": "1"}), http_error(500), model=MODEL)

    run = await client.create_run(
        ids.project_id, ids.testset_id, ids.system_version_id, [ids.metric_ids[1], correct.id, graded.id, reviewed.id]
    )
    view = await wait_for_status(client, run.id, "awaiting_human_scoring")
    records = [r async for r in client.records(run.id)]
    done = [r for r in records if r.status == "completed"]
    oracle = {r.id: judge_says(r) for r in done}
    assert len(done) == view.records - view.errored_records > 30

    for record in done:
        verdict = score_of(record, "judged correct")
        assert (verdict.status, verdict.value.bool_value, verdict.passed) == (
            "completed",
            oracle[record.id],
            oracle[record.id],
        )
        grade = score_of(record, "judged grade")
        assert (grade.value.number_value, grade.passed) == (5 if oracle[record.id] else 1, oracle[record.id])
        assert verdict.prompt_tokens > 0 and verdict.completion_tokens > 0
        assert verdict.cost_usd == pytest.approx((verdict.prompt_tokens * 1.0 + verdict.completion_tokens * 4.0) / 1e6)
        assert score_of(record, "reviewer agrees").status == "pending"
    # One judge call per AI score, plus the two retried failures: nothing was judged twice.
    assert len(llm.received(MODEL)) == 2 * len(done) + 2
    assert all(r.headers["authorization"] == f"Bearer {LLM_KEY}" for r in llm.received(MODEL))

    by_name = {m.name: m for m in view.metrics}
    passes = sum(oracle.values())
    assert (by_name["judged correct"].scored, by_name["judged correct"].passed) == (len(done), passes)
    assert (by_name["judged grade"].scored, by_name["judged grade"].passed) == (len(done), passes)
    assert by_name["judged grade"].mean == pytest.approx((5 * passes + (len(done) - passes)) / len(done))
    judge_tokens = sum(score_of(r, "judged correct").prompt_tokens for r in done)
    assert by_name["judged correct"].judge_prompt_tokens == judge_tokens
    assert by_name["judged correct"].judge_cost_usd == pytest.approx(
        sum(score_of(r, "judged correct").cost_usd for r in done)
    )
    assert (by_name["reviewer agrees"].scored, by_name["reviewer agrees"].pending) == (0, len(done))

    # The reviewer agrees with the judge on all but the first record.
    for i, record in enumerate(done):
        await client.submit_human_score(
            record.id, reviewed.id, oracle[record.id] if i else not oracle[record.id], reviewer="rae"
        )
    final = await client.wait_for_run(run.id, timeout_s=30)
    human = next(m for m in final.metrics if m.name == "reviewer agrees")
    assert final.status == "completed"
    assert (human.scored, human.pending, human.passed) == (len(done), 0, passes + (-1 if oracle[done[0].id] else 1))
    assert human.ci_method == "wilson"
    assert human.ci_low <= human.pass_rate <= human.ci_high
    # The run's usage over time (GetRunHistory's with_usage): its judges' cost, of the whole run and
    # of one category's records alone, as its scores add up.
    ai_scores = [s for r in done for s in r.scores if s.metric_name in ("judged correct", "judged grade")]
    history = await client.run_history(ids.project_id, [correct.id], with_usage=True)
    (usage,) = history.usage
    assert (usage.run_id, usage.records) == (run.id, view.records)
    assert usage.judge_cost_usd == pytest.approx(sum(s.cost_usd for s in ai_scores))
    category = str(dict(done[0].metadata)["category"])
    ours = {r.id for r in records if str(dict(r.metadata)["category"]) == category}
    sliced = await client.run_history(
        ids.project_id, [correct.id], with_usage=True, fields=[f"metadata.category={category}"]
    )
    assert sliced.usage[0].records == len(ours)
    assert sliced.usage[0].judge_cost_usd == pytest.approx(
        sum(s.cost_usd for r in done if r.id in ours for s in r.scores if s.metric_name.startswith("judged"))
    )


async def test_a_judge_that_never_gives_a_verdict_errors_the_scores_and_the_run_completes(
    llm_stack: Stack, client: Client, llm: FakeLlmServer
) -> None:
    llm.reset(lambda body: answer("PASS, definitely"))
    llm.expected_key = LLM_KEY
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 3, name="garbage")
    judged = await client.create_ai_metric(
        ids.project_id, "judged", model="garbage-judge", template="answer_relevance", parse_attempts=2
    )
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [judged.id])
    view = await client.wait_for_run(run.id, timeout_s=60)
    completed = view.records - view.errored_records
    assert (view.status, view.metrics[0].errored, view.metrics[0].scored) == ("completed", completed, 0)
    for record in [r async for r in client.records(run.id) if r.status == "completed"]:
        score = record.scores[0]
        assert score.status == "errored"
        assert score.error == (
            "the judge's answer is not a verdict after 2 attempts: the answer is not JSON (Expecting value at"
            " position 0); raw answer: PASS, definitely"
        )
    assert len(llm.received("garbage-judge")) == 2 * completed


async def test_ingested_usage_feeds_cost_and_latency_heuristics(llm_stack: Stack, client: Client) -> None:
    ids = await scenario.prepare(client, llm_stack.demo_system_url, 3, name="costs")
    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=ids.project_id, name="client-side"))
    sdk = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system.id, kind="sdk", name="v1", config=struct({}))
    )
    cheap = await client.create_heuristic_metric(ids.project_id, "cheap", "cost_under", {"max_usd": 0.01})
    fast = await client.create_heuristic_metric(ids.project_id, "fast", "latency_under", {"max_ms": 500})
    run = await client.create_run(ids.project_id, ids.testset_id, sdk.id, [cheap.id, fast.id])
    cases = [c async for c in client.testcases(ids.testset_id)]
    await client.ingest_records(
        run.id,
        [
            {"testcase_id": cases[0].id, "outputs": {"response": "a"}, "latency_ms": 120, "cost_usd": 0.002,
             "prompt_tokens": 300, "completion_tokens": 40},
            {"testcase_id": cases[1].id, "outputs": {"response": "b"}, "latency_ms": 900, "cost_usd": 0.05},
            {"testcase_id": cases[2].id, "outputs": {"response": "c"}, "latency_ms": 10},
        ],
    )  # fmt: skip
    view = await client.wait_for_run(run.id, timeout_s=30)
    assert view.status == "completed"
    records = {r.testcase_id: r async for r in client.records(run.id)}
    first = records[cases[0].id]
    assert (first.prompt_tokens, first.completion_tokens, first.cost_usd) == (300, 40, 0.002)
    assert dict(first.metadata) == dict(cases[0].metadata)
    assert not records[cases[2].id].HasField("cost_usd")
    outcomes = {
        (name, i): (score_of(records[c.id], name).status, score_of(records[c.id], name).passed)
        for i, c in enumerate(cases)
        for name in ("cheap", "fast")
    }
    assert outcomes == {
        ("cheap", 0): ("completed", True),
        ("cheap", 1): ("completed", False),
        ("cheap", 2): ("errored", False),
        ("fast", 0): ("completed", True),
        ("fast", 1): ("completed", False),
        ("fast", 2): ("completed", True),
    }
    assert uuid.UUID(first.id)
