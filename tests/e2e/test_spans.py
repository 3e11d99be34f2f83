"""The steps of a call (spans) on the real processes: run_and_evaluate keeps each call's steps with
its record (async and threaded systems alike, calls in flight never mixing them, a failed call
keeping the steps it took); a logged call keeps its own, shown too with the record a monitor made of
it; steps that break a rule are refused naming them, with nothing stored; the record's, the
call's and the review item's pages draw them as a tree, and the CLI prints them."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import asyncpg
import pytest
from playwright.async_api import expect

from scorekeeper_sdk import AsyncScorekeeper, CallIn, InvalidArgument, Span, span, trace
from scorekeeper_sdk.api.runs import RecordIn
from scorekeeper_sdk.evaluate import arun_and_evaluate
from scorekeeper_sdk.views import Record
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.fake_system import FakeSystemServer, fail, fake_system_server, malformed
from tests.support.monitors import settled
from tests.support.sdk_bots import traced

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROWS = [{"n": n, "answer": str(n + 1)} for n in range(10)]


def shape(record: Record) -> list[tuple[str, str, str]]:
    """Each step: its name, its parent's name, its kind."""
    names = {s.id: s.name for s in record.spans}
    return [(s.name, names.get(s.parent_id, ""), s.kind) for s in record.spans]


async def records_by_n(sk: AsyncScorekeeper, run_id: str) -> dict[int, Record]:
    listed = [r async for r in sk.list_records(run_id)]
    read = await asyncio.gather(*(sk.get_record(r.id) for r in listed))
    return {int(r.inputs["n"]): r for r in read}


async def test_each_records_steps_are_kept_with_it(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("traced")
    testset = await sk.create_testset(project.id, "numbers", ROWS, inputs=["n"], expected=["answer"])
    exact = await sk.create_heuristic_metric(project.id, "exact", "exact_match", {"expected_field": "answer"})

    # A threaded system (sdk_bots.traced: n = 7 fails inside its answer step).
    threaded = await arun_and_evaluate(
        sk,
        system=traced,
        project_id=project.id,
        testset_id=testset.id,
        metric_ids=[exact.id],
        max_concurrency=4,
        wait=True,
        progress=False,
    )
    records = await records_by_n(sk, threaded.run.id)
    assert len(records) == 10
    for n, record in records.items():
        assert shape(record) == [
            ("retrieve", "", "retrieval"),
            ("embed", "retrieve", "embedding"),
            ("answer", "", "llm"),
        ], n
        retrieve, embed, said = record.spans
        assert (retrieve.input, retrieve.output, embed.output) == ({"n": n}, [f"doc-{n}"], [n / 10])
        assert (said.prompt_tokens, said.completion_tokens, said.metadata) == (10 + n, 1, {"model": "adder-1"})
        assert said.start_ms >= retrieve.start_ms + retrieve.duration_ms - 0.001
    failed = records[7]
    assert (failed.status, failed.error) == ("errored", "ValueError: cannot answer 7")
    assert (failed.spans[2].error, failed.spans[2].output) == ("ValueError: cannot answer 7", None)
    assert records[3].spans[2].output == "4"

    # An async system, its calls in flight at once: each record has its own steps.
    async def system(inputs: dict[str, Any]) -> str:
        n = int(inputs["n"])
        async with span("think", kind="chain", input=n):
            await asyncio.sleep(0.02 * (10 - n))
            async with span("tool", kind="tool") as tool:
                tool.output = n * 2
        return str(n + 1)

    gathered = await arun_and_evaluate(
        sk,
        system=system,
        project_id=project.id,
        testset_id=testset.id,
        metric_ids=[exact.id],
        max_concurrency=10,
        wait=True,
        progress=False,
    )
    gathered_records = await records_by_n(sk, gathered.run.id)
    for n, record in gathered_records.items():
        assert [(s.name, s.parent_id, s.input, s.output) for s in record.spans] == [
            ("think", "", n, None),
            ("tool", "1", None, n * 2),
        ]
        assert record.spans[0].duration_ms >= 0.02 * (10 - n) * 1000 - 1

    # Side by side, each run's record shows the steps it took.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        query = f"baseline={threaded.run.id}&run={gathered.run.id}&testcase={records[7].testcase_id}"
        await page.goto(f"/projects/{project.id}/compare/testcase?{query}")
        a, b = page.locator(".side-a .steps-compact li"), page.locator(".side-b .steps-compact li")
        assert [await x.locator(".step-name").inner_text() for x in await a.all()] == ["retrieve", "embed", "answer"]
        assert [await x.locator(".step-name").inner_text() for x in await b.all()] == ["think", "tool"]
        assert await page.locator(".side-a .steps-compact li.step-failed").count() == 1  # n = 7 failed in A
        await screenshot(page, "compare-testcase-steps")

    # Across the run, step by step: where its calls spend their time.
    summed = await sk.run_steps(threaded.run.id)
    assert (summed.records, summed.records_with_steps) == (10, 10)
    assert [(s.name, s.kind, s.parent, s.depth, s.records, s.taken, s.failed) for s in summed.steps] == [
        ("retrieve", "retrieval", "", 0, 10, 10, 0),
        ("embed", "embedding", "retrieve", 1, 10, 10, 0),
        ("answer", "llm", "", 0, 10, 10, 1),
    ]
    answering = summed.steps[2]
    assert (answering.prompt_tokens, answering.completion_tokens, answering.costed) == (145, 10, 0)
    assert 0 <= answering.p50_ms <= answering.p95_ms <= answering.max_ms and answering.mean_start_ms > 0
    listed = scorekeeper(stack, "runs", "steps", threaded.run.id)
    assert listed.returncode == 0, listed.stderr
    assert "10 of 10 records hold steps" in listed.stdout
    names = [line.split("│")[1].rstrip() for line in listed.stdout.splitlines() if line.count("│") > 5]
    assert names == [" retrieve", "   embed", " answer"]
    without = await arun_and_evaluate(
        sk, system=lambda inputs: "1", project_id=project.id, testset_id=testset.id, wait=True, progress=False
    )
    assert (await sk.run_steps(without.run.id)).steps == []
    none = scorekeeper(stack, "runs", "steps", without.run.id)
    assert none.returncode == 0 and "none of its 10 records holds steps" in none.stderr

    # The records whose call took a step, where it failed, or where it took longer than asked.
    async def ns(run_id: str, *steps: str) -> list[int]:
        return sorted([int(r.inputs["n"]) async for r in sk.list_records(run_id, steps=steps)])

    assert await ns(threaded.run.id, "answer:failed") == [7]
    assert await ns(threaded.run.id, "*:failed") == [7]
    assert await ns(threaded.run.id, "embed") == list(range(10))
    assert await ns(threaded.run.id, "embed", "answer:failed") == [7]
    assert await ns(threaded.run.id, "think") == []
    assert (await ns(threaded.run.id, "*"), await ns(without.run.id, "*")) == (list(range(10)), [])  # any step
    assert await ns(threaded.run.id, "embed:failed") == []
    slow = sorted(n for n, r in gathered_records.items() if r.spans[0].duration_ms > 150)
    assert {0, 1, 2} <= set(slow)  # each thinks 20 ms × (10 - n) at least
    assert await ns(gathered.run.id, "think:gt:150") == slow
    assert await ns(gathered.run.id, "think:lt:150") == sorted(set(range(10)) - set(slow))
    failing = [r.id async for r in sk.list_records(project_id=project.id, steps=["*:failed"])]
    assert failing == [records[7].id]  # across the project's runs
    with pytest.raises(InvalidArgument, match="steps condition 'answer:gt:slow': 'slow' is not a number"):
        await ns(threaded.run.id, "answer:gt:slow")
    async with stack.http(stack.query_http, stack.admin_key) as http:  # ?steps=, repeated to AND
        listed_http = await http.get(f"/v1/runs/{threaded.run.id}/records", params=[("steps", "*:failed")] * 2)
        assert [r["id"] for r in listed_http.json()["records"]] == [records[7].id]
        refused = await http.get(f"/v1/runs/{threaded.run.id}/records", params={"steps": ":failed"})
        assert refused.status_code == 400
        assert "steps condition ':failed' names no step" in refused.json()["error"]["message"]
    cli = scorekeeper(stack, "--project", project.id, "records", "list", "--step", "answer:failed", "--json")
    assert cli.returncode == 0, cli.stderr
    assert [r["id"] for r in json.loads(cli.stdout)] == [records[7].id]

    # JSONL exports hold each record's steps as GetRecord gives them (a run's, and the Records page's).
    for exported in (
        [c async for c in sk.export_run(threaded.run.id, format="jsonl")],
        [c async for c in sk.export_records(project.id, format="jsonl", run_ids=[threaded.run.id])],
    ):
        by_id = {json.loads(line)["id"]: json.loads(line) for line in b"".join(exported).splitlines()}
        assert len(by_id) == 10
        seven = by_id[records[7].id]["spans"]
        assert [(s["id"], s["parent_id"], s["name"], s["kind"]) for s in seven] == [
            ("1", "", "retrieve", "retrieval"),
            ("2", "1", "embed", "embedding"),
            ("3", "", "answer", "llm"),
        ]
        assert seven[2]["error"] == "ValueError: cannot answer 7" and "parent_name" not in seven[1]
        assert seven[0]["input"] == {"n": 7} and seven[2]["prompt_tokens"] == 17
    run_export = b"".join([c async for c in sk.export_run(without.run.id, format="jsonl")]).splitlines()
    assert [json.loads(line)["spans"] for line in run_export] == [[]] * 10

    # The CLI prints a record's steps, indented under the step they ran in.
    shown = scorekeeper(stack, "records", "show", records[7].id)
    assert shown.returncode == 0, shown.stderr
    assert "error: ValueError: cannot answer 7" in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if "retrieval" in line or "embedding" in line]
    assert [line.split("│")[1].rstrip() for line in lines] == [" retrieve", "   embed"]
    assert "3 steps" in shown.stdout and "ValueError: cannot answer 7" in shown.stdout.split("3 steps")[1]
    assert f"/projects/{project.id}/records/{records[7].id}" in shown.stdout

    # The record's page draws the tree; a step opens to what it was given and gave back.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        # The run page, once finished, sums them up; a run without steps shows nothing of it.
        await page.goto(f"/projects/{project.id}/runs/{threaded.run.id}")
        summary = page.locator("#run-steps-table tbody tr")
        await expect(summary).to_have_count(3)
        assert [await r.get_attribute("data-depth") for r in await summary.all()] == ["0", "1", "0"]
        assert (await summary.nth(2).locator("td").nth(3).inner_text()).strip() == "1"  # answer failed once
        await screenshot(page, "run-steps")
        # Its failures lead to the run's records where the step failed.
        await summary.nth(2).locator("td").nth(3).get_by_role("link").click()
        await expect(page.locator("#records-table tbody tr")).to_have_count(1)
        assert await page.locator("#step-filters .chip").inner_text() == "answer:failed ×"
        await expect(page.locator("#records-table tbody tr")).to_contain_text("cannot answer 7")
        await screenshot(page, "run-records-by-step")
        await page.locator("#step-filters .chip a").click()
        await expect(page.locator("#records-table tbody tr")).to_have_count(10)
        step_box = page.get_by_label("Step", exact=True)  # the box, not the chips' hidden inputs
        await step_box.fill("think")  # typed: no record of this run took it
        await step_box.press("Enter")
        await expect(page.locator("#step-filters .chip")).to_have_text("think ×")
        await expect(page.locator("#records-table tbody tr")).to_have_text(["No record matches these filters."])
        await step_box.fill("answer:gt:slow")  # one the API would refuse
        await step_box.press("Enter")
        await expect(page.locator("#records .flash.error")).to_have_text(
            "Step filter ignored: 'answer:gt:slow': 'slow' is not a number."
        )
        await expect(page.locator("#step-filters .chip")).to_have_text("think ×")  # the rest kept
        await page.goto(f"/projects/{project.id}/runs/{without.run.id}")
        await page.locator("#records-table").wait_for()
        await page.wait_for_load_state("networkidle")
        assert await page.locator("#run-steps-table").count() == 0
        await page.goto(f"/projects/{project.id}/records/{records[7].id}")
        rows = page.locator("#steps-table tbody tr")
        assert await rows.count() == 3
        assert [await r.get_attribute("data-depth") for r in await rows.all()] == ["0", "1", "0"]
        answer_row = page.locator("#steps-table tr[data-step='3']")
        assert "failed" in await answer_row.get_attribute("class")  # type: ignore[operator]
        await page.click("#steps-table tr[data-step='1'] summary")
        assert '"n": 7' in await page.locator("#steps-table tr[data-step='1'] .step-input").inner_text()
        await page.click("#steps-table tr[data-step='3'] summary")
        assert await page.locator("#steps-table tr[data-step='3'] .step-error").inner_text() == (
            "ValueError: cannot answer 7"
        )
        await screenshot(page, "record-steps")


async def test_steps_that_break_a_rule_are_refused_naming_them(sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("refused steps")
    testset = await sk.create_testset(project.id, "numbers", ROWS[:2], inputs=["n"], expected=["answer"])
    system = await sk.create_system(project.id, "mine")
    version = await sk.create_system_version(system.id, "sdk", {})
    run = await sk.create_run(project.id, testset.id, version.id, [])
    first, second = [t async for t in sk.list_testcases(testset.id, run_id=run.id)]
    good = RecordIn(first.id, outputs={"response": "1"}, spans=[Span(id="1", name="ok")])
    for spans, message in [
        ([Span(id="1", name="a", parent_id="9")], r"records\[1\]\.spans\[0\]\.parent_id '9' names no step of the call"),
        (
            [Span(id="1", name="a"), Span(id="1", name="b")],
            r"records\[1\]\.spans\[1\]\.id '1' repeats the id of records\[1\]\.spans\[0\]",
        ),
        ([Span(id="1", name="a", duration_ms=-5)], r"records\[1\]\.spans\[0\]\.duration_ms must be a number >= 0"),
        ([Span(id="1", name="a", input="\x00")], r"NUL"),
    ]:
        bad = RecordIn(second.id, outputs={"response": "2"}, spans=spans)
        with pytest.raises(InvalidArgument, match=message):
            await sk.ingest_records(run.id, [good, bad])
    assert [r async for r in sk.list_records(run.id)] == []  # nothing of a refused batch is stored

    cycle = [Span(id="a", name="x", parent_id="b"), Span(id="b", name="y", parent_id="a")]
    with pytest.raises(InvalidArgument, match=r"calls\[1\]\.spans\[0\] is its own ancestor"):
        await sk.log_calls(project.id, [CallIn(call_id="c-1"), CallIn(call_id="c-2", spans=cycle)])
    assert [c async for c in sk.list_calls(project.id)] == []


async def test_a_logged_calls_steps_show_with_it_and_with_its_monitor_record(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("traced calls")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    monitor = await sk.create_monitor(project.id, "all", [polite.id], sample_rate=100, window_calls=2)
    logged = []
    for n in range(2):
        # Each step takes 0.1 s, so the run's steps come in the order they started on average
        # however busy the machine (its scheduling jitters by milliseconds, not by a tenth).
        with trace() as t:
            with span("classify", kind="llm", input=f"q{n}") as step:
                step.output, step.cost_usd = "billing", 0.002
                await asyncio.sleep(0.1)
            with span("reply", kind="tool"):
                await asyncio.sleep(0.1)
            if n == 0:
                with span("escalate"):
                    pass
        logged.append(CallIn(call_id=f"req-{n}", outputs={"response": "please wait"}, spans=t.spans))
    assert (await sk.log_calls(project.id, logged)).stored == 2

    call = await sk.get_call(project.id, "req-1")
    assert [(s.id, s.name, s.kind, s.input, s.output, s.cost_usd) for s in call.spans] == [
        ("1", "classify", "llm", "q1", "billing", 0.002),
        ("2", "reply", "tool", None, None, None),
    ]
    assert [c.spans async for c in sk.list_calls(project.id)] == [[], []]  # lists leave them out

    windows = await settled(sk, monitor.id, 1)
    (window,) = windows.windows
    records = {r.metadata["call_id"]: r async for r in sk.list_records(window.run_id)}
    sampled = await sk.get_record(records["req-0"].id)
    assert [(s.name, s.input) for s in sampled.spans] == [("classify", "q0"), ("reply", None), ("escalate", None)]
    window_steps = await sk.run_steps(window.run_id)
    assert [(s.name, s.records, s.costed, s.cost_usd) for s in window_steps.steps] == [
        ("classify", 2, 2, pytest.approx(0.004)),
        ("reply", 2, 0, 0.0),
        ("escalate", 1, 0, 0.0),
    ]
    exported = b"".join([c async for c in sk.export_run(window.run_id, format="jsonl")]).splitlines()
    assert sorted(len(json.loads(line)["spans"]) for line in exported) == [2, 3]  # their calls' steps
    # A monitor's records are found by their calls' steps.
    escalated = [r.metadata["call_id"] async for r in sk.list_records(window.run_id, steps=["escalate"])]
    assert escalated == ["req-0"]
    assert [r async for r in sk.list_records(project_id=project.id, steps=["classify:gt:60000"])] == []

    shown = scorekeeper(stack, "--project", project.id, "calls", "show", "req-1")
    assert shown.returncode == 0, shown.stderr
    assert "2 steps" in shown.stdout and "classify" in shown.stdout and "$0.0020" in shown.stdout

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/calls/req-1")
        rows = page.locator("#steps-table tbody tr")
        assert await rows.count() == 2
        assert "classify" in await rows.first.inner_text()
        await page.goto(f"/projects/{project.id}/records/{sampled.id}")
        assert await page.locator("#steps-table tbody tr").count() == 3


async def test_a_reviewer_sees_how_the_answer_was_reached(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("traced review")
    testset = await sk.create_testset(project.id, "numbers", ROWS[:2], inputs=["n"], expected=["answer"])
    helpful = await sk.create_metric(project.id, "helpful", eval_type="human")
    evaluation = await arun_and_evaluate(
        sk, system=traced, project_id=project.id, testset_id=testset.id, metric_ids=[helpful.id], progress=False
    )
    deadline = asyncio.get_running_loop().time() + 60
    while (await sk.get_run(evaluation.run.id)).status != "awaiting_human_scoring":
        assert asyncio.get_running_loop().time() < deadline, "the run never waited for reviewers"
        await asyncio.sleep(0.2)
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/review/{helpful.id}?run={evaluation.run.id}")
        await page.fill("#reviewer-form input[name=reviewer]", "ana")
        await page.click("#reviewer-form button[type=submit]")
        await page.wait_for_url(re.compile(r"/review/[0-9a-f-]+/records/[0-9a-f-]+"))
        steps = page.locator("#steps-table tbody tr")
        assert [await r.get_attribute("data-depth") for r in await steps.all()] == ["0", "1", "0"]
        assert "retrieve" in await steps.first.inner_text()
        # The verdict form comes first, where the review keys expect it.
        form = await page.locator("#review-form").bounding_box()
        table = await page.locator("#steps-table").bounding_box()
        assert form is not None and table is not None and form["y"] < table["y"]


system = pytest.fixture(scope="module")(fake_system_server)


async def test_an_http_systems_answer_gives_its_records_usage_and_steps(
    stack: Stack, sk: AsyncScorekeeper, system: FakeSystemServer
) -> None:
    project = await sk.create_project("traced http")
    rows = [{"question": f"q{n}"} for n in range(3)]
    testset = await sk.create_testset(project.id, "questions", rows, inputs=["question"])
    bot = await sk.create_system(project.id, "bot")
    paths = {
        "outputs": {"answer": "answer"},
        "usage": {"prompt_tokens": "usage.prompt_tokens", "completion_tokens": "$.usage.completion_tokens"}
        | {"cost_usd": "usage.cost"},
        "spans_path": "trace.spans",
    }

    async def run_of(name: str, path: str) -> dict[str, Record]:
        version = await sk.create_system_version(bot.id, "http", {"url": system.url(path), **paths}, name=name)
        run = await sk.wait_for_run((await sk.create_run(project.id, testset.id, version.id, [])).id, 120)
        assert run.status == "completed"
        return {r.inputs["question"]: r for r in (await records_of(sk, run.id))}

    traced = await run_of("v1", "/traced")
    for question, record in traced.items():
        assert (record.status, record.outputs) == ("completed", {"answer": f"echo: {question}"})
        assert (record.prompt_tokens, record.completion_tokens, record.cost_usd) == (11, 4, 0.0007)
        assert shape(record) == [
            ("retrieve", "", "retrieval"),
            ("embed", "retrieve", "embedding"),
            ("model", "", "llm"),
        ]
        assert (record.spans[0].input, record.spans[2].output, record.spans[2].metadata) == (
            question,
            f"echo: {question}",
            {"model": "m-1"},
        )
    # An answer whose steps or usage break a rule is an errored record saying which.
    for record in (await run_of("bad steps", "/traced?steps=bad")).values():
        assert (record.status, record.spans) == ("errored", [])
        assert record.error == "system answered: spans[1].parent_id 'nowhere' names no step of the call"
    for record in (await run_of("bad usage", "/traced?usage=bad")).values():
        assert record.error == "system answered: usage.cost_usd at 'usage.cost' is \"free\", not an amount >= 0"
    with pytest.raises(InvalidArgument, match="usage"):
        await sk.create_system_version(bot.id, "http", {"url": system.url("/traced"), "usage": {"tokens": "t"}})

    # A version stored before these fields existed is still the same version when named again.
    plain = {"url": system.url("/echo")}
    before = await sk.create_system_version(bot.id, "http", plain, name="from before")
    db = await asyncpg.connect(stack.database_url)
    try:
        await db.execute(
            "UPDATE system_versions SET config = config - 'usage' - 'spans_path' WHERE id = $1", uuid.UUID(before.id)
        )
    finally:
        await db.close()
    assert (await sk.create_system_version(bot.id, "http", plain, name="from before")).id == before.id


async def records_of(sk: AsyncScorekeeper, run_id: str) -> list[Record]:
    listed = [r async for r in sk.list_records(run_id)]
    return list(await asyncio.gather(*(sk.get_record(r.id) for r in listed)))


async def test_a_retried_record_keeps_only_its_new_executions_steps(
    stack: Stack, sk: AsyncScorekeeper, system: FakeSystemServer
) -> None:
    project = await sk.create_project("traced retry")
    testset = await sk.create_testset(project.id, "one", [{"question": "q"}], inputs=["question"])
    bot = await sk.create_system(project.id, "bot")
    config = {"url": system.url("/retried"), "spans_path": "trace.spans", "max_attempts": 1}
    version = await sk.create_system_version(bot.id, "http", config)
    # The first answer has steps but outputs too large to keep (an errored record); the retry's
    # call fails before any answer.
    steps = [{"id": "1", "name": "search", "duration_ms": 2}]
    system.script(malformed(json.dumps({"big": "x" * 600_000, "trace": {"spans": steps}})), fail(500), path="/retried")
    run = await sk.wait_for_run((await sk.create_run(project.id, testset.id, version.id, [])).id, 120)
    (first,) = await records_of(sk, run.id)
    assert first.status == "errored" and first.error.startswith("the outputs were not kept")
    assert [s.name for s in first.spans] == ["search"]
    await sk.retry_errored_records(run.id)
    await sk.wait_for_run(run.id, 120)
    (again,) = await records_of(sk, run.id)
    assert (again.id, again.status, again.error) == (
        first.id,
        "errored",
        "system answered HTTP 500: " + '{"error": "scripted failure"}',
    )
    assert again.spans == []
