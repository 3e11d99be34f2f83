"""Metrics scored by your own code (eval type code) on the real processes: run_and_evaluate calls
your scorers on each answered record and uploads their scores with it; the scorer keeps them as the
records' scores (what a scorer raised, or a score never sent, is an errored score saying so); bad
scores are refused before anything is stored; runs the platform executes, re-scoring and monitors
refuse code metrics clearly; the CLI's --scorer gates a CI job on them; the console makes them and
offers them only where your code runs."""

from __future__ import annotations

from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument
from scorekeeper_sdk.api.runs import RecordIn, ScoreIn
from scorekeeper_sdk.evaluate import arun_and_evaluate
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROWS = [{"n": n, "answer": str(n + 1)} for n in range(8)]


def answer(inputs: dict[str, Any]) -> str:
    n = int(inputs["n"])
    return str(n + 1) if n % 4 else f"{n + 1}, I think"  # n = 0, 4: padded answers


def concise(output: str) -> tuple[bool, str]:
    return len(output) <= 2, f"{len(output)} characters"


async def closeness(output: str, expected: dict[str, Any]) -> float:
    if output.startswith("5"):
        raise ValueError("cannot judge five")
    return 1.0 if output == expected["answer"] else 0.5


async def test_your_scorers_score_each_record_and_their_failures_are_errored_scores(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("own scorers")
    testset = await sk.create_testset(project.id, "numbers", ROWS, inputs=["n"], expected=["answer"])
    await sk.create_metric(project.id, "concise", eval_type="code")
    close = await sk.create_metric(project.id, "closeness", eval_type="code", output_type="float")
    polite = await sk.create_heuristic_metric(project.id, "has digits", "regex", {"pattern": "[0-9]"})
    evaluation = await arun_and_evaluate(
        sk,
        system=answer,
        project_id=project.id,
        testset_id=testset.id,
        metric_ids=[polite.id],
        scorers={"concise": concise, close.id: closeness},
        wait=True,
        progress=False,
    )
    run = evaluation.run
    assert run.status == "completed"
    by_name = {m.name: m for m in run.metrics}
    assert (by_name["concise"].eval_type, by_name["concise"].scored, by_name["concise"].passed) == ("code", 8, 6)
    assert by_name["concise"].pass_rate == 0.75
    # closeness: n = 4 answered "5, I think" (the scorer raised), n = 0 padded (0.5), six exact (1.0)
    assert (by_name["closeness"].scored, by_name["closeness"].errored) == (7, 1)
    assert by_name["closeness"].mean == pytest.approx(6.5 / 7)
    assert by_name["has digits"].passed == 8
    records = {r.inputs["n"]: {s.metric_name: s for s in r.scores} async for r in sk.list_records(run.id)}
    padded = records[0]
    assert (padded["concise"].value, padded["concise"].passed, padded["concise"].reasoning) == (
        False,
        False,
        "10 characters",
    )
    assert (padded["closeness"].value, padded["closeness"].reasoning) == (0.5, "scored by your code")
    assert (records[1]["concise"].passed, records[1]["closeness"].value) == (True, 1.0)
    raised = records[4]["closeness"]
    assert (raised.status, raised.error) == ("errored", "your scorer raised: ValueError: cannot judge five")


async def test_bad_scores_and_platform_runs_with_code_metrics_are_refused_clearly(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("refused scorers")
    testset = await sk.create_testset(project.id, "numbers", ROWS, inputs=["n"], expected=["answer"])
    flag = await sk.create_metric(project.id, "flag", eval_type="code")
    stars = await sk.create_metric(project.id, "stars", eval_type="code", output_type="int")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})

    # The SDK checks what it can before anything runs.
    with pytest.raises(ValueError, match=r"'flag' is scored by your code: pass scorers=\{'flag': a function\}"):
        await arun_and_evaluate(sk, system=answer, project_id=project.id, testset_id=testset.id, metric_ids=[flag.id])
    with pytest.raises(ValueError, match="'polite' is a heuristic metric, which the platform scores"):
        await arun_and_evaluate(
            sk, system=answer, project_id=project.id, testset_id=testset.id, scorers={"polite": concise}
        )
    with pytest.raises(ValueError, match="the scorer of 'flag' takes 'record'; a scorer takes any of inputs, output"):
        await arun_and_evaluate(
            sk, system=answer, project_id=project.id, testset_id=testset.id, scorers={"flag": lambda record: True}
        )
    assert [r async for r in sk.list_runs(project.id)] == []  # nothing was kicked off

    # The server checks every score of a batch before any record is stored.
    system = await sk.create_system(project.id, "mine")
    sdk_version = await sk.create_system_version(system.id, "sdk", {})
    run = await sk.create_run(project.id, testset.id, sdk_version.id, [flag.id, stars.id, polite.id])
    testcases = [t async for t in sk.list_testcases(testset.id, run_id=run.id)]

    def record(i: int, **scores: ScoreIn) -> RecordIn:
        ids = {"flag": flag.id, "stars": stars.id, "polite": polite.id}
        return RecordIn(testcases[i].id, outputs={"response": "1"}, scores={ids[k]: v for k, v in scores.items()})

    boolean = r"records\[1\]\.scores\['.*'\]: 'flag' is a boolean metric: the value must be true or false, got 0\.5"
    for records, message in [
        ([record(0, flag=ScoreIn(True)), record(1, flag=ScoreIn(0.5))], boolean),
        ([record(0, stars=ScoreIn(6.0))], "'stars' is an int metric: the value must be a whole number 1..5, got 6"),
        ([record(0, stars=ScoreIn(True))], "'stars' is an int metric: the value must be a number, got True"),
        ([record(0, polite=ScoreIn(True))], "'polite' is a heuristic metric; the platform scores it"),
        ([record(0, flag=ScoreIn(True, error="x"))], "give a value, or the error your scorer raised"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            await sk.ingest_records(run.id, records)
    assert [r async for r in sk.list_records(run.id)] == []
    # A record sent without its code metrics' scores: errored scores saying so; the rest as sent.
    sent = [record(i, flag=ScoreIn(i % 2 == 0, "even?"), stars=ScoreIn(3.0)) for i in range(1, 8)]
    await sk.ingest_records(run.id, [RecordIn(testcases[0].id, outputs={"response": "please"}), *sent])
    done = await sk.wait_for_run(run.id, timeout_s=60)
    flags = next(m for m in done.metrics if m.name == "flag")
    assert (flags.scored, flags.passed, flags.errored) == (7, 3, 1)
    assert next(m for m in done.metrics if m.name == "stars").mean == 3.0
    (first,) = [r async for r in sk.list_records(run.id) if r.testcase_id == testcases[0].id]
    unsent = next(s for s in first.scores if s.metric_name == "flag")
    assert (unsent.status, unsent.error) == ("errored", "no score from your code was sent with this record")

    # Runs the platform executes and scores cannot use code metrics.
    http = await sk.create_system_version(system.id, "http", {"url": stack.demo_system_url}, name="served")
    with pytest.raises(InvalidArgument, match=r"metric 'flag' is scored by your own code .* a run of an http system"):
        await sk.create_run(project.id, testset.id, http.id, [flag.id])
    with pytest.raises(InvalidArgument, match=r"metric 'flag' is scored by your own code .* re-scoring has none"):
        await sk.rescore_run(run.id, [flag.id])
    with pytest.raises(InvalidArgument, match=r"metric 'flag' is scored by your own code .* a monitor's windows"):
        await sk.create_monitor(project.id, "prod", [flag.id], sample_rate=10, window_calls=10)
    with pytest.raises(InvalidArgument, match=r"metric 'flag' is scored by your own code .* a schedule's runs"):
        await sk.create_schedule(project.id, "nightly", "0 2 * * *", testset.id, [flag.id], system_version_id=http.id)


async def test_the_cli_scores_with_your_function_and_gates_on_it(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("cli scorers")
    await sk.create_testset(project.id, "numbers", ROWS[:6], inputs=["n"], expected=["answer"])
    created = scorekeeper(stack, "--project", project.id, "metrics", "create", "exact", "--code")
    assert created.returncode == 0, created.stderr
    args = ["--project", project.id, "eval", "--testset", "numbers", "--callable", "tests.support.sdk_bots:answer"]
    # sdk_bots answers n = 0 and 5 wrong: 4 of 6 exact
    gated = scorekeeper(stack, *args, "--scorer", "exact=tests.support.sdk_bots:exact", "--fail-under", "exact=0.9")
    assert gated.returncode == 1, gated.stderr
    passed = scorekeeper(stack, *args, "--scorer", "exact=tests.support.sdk_bots:exact", "--fail-under", "exact=0.6")
    assert passed.returncode == 0, passed.stderr
    runs = [r async for r in sk.list_runs(project.id)]
    latest = runs[0]
    exact = next(m for m in (await sk.get_run(latest.id)).metrics if m.name == "exact")
    assert (exact.scored, exact.passed) == (6, 4)
    reasons = {s.reasoning async for r in sk.list_records(latest.id) for s in r.scores}
    assert "answered 2, expected 1" in reasons
    unscored = scorekeeper(stack, *args, "--metric", "exact")
    assert unscored.returncode == 2 and "'exact' is scored by your code" in unscored.stderr
    served = scorekeeper(stack, *args[:5], "--system-version", "x", "--scorer", "exact=tests.support.sdk_bots:exact")
    assert served.returncode == 2 and "--scorer runs your code here" in served.stderr


async def test_the_console_makes_a_code_metric_and_offers_it_only_where_your_code_runs(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("console scorers")
    await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/metrics/new")
        await page.fill("#metric-form input[name=name]", "concise")
        await page.select_option("#metric-form select[name=eval_type]", "code")
        assert await page.locator("#code-help").is_visible()
        await page.click("#metric-form button[type=submit]")
        await page.wait_for_url(f"**/projects/{project.id}/metrics/*")
        (made,) = [m for m in await sk.list_metrics(project.id) if m.name == "concise"]
        assert (made.eval_type, made.output_type) == ("code", "boolean")
        assert 'scorers={"concise": fn}' in await page.locator("#code-help").inner_text()
        await screenshot(page, "metric-code")
        await page.goto(f"/projects/{project.id}/kickoff")
        offered = page.locator(".metric-choices label", has_text="concise")
        assert await offered.locator("input").is_disabled()
        assert "scored by your SDK run only" in await offered.inner_text()
        assert await page.locator(".metric-choices label", has_text="polite").locator("input").is_enabled()
