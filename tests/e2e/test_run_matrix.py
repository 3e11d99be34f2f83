"""CompareRunMatrix on the real processes: three runs of one testset side by side — each run's
output and values per testcase, each metric's mean per run, where they part, pages, and every
refusal (too few or too many runs, a run twice, other testsets or projects, unknown metrics)."""

from __future__ import annotations

import uuid

import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, NotFound, RecordIn
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

QUESTIONS = ["2 + 2?", "Capital of France?", "Colour of the sky?", "The answer?"]
EXPECTED = ["4", "Paris", "blue", "42"]
# exact: 1 1 0 1 | 1 0 1 1 | 1 1 1 0;  short (at most 5 characters): 1 1 1 1 | 1 1 1 1 | 1 1 1 0
OUTPUTS = {
    "v1": ["4", "Paris", "red", "42"],
    "v2": ["4", "Lyon", "blue", "42"],
    "v3": ["4", "Paris", "blue", "forty-two"],
}


async def _run(sdk: AsyncScorekeeper, project: str, testset: str, name: str, metric_ids: list[str]) -> str:
    version = await sdk.create_system_version_by_name(project, "qa bot", "sdk", name=name)
    run = await sdk.create_run(project, testset, version.id, metric_ids, notes=f"prompt {name}")
    cases = [t.id async for t in sdk.list_testcases(testset)]
    outputs = OUTPUTS[name]
    await sdk.ingest_records(
        run.id, [RecordIn(c, outputs={"response": o}) for c, o in zip(cases, outputs, strict=True)]
    )
    assert (await sdk.wait_for_run(run.id, timeout_s=60)).status == "completed"
    return run.id


async def test_three_runs_side_by_side(stack: Stack) -> None:
    async with stack.client() as admin:
        project = (await admin.create_project(f"matrix {uuid.uuid4().hex[:6]}")).id
        key = (await admin.create_api_key(project, "reader", "write")).secret
    async with stack.sdk(key) as sdk:
        testset = await sdk.create_testset(
            project,
            "qa",
            [{"question": q, "answer": a} for q, a in zip(QUESTIONS, EXPECTED, strict=True)],
            inputs=["question"],
            expected=["answer"],
        )
        exact = await sdk.create_heuristic_metric(project, "exact", "exact_match", {"expected_field": "answer"})
        short = await sdk.create_heuristic_metric(project, "short", "length_between", {"max_length": 5})
        runs = [await _run(sdk, project, testset.id, name, [exact.id, short.id]) for name in OUTPUTS]

        matrix = await sdk.compare_run_matrix(runs)
        assert [m.name for m in matrix.metrics] == ["exact", "short"]
        assert [(r.run_id, r.system_version_name, r.notes) for r in matrix.runs] == [
            (runs[0], "v1", "prompt v1"),
            (runs[1], "v2", "prompt v2"),
            (runs[2], "v3", "prompt v3"),
        ]
        assert [r.means for r in matrix.runs] == [
            {exact.id: 0.75, short.id: 1.0},
            {exact.id: 0.75, short.id: 1.0},
            {exact.id: 0.75, short.id: 0.75},
        ]
        assert (matrix.testcases_compared, matrix.testcases_differing, matrix.next_page_token) == (4, 3, "")
        by_question = {row.inputs["question"]: row for row in matrix.testcases}
        assert [by_question[q].differs for q in QUESTIONS] == [False, True, True, True]
        assert [[c.outputs["response"] for c in by_question[q].cells] for q in QUESTIONS] == [
            [OUTPUTS[name][i] for name in OUTPUTS] for i in range(len(QUESTIONS))
        ]
        last = by_question["The answer?"]
        assert last.expected == {"answer": "42"}
        assert [c.values for c in last.cells] == [
            {exact.id: 1.0, short.id: 1.0},
            {exact.id: 1.0, short.id: 1.0},
            {exact.id: 0.0, short.id: 0.0},
        ]
        assert all(len(c.record_ids) == 1 and c.status == "completed" for c in last.cells)

        # Only where they part, one metric, two a page.
        first = await sdk.compare_run_matrix(runs, metrics=["short"], differing_only=True, page_size=2)
        assert [m.name for m in first.metrics] == ["short"]
        assert first.testcases_differing == 1
        assert [row.inputs["question"] for row in first.testcases] == ["The answer?"]
        paged = await sdk.compare_run_matrix(runs, differing_only=True, page_size=2)
        rest = await sdk.compare_run_matrix(runs, differing_only=True, page_size=2, page_token=paged.next_page_token)
        assert len(paged.testcases) == 2 and len(rest.testcases) == 1 and rest.next_page_token == ""
        seen = {row.testcase_id for row in paged.testcases + rest.testcases}
        assert seen == {by_question[q].testcase_id for q in QUESTIONS[1:]}
        with pytest.raises(InvalidArgument, match="page_token was issued for other filters"):
            await sdk.compare_run_matrix(runs[:2], differing_only=True, page_size=2, page_token=paged.next_page_token)

        # Refusals.
        for given, message in [
            (runs[:1], "run_ids must name 2..8 runs, got 1"),
            ([runs[0]] * 9, "run_ids must name 2..8 runs, got 9"),
            ([runs[0], runs[1], runs[0]], f"run_ids names run {runs[0]} twice"),
            ([runs[0], "nope"], "run_ids"),
        ]:
            with pytest.raises(InvalidArgument, match=message):
                await sdk.compare_run_matrix(given)
        with pytest.raises(InvalidArgument, match="unknown metric 'nope'"):
            await sdk.compare_run_matrix(runs, metrics=["nope"])
        other = await sdk.create_testset(project, "other", [{"question": "?"}], inputs=["question"])
        elsewhere = await sdk.create_run(
            project, other.id, (await sdk.create_system_version_by_name(project, "qa bot", "sdk", name="v1")).id
        )
        with pytest.raises(InvalidArgument, match="are on different testsets"):
            await sdk.compare_run_matrix([runs[0], elsewhere.id])
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.compare_run_matrix([runs[0], str(uuid.uuid4())])

    # Over HTTP: the run ids as a repeated query parameter.
    async with stack.http(stack.query_http, key, timeout=30) as http:
        answered = await http.get("/v1/runs:matrix", params={"run_ids": runs, "page_size": 1})
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert (body["testcases_compared"], len(body["testcases"]), len(body["runs"])) == (4, 1, 3)


async def test_another_projects_run_is_not_found(stack: Stack) -> None:
    async with stack.client() as admin:
        mine = (await admin.create_project(f"matrix a {uuid.uuid4().hex[:6]}")).id
        theirs = (await admin.create_project(f"matrix b {uuid.uuid4().hex[:6]}")).id
        key = (await admin.create_api_key(mine, "reader", "read")).secret
        version = await admin.create_http_system(theirs, "bot", {"url": "http://127.0.0.1:9/", "response_path": "a"})
        testset = await admin.create_testset(theirs, "qa", [{"question": "?"}], inputs=["question"])
        other_run = await admin.create_run(theirs, testset.id, version.id, [])
    async with stack.sdk(key) as sdk:
        with pytest.raises(NotFound) as hidden:
            await sdk.compare_run_matrix([other_run.id, str(uuid.uuid4())])
    assert "does not exist" in str(hidden.value)
    async with stack.http(stack.query_http, key, timeout=30) as http:
        over_http = await http.get("/v1/runs:matrix", params={"run_ids": [other_run.id, str(uuid.uuid4())]})
    assert (over_http.status_code, over_http.json()["error"]["code"]) == (404, "NOT_FOUND")
