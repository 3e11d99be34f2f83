"""What a run's scores say beyond their means, on the real processes: GetMetricAgreement (a
heuristic against another, and against human reviewers' verdicts given through the review queue;
exact cells, the refusals), GetScoreDistribution (a float metric's bins, an int's values) and
GetRunBreakdown (a run's scores per value of a testcase field)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument, NotFound, RecordIn
from scorekeeper_sdk.views import Record, RunGroup
from services.query.agreement import kappa
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.sdk_projects import qa_project

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 24


async def _reaches(sdk: AsyncScorekeeper, run_id: str, status: str) -> None:
    """Waits (at most a minute) for the run to reach ``status``."""
    for _ in range(600):
        if (await sdk.get_run(run_id)).status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {status}")


def _verdict(record: Record, metric_id: str) -> bool | None:
    return next((s.passed for s in record.scores if s.metric_id == metric_id and s.status == "completed"), None)


def _cells(records: list[Record], a: str, b: str) -> tuple[int, int, int, int]:
    pairs = [(_verdict(r, a), _verdict(r, b)) for r in records]
    judged = [(x, y) for x, y in pairs if x is not None and y is not None]
    return (
        sum(x and y for x, y in judged),
        sum(x and not y for x, y in judged),
        sum(y and not x for x, y in judged),
        sum(not x and not y for x, y in judged),
    )


async def test_two_metrics_verdicts_are_counted_cell_by_cell(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"agree {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "agreement", "write")).secret
    exact, mentions, concise = ids.metric_ids
    async with stack.sdk(key) as sdk:
        helpful = await sdk.create_metric(ids.project_id, "helpful", eval_type="human")
        run = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [*ids.metric_ids, helpful.id])
        await _reaches(sdk, run.id, "awaiting_human_scoring")
        records = [r async for r in sdk.list_records(run.id)]
        errored = sum(r.status == "errored" for r in records)

        # Two heuristics: every completed record is judged by both.
        found = await sdk.metric_agreement(run.id, "exact answer", mentions)
        cells = _cells(records, exact, mentions)
        assert (found.both_passed, found.only_a_passed, found.only_b_passed, found.both_failed) == cells
        assert (found.metric_a_id, found.metric_a_name, found.metric_b_name) == (
            exact,
            "exact answer",
            "mentions answer",
        )
        assert (found.compared, found.not_compared) == (TESTCASES - errored, errored)
        assert found.agreement == pytest.approx((cells[0] + cells[3]) / found.compared)
        assert found.kappa == (None if kappa(*cells) is None else pytest.approx(kappa(*cells)))

        # Against reviewers: 8 verdicts given, failing the first two records "exact answer" passes
        # and passing every other; the rest not judged by both.
        reviewed = [r for r in records if r.status == "completed"][:8]
        failed_by_ann = [r.id for r in reviewed if _verdict(r, exact)][:2]
        for record in reviewed:
            await sdk.submit_review(record.id, helpful.id, record.id not in failed_by_ann, reviewer="ann")
        for _ in range(100):  # a verdict reaches the run's aggregates and scores through the bus
            if (await sdk.get_run(run.id)).metric("helpful").scored == 8:
                break
            await asyncio.sleep(0.1)
        records = [r async for r in sdk.list_records(run.id)]
        human = await sdk.metric_agreement(run.id, exact, "helpful")
        cells = _cells(records, exact, helpful.id)
        assert (human.both_passed, human.only_a_passed, human.only_b_passed, human.both_failed) == cells
        assert (human.compared, human.not_compared) == (8, TESTCASES - 8)
        assert human.only_a_passed == 2 and human.both_failed == 0  # "exact" fails nothing the reviewer fails
        assert human.agreement == pytest.approx((cells[0] + cells[3]) / 8)

        # Refusals: each names what is wrong.
        refusals = {
            (exact, exact): InvalidArgument("metric_a and metric_b are the same metric (exact answer): name two"),
            (exact, "nope"): InvalidArgument(f"metric_b: unknown metric 'nope' in project {ids.project_id}"),
            ("", concise): InvalidArgument("metric_a and metric_b are required"),
        }
        for (a, b), error in refusals.items():
            with pytest.raises(type(error), match=str(error.args[0]).replace("(", r"\(").replace(")", r"\)")):
                await sdk.metric_agreement(run.id, a, b)
        other = await sdk.create_heuristic_metric(ids.project_id, "unused", "contains", {"expected_field": "answer"})
        with pytest.raises(InvalidArgument, match=f"metric_b: run {run.id} was not scored with metric 'unused'"):
            await sdk.metric_agreement(run.id, exact, other.name)
        with pytest.raises(NotFound):
            await sdk.metric_agreement(str(uuid.uuid4()), exact, concise)

    async with stack.http(stack.query_http, key, timeout=30) as http:
        answered = await http.get(
            f"/v1/runs/{run.id}/agreement", params={"metric_a": "exact answer", "metric_b": "helpful"}
        )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["compared"], body["only_a_passed"], body["metric_b_id"]) == (8, 2, helpful.id)


async def test_a_runs_scores_spread_over_their_buckets(stack: Stack) -> None:
    async with stack.client() as admin:
        project = await admin.create_project(f"spread {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(project.id, "spread", "write")).secret
    # token F1 against "paris france": 1.0, 0.67, 0.0, 0.8 and an errored record.
    outputs = ["paris france", "Paris", "London", "France Paris city"]
    async with stack.sdk(key) as sdk:
        testset = await sdk.create_testset(
            project.id,
            "capitals",
            [{"question": f"q{i}", "answer": "paris france"} for i in range(5)],
            inputs=["question"],
            expected=["answer"],
        )
        f1 = await sdk.create_metric(
            project.id,
            "f1",
            eval_type="heuristic",
            output_type="float",
            heuristic={"kind": "token_f1", "params": {"expected_field": "answer"}},
        )
        grade = await sdk.create_metric(project.id, "grade", eval_type="human", output_type="int")
        exact = await sdk.create_metric(
            project.id,
            "exact",
            eval_type="heuristic",
            heuristic={"kind": "exact_match", "params": {"expected_field": "answer"}},
        )
        version = await sdk.create_system_version_by_name(project.id, "bot", "sdk")
        run = await sdk.create_run(project.id, testset.id, version.id, [f1.id, grade.id, exact.id])
        cases = [t.id async for t in sdk.list_testcases(testset.id)]
        ingested = [RecordIn(c, outputs={"response": o}) for c, o in zip(cases, outputs, strict=False)]
        await sdk.ingest_records(run.id, [*ingested, RecordIn(cases[4], status="errored", error="timeout")])
        await _reaches(sdk, run.id, "awaiting_human_scoring")
        records = {r.testcase_id: r for r in [r async for r in sdk.list_records(run.id)]}
        for case, value in zip(cases, (2, 2, 5), strict=False):
            await sdk.submit_review(records[case].id, grade.id, value, reviewer="ann")
        for _ in range(100):
            if (await sdk.get_run(run.id)).metric("grade").scored == 3:
                break
            await asyncio.sleep(0.1)
        spread = {m.name: m for m in await sdk.score_distribution(run.id)}

    assert list(spread) == ["f1", "grade", "exact"]  # the run's order
    assert (spread["f1"].output_type, spread["f1"].scored) == ("float", 4)
    assert [b.label for b in spread["f1"].buckets][:2] == ["0.0–0.1", "0.1–0.2"]
    assert [b.count for b in spread["f1"].buckets] == [1, 0, 0, 0, 0, 0, 1, 0, 1, 1]
    assert [(b.label, b.count) for b in spread["grade"].buckets] == [("1", 0), ("2", 2), ("3", 0), ("4", 0), ("5", 1)]
    assert [(b.label, b.count) for b in spread["exact"].buckets] == [("fail", 3), ("pass", 1)]
    assert spread["exact"].scored == 4

    async with stack.http(stack.query_http, key, timeout=30) as http:
        answered = await http.get(f"/v1/runs/{run.id}/distribution")
        assert answered.status_code == 200, answered.text
        assert [m["scored"] for m in answered.json()["metrics"]] == [4, 3, 4]
        missing = await http.get(f"/v1/runs/{uuid.uuid4()}/distribution")
        assert missing.status_code == 404


async def test_testcases_whose_trials_disagree_are_counted_and_listed(stack: Stack, sk: AsyncScorekeeper) -> None:
    qa = await qa_project(sk, "flaky", [{"question": f"q{i}", "answer": "yes"} for i in range(4)])
    project, cases = qa.project, qa.cases
    # Three trials each: q0 right every time, q1 wrong every time, q2 right twice of three, q3 right
    # once and errored twice (one verdict: nothing to disagree with).
    answers: dict[str, list[str | None]] = {
        "q0": ["yes"] * 3,
        "q1": ["no"] * 3,
        "q2": ["yes", "no", "yes"],
        "q3": ["yes", None, None],
    }
    run = await qa.run(sk, trials=3)
    await sk.ingest_records(
        run.id,
        [
            RecordIn(cases[q], trial=t, outputs={"response": a})
            if a is not None
            else RecordIn(cases[q], trial=t, status="errored", error="timeout")
            for q, said in answers.items()
            for t, a in enumerate(said)
        ],
    )
    await sk.wait_for_run(run.id, timeout_s=60)

    (spread,) = await sk.score_distribution(run.id)
    assert (spread.repeated_testcases, spread.unstable_testcases) == (3, 1)  # q0, q1, q2; q2 disagrees
    flaky = [r async for r in sk.list_records(run.id, where=["exact:unstable"], order_by="created_at")]
    assert sorted((r.inputs["question"], r.trial) for r in flaky) == [("q2", 0), ("q2", 1), ("q2", 2)]
    steady = [r async for r in sk.list_records(run.id, where=["exact:unstable", "exact:passed"])]
    assert sorted(r.trial for r in steady) == [0, 2]  # its passing trials

    shown = scorekeeper(stack, "--project", project.id, "runs", "distribution", run.id)
    assert shown.returncode == 0, shown.stderr
    assert "across the trials: 1 of 3 testcases passed some and failed others" in " ".join(shown.stdout.split())
    listed = scorekeeper(
        stack, "--project", project.id, "records", "list", "--run", run.id, "--where", "exact:unstable"
    )
    assert listed.returncode == 0, listed.stderr
    assert len([line for line in listed.stdout.splitlines() if "│ q2 " in line]) == 3

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/runs/{run.id}")
        said = page.locator("#unstable-testcases")
        assert " ".join((await said.inner_text()).split()) == (
            "Across the trials: exact 1 of 3 testcases passed some and failed others"
        )
        await said.get_by_role("link").click()
        await page.wait_for_url("**cond_op=unstable**")
        listed_rows = page.locator("#records-table tbody tr")
        assert await listed_rows.count() == 3 and all("q2" in t for t in await listed_rows.all_inner_texts())
        condition = page.locator("#records select[name=cond_op]").first
        assert await condition.input_value() == "unstable"
        await screenshot(page, "run-unstable-testcases")


async def test_a_run_breaks_down_by_a_testcase_field(stack: Stack) -> None:
    async with stack.client() as admin:
        project = await admin.create_project(f"slices {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(project.id, "slices", "write")).secret
    # geo: 3 right, 1 wrong, 1 errored; math: 2 wrong; a testcase without a topic: right.
    rows = [
        *({"question": f"g{i}", "answer": "yes", "topic": "geo", "level": 1} for i in range(5)),
        *({"question": f"m{i}", "answer": "yes", "topic": "math", "level": 2, "gen_ai.model": "m"} for i in range(2)),
        {"question": "x", "answer": "yes", "level": 2},
    ]
    outputs = ["yes", "yes", "yes", "no", None, "no", "no", "yes"]
    columns: dict[str, Any] = {
        "inputs": ["question"],
        "expected": ["answer"],
        "metadata": ["topic", "level", "gen_ai.model"],
    }
    async with stack.sdk(key) as sdk:
        testset = await sdk.create_testset(project.id, "slices", rows, **columns)
        exact = await sdk.create_metric(
            project.id,
            "exact",
            eval_type="heuristic",
            heuristic={"kind": "exact_match", "params": {"expected_field": "answer"}},
        )
        grade = await sdk.create_metric(project.id, "grade", eval_type="human", output_type="int")
        version = await sdk.create_system_version_by_name(project.id, "bot", "sdk")
        run = await sdk.create_run(project.id, testset.id, version.id, [exact.id, grade.id])
        cases = {t.inputs["question"]: t.id async for t in sdk.list_testcases(testset.id)}
        ingested = [
            RecordIn(cases[r["question"]], outputs={"response": o}, latency_ms=100.0 * (n + 1), cost_usd=0.01)
            if o is not None
            else RecordIn(cases[r["question"]], status="errored", error="timeout")
            for n, (r, o) in enumerate(zip(rows, outputs, strict=True))
        ]
        await sdk.ingest_records(run.id, ingested)
        await _reaches(sdk, run.id, "awaiting_human_scoring")

        found = await sdk.run_breakdown(run.id, "metadata.topic")
        dotted = 'metadata."gen_ai.model"'  # one key holding dots: quoted, so it names that key again
        assert found.fields == ["expected.answer", "inputs.question", dotted, "metadata.level", "metadata.topic"]
        by_model = await sdk.run_breakdown(run.id, dotted)
        assert [(g.label, g.records) for g in by_model.groups] == [("m", 2), ("(none)", 6)]
        assert [(g.label, g.records, g.errored_records) for g in found.groups] == [
            ("geo", 5, 1),
            ("math", 2, 0),
            ("(none)", 1, 0),
        ]
        geo = found.groups[0]
        assert (geo.latency_p50_ms, geo.latency_p95_ms) == (250.0, 385.0) and geo.cost_usd == pytest.approx(0.04)
        verdicts = [[(m.name, m.scored, m.passed, m.pass_rate) for m in g.metrics] for g in found.groups]
        assert [v[0] for v in verdicts] == [("exact", 4, 3, 0.75), ("exact", 2, 0, 0.0), ("exact", 1, 1, 1.0)]
        # The reviewers' metric: nothing scored yet, a review pending per completed record.
        assert [(g.metrics[1].scored, g.metrics[1].pending, g.metrics[1].mean) for g in found.groups] == [
            (0, 4, None),
            (0, 2, None),
            (0, 1, None),
        ]
        # The slices that fail most, with no field chosen: math (and the dotted key its two
        # records alone hold) 0 of 2 against 4 of 5, level 2 1 of 3 against 3 of 4; geo and level 1
        # pass more often than the rest, the answer "yes" is every record (no rest), each question
        # one record. Fisher's one-sided p: C(3,2) / C(7,2) = 3/21 and 13/35.
        weak = await sdk.weak_slices(run.id, min_records=2)
        assert weak.tested == 5 and weak.min_records == 2
        assert [(s.filter, s.metric_name, s.scored, s.passed, s.rest_scored, s.rest_passed) for s in weak.slices] == [
            (f"{dotted}=m", "exact", 2, 0, 5, 4),
            ("metadata.topic=math", "exact", 2, 0, 5, 4),
            ("metadata.level=2", "exact", 3, 1, 4, 3),
        ]
        figures = [(round(s.p_value, 4), round(s.q_value, 4), round(s.missing_passes, 2)) for s in weak.slices]
        assert figures == [(0.1429, 0.3571, 1.6), (0.1429, 0.3571, 1.6), (0.3714, 0.619, 1.25)]
        assert [s.filter for s in (await sdk.weak_slices(run.id, min_records=2, limit=1)).slices] == [f"{dotted}=m"]
        assert (await sdk.weak_slices(run.id)).tested == 0  # 5 records at least: level 1 has 4 scored
        # Three trials of each testcase: a question is still one testcase's, not a slice.
        thrice = await sdk.create_run(project.id, testset.id, version.id, [exact.id], trials=3)
        await sdk.ingest_records(thrice.id, [dataclasses.replace(r, trial=t) for r in ingested for t in range(3)])
        await _reaches(sdk, thrice.id, "completed")
        tripled = await sdk.weak_slices(thrice.id, min_records=2)
        assert tripled.tested == 5
        assert [(s.filter, s.scored, s.passed, s.rest_scored) for s in tripled.slices] == [
            (f"{dotted}=m", 6, 0, 15),
            ("metadata.topic=math", 6, 0, 15),
            ("metadata.level=2", 9, 3, 12),
        ]
        await sdk.archive_run(thrice.id)  # out of the project's records below
        unjudged = await sdk.weak_slices(run.id, metric="grade", min_records=2)  # no review yet
        assert (unjudged.tested, unjudged.slices) == (0, [])
        for options, message in [
            ({"metric": "nope"}, f"metric: unknown metric 'nope' in project {project.id}"),
            ({"min_records": -1}, "min_records must be within 1..10,000, got -1"),
            ({"limit": 101}, "limit must be within 1..100, got 101"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await sdk.weak_slices(run.id, **options)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.weak_slices(str(uuid.uuid4()))

        # A number compared as text; with no field, only the fields.
        levels = await sdk.run_breakdown(run.id, "metadata.level")
        assert [(g.value, g.records) for g in levels.groups] == [("1", 5), ("2", 3)]
        assert (await sdk.run_breakdown(run.id)).groups == []
        roots = "field must be metadata.<key>, inputs.<key> or expected.<key>"
        for field, message in [
            ("outputs.response", f"{roots}, got 'outputs.response'"),
            ("metadata.", f"{roots}, got 'metadata.'"),
            ("metadata." + "k" * 200, "field must be at most 200 characters, got 209"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await sdk.run_breakdown(run.id, field)
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.run_breakdown(str(uuid.uuid4()), "metadata.topic")

        # A slice's records: ListRecords' fields filter, in a run and across the project.
        async def questions(**filters: object) -> list[str]:
            return sorted([r.inputs["question"] async for r in sdk.list_records(**filters)])  # type: ignore[arg-type]

        assert await questions(run_id=run.id, fields=["metadata.topic=math"]) == ["m0", "m1"]
        assert await questions(run_id=run.id, fields=["metadata.level=2", "inputs.question=x"]) == ["x"]
        assert await questions(run_id=run.id, fields=[f"{dotted}=m"]) == ["m0", "m1"]
        assert await questions(run_id=run.id, fields=["metadata.gen_ai.model=m"]) == []  # three levels deep
        geo_passed = await questions(project_id=project.id, fields=["metadata.topic=geo"], where=["exact:passed"])
        assert geo_passed == ["g0", "g1", "g2"]
        for bad, message in [
            ("topic=math", f"{roots}, got 'topic'"),
            ("metadata.topic", "fields filter 'metadata.topic' must be field=value, as metadata.topic=math"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await questions(run_id=run.id, fields=[bad])

        # A candidate against this run as its baseline: geo and math better, the topicless worse.
        candidate = await sdk.create_run(project.id, testset.id, version.id, [exact.id])
        answers = ["yes", "yes", "yes", "yes", "yes", "yes", "no", "no"]
        await sdk.ingest_records(
            candidate.id,
            [RecordIn(cases[r["question"]], outputs={"response": a}) for r, a in zip(rows, answers, strict=True)],
        )
        await _reaches(sdk, candidate.id, "completed")
        against = await sdk.run_breakdown(candidate.id, "metadata.topic", baseline_run_id=run.id)
        moved = [
            (g.label, g.baseline.records if g.baseline else None, g.records, _rate(g.baseline), _rate(g))
            for g in against.groups
        ]
        assert moved == [("geo", 5, 5, 0.75, 1.0), ("math", 2, 2, 0.0, 0.5), ("(none)", 1, 1, 1.0, 0.0)]
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.run_breakdown(candidate.id, "metadata.topic", baseline_run_id=str(uuid.uuid4()))
        # The other way round, the slices that regressed: the first run against the candidate as
        # its baseline. One testset: testcase by testcase — geo's g3 worse (g4 errored here, so
        # not compared), math's m0 worse and m1 failed in both: one worse, none better, p 1/2 (a
        # sign test); level 2 also has x better (3/4), and is as good in both (1 of 3): not listed.
        regressed = await sdk.weak_slices(run.id, min_records=2, baseline_run_id=candidate.id)
        assert (regressed.tested, regressed.baseline_run_id, regressed.paired) == (5, candidate.id, True)
        compared = [
            (s.filter, s.scored, s.passed, s.baseline_scored, s.baseline_passed, s.worse_testcases, s.better_testcases)
            for s in regressed.slices
        ]
        assert compared == [
            (f"{dotted}=m", 2, 0, 2, 1, 1, 0),
            ("metadata.level=1", 4, 3, 5, 5, 1, 0),
            ("metadata.topic=geo", 4, 3, 5, 5, 1, 0),
            ("metadata.topic=math", 2, 0, 2, 1, 1, 0),
        ]
        assert [(s.p_value, round(s.q_value, 3), s.rest_scored) for s in regressed.slices] == [(0.5, 0.625, 0)] * 4
        # Three trials of each testcase: a testcase is worse once, however many trials it has.
        tripled_against = await sdk.weak_slices(thrice.id, min_records=2, baseline_run_id=candidate.id)
        assert [(s.filter, s.scored, s.worse_testcases, s.better_testcases) for s in tripled_against.slices] == [
            (f"{dotted}=m", 6, 1, 0),
            ("metadata.level=1", 12, 1, 0),
            ("metadata.topic=geo", 12, 1, 0),
            ("metadata.topic=math", 6, 1, 0),
        ]
        # The same answers on a copy of the testset: other testcases, so the slices' pass rates are
        # compared as two samples (Fisher's test) — geo 3 of 4 against 5 of 5: 1 - C(8,4) / C(9,4).
        copy = await sdk.create_testset(project.id, "slices copy", rows, **columns)
        copied = {t.inputs["question"]: t.id async for t in sdk.list_testcases(copy.id)}
        elsewhere = await sdk.create_run(project.id, copy.id, version.id, [exact.id])
        await sdk.ingest_records(
            elsewhere.id,
            [RecordIn(copied[r["question"]], outputs={"response": a}) for r, a in zip(rows, answers, strict=True)],
        )
        await _reaches(sdk, elsewhere.id, "completed")
        unpaired = await sdk.weak_slices(run.id, min_records=2, baseline_run_id=elsewhere.id)
        assert (unpaired.tested, unpaired.paired) == (5, False)
        assert [(s.filter, round(s.p_value, 4), s.worse_testcases) for s in unpaired.slices] == [
            ("metadata.level=1", 0.4444, 0),
            ("metadata.topic=geo", 0.4444, 0),
            (f"{dotted}=m", 0.5, 0),
            ("metadata.topic=math", 0.5, 0),
        ]
        await sdk.archive_run(elsewhere.id)  # out of the testset's history below
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.weak_slices(run.id, baseline_run_id=str(uuid.uuid4()))
        with pytest.raises(InvalidArgument, match="baseline_run_id"):
            await sdk.weak_slices(run.id, baseline_run_id="nope")

    async with stack.http(stack.query_http, key, timeout=30) as http:
        answered = await http.get(f"/v1/runs/{run.id}/breakdown", params={"field": "metadata.topic"})
        assert answered.status_code == 200, answered.text
        assert [g["records"] for g in answered.json()["groups"]] == [5, 2, 1]
        refused = await http.get(f"/v1/runs/{run.id}/breakdown", params={"field": "topic"})
        assert refused.status_code == 400
        weakest = await http.get(f"/v1/runs/{run.id}/slices", params={"min_records": 2, "metric": "exact"})
        assert weakest.status_code == 200, weakest.text
        assert [(w["field"], w["value"]) for w in weakest.json()["slices"]][1:] == [
            ("metadata.topic", "math"),
            ("metadata.level", "2"),
        ]
        too_many = await http.get(f"/v1/runs/{run.id}/slices", params={"limit": 500})
        assert (too_many.status_code, too_many.json()["error"]["message"]) == (
            400,
            "limit must be within 1..100, got 500",
        )

    shown = scorekeeper(stack, "runs", "breakdown", run.id, "metadata.topic")
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert any(line.startswith("│ geo │ 5 │ 1 │ 250 ms │ 385 ms │ $0.0400 │ 75.0% of 4 │") for line in lines), lines
    listed = scorekeeper(stack, "runs", "breakdown", run.id)
    assert listed.stdout.split() == [
        "expected.answer",
        "inputs.question",
        'metadata."gen_ai.model"',
        "metadata.level",
        "metadata.topic",
    ]
    versus = scorekeeper(stack, "runs", "breakdown", candidate.id, "metadata.topic", "--baseline", run.id)
    assert versus.returncode == 0, versus.stderr
    rows_shown = [" ".join(line.split()) for line in versus.stdout.splitlines()]
    assert any(line.startswith("│ math │ 2 → 2 │") and "0.0% of 2 → 50.0% of 2" in line for line in rows_shown)
    weak_cli = scorekeeper(stack, "runs", "slices", run.id, "--min-records", "2")
    assert weak_cli.returncode == 0, weak_cli.stderr
    weak_rows = [" ".join(line.split()) for line in weak_cli.stdout.splitlines()]
    assert "│ metadata.topic=math │ exact │ 0.0% of 2 │ 80.0% of 5 │ 1.6 │ 0.14 │ 0.36 │" in weak_rows, weak_rows
    assert "│ metadata.level=2 │ exact │ 33.3% of 3 │ 75.0% of 4 │ 1.2 │ 0.37 │ 0.62 │" in weak_rows, weak_rows
    assert "5 slices tested; a q below 0.05 is not likely chance." in weak_cli.stdout
    worse = scorekeeper(stack, "runs", "slices", run.id, "--baseline", candidate.id, "--min-records", "2")
    assert worse.returncode == 0, worse.stderr
    worse_rows = [" ".join(line.split()) for line in worse.stdout.splitlines()]
    assert "│ metadata.topic=math │ exact │ 0.0% of 2 │ 50.0% of 2 │ 1.0 │ 1 / 0 │ 0.5 │ 0.62 │" in worse_rows, (
        worse_rows
    )
    assert "Compared testcase by testcase (p: a sign test on those worse against those better)." in worse.stdout
    assert "baseline" in worse_rows[1]
    compared_slice = scorekeeper(stack, "runs", "compare", candidate.id, run.id, "--field", "metadata.topic=math")
    assert compared_slice.returncode == 0, compared_slice.stderr
    assert f"against baseline {candidate.id}: 2 testcases with metadata.topic=math compared" in compared_slice.stdout
    assert compared_slice.stdout.count("regressed: testcase") == 1 and "exact 1.0 → 0.0" in compared_slice.stdout
    none_weak = scorekeeper(stack, "runs", "slices", run.id)
    assert none_weak.returncode == 0 and "no slice of 5+ scored records" in none_weak.stderr
    sliced = scorekeeper(
        stack, "--project", project.id, "records", "list", "--field", "metadata.topic=math", "--run", run.id, "--json"
    )
    assert sliced.returncode == 0, sliced.stderr
    assert sorted(r["inputs"]["question"] for r in json.loads(sliced.stdout)) == ["m0", "m1"]
    # A slice's history over the testset's runs (the archived one left out): math 0 of 2, then 1 of 2;
    # the metrics, with none named, the newest run's.
    in_project = ("--project", project.id, "runs", "history", "--testset", testset.id)
    trend = scorekeeper(stack, *in_project, "--field", "metadata.topic=math")
    assert trend.returncode == 0, trend.stderr
    trend_rows = [" ".join(line.split()) for line in trend.stdout.splitlines()]
    assert trend_rows[0] == "2 runs, oldest first, the records with metadata.topic=math", trend_rows
    assert [r.rsplit("│", 2)[-2].strip() for r in trend_rows if run.id in r or candidate.id in r] == [
        "0.0% (0/2)",
        "50.0% (1/2)",
    ]
    assert trend_rows[-1] == "exact ▁▅ 0.0% → 50.0%"
    whole = scorekeeper(stack, *in_project, "--metric", "exact", "--metric", "grade", "--json")
    assert whole.returncode == 0, whole.stderr
    assert [(s["name"], [p["value"] for p in s["points"]]) for s in json.loads(whole.stdout)] == [
        ("exact", [pytest.approx(400 / 7), 75.0]),
        ("grade", [None]),  # the candidate is not scored with it
    ]
    refused_trend = scorekeeper(stack, *in_project, "--field", "topic=math")
    assert refused_trend.returncode == 2 and "field must be metadata.<key>" in refused_trend.stderr

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/runs/{run.id}")
        await page.click("#breakdown-box summary")
        await page.select_option("#breakdown-form select", "metadata.topic")
        await page.click("#breakdown-form button")
        table = page.locator("#breakdown")
        await table.wait_for()
        assert await table.locator("thead th").all_inner_texts() == [
            "metadata.topic", "Records", "Errored", "p50", "p95", "Cost", "exact", "grade", "Over runs",
        ]  # fmt: skip
        math = table.locator("tr[data-value=math] td")
        assert await math.all_inner_texts() == [
            "math", "2", "0", "650 ms", "695 ms", "$0.0200", "0% of 2", "2 pending", "over runs",
        ]  # fmt: skip
        # 0% against 57.1% over the run: marked.
        assert "error-text" in (await math.nth(6).get_attribute("class") or "")
        assert "error-text" not in (await table.locator("tr[data-value=geo] td").nth(6).get_attribute("class") or "")
        await screenshot(page, "run-breakdown")
        # The weak slices, with no field chosen: the run's slices of 2+ records below the rest.
        await page.fill("#weak-form input[name=min]", "2")
        await page.click("#weak-form button")
        weak_table = page.locator("#weak-slices")
        await weak_table.wait_for()
        assert await weak_table.locator("tbody tr td:first-child").all_inner_texts() == [
            'metadata."gen_ai.model" = m',
            "metadata.topic = math",
            "metadata.level = 2",
        ]
        math_slice = weak_table.locator("tr[data-slice='metadata.topic=math'] td")
        assert await math_slice.all_inner_texts() == [
            "metadata.topic = math", "exact", "0% of 2", "80% of 5", "1.6", "0.14", "0.36", "over runs",
        ]  # fmt: skip
        await screenshot(page, "run-weak-slices")
        over_runs = await math_slice.last.locator("a").get_attribute("href")
        assert over_runs == (
            f"/projects/{project.id}/runs?testset={testset.id}&metric={exact.id}&metric={grade.id}"
            "&field=metadata.topic%3Dmath"
        )
        await math_slice.first.locator("a").click()  # the run by that field, and the slice's records
        await page.wait_for_url("**by=metadata.topic**")
        await page.locator("#breakdown").wait_for()
        assert sorted(await page.locator("#records tbody tr td:nth-child(2)").all_inner_texts()) == ["m0", "m1"]
        await page.goto(f"/projects/{project.id}/runs/{run.id}?slices=1&min=0")
        assert "min_records must be within 1..10,000" not in await page.locator("main").inner_text()  # 0: the default
        assert "(0 tested)" in await page.locator("#no-weak-slices").inner_text()
        await page.goto(f"/projects/{project.id}/runs/{run.id}?slices=1&min=99999")
        assert "min_records must be within 1..10,000, got 99999" in await page.locator("main").inner_text()
        # The compare page: per value, A → B.
        await page.goto(f"/projects/{project.id}/compare?baseline={run.id}&run={candidate.id}")
        await page.click("#slices-box summary")
        await page.select_option("#slices-form select", "metadata.topic")
        await page.click("#slices-form button")
        slices = page.locator("#slices")
        await slices.wait_for()
        cells = {
            value: await slices.locator(
                f"tr[data-{value}] td" if value in ("none",) else f"tr[data-value={value}] td"
            ).all_inner_texts()
            for value in ("geo", "math", "none")
        }
        assert cells == {
            "geo": ["geo", "5 → 5", "75% → 100%"],
            "math": ["math", "2 → 2", "0% → 50%"],
            "none": ["(none)", "1 → 1", "100% → 0%"],
        }
        assert "error-text" in (await slices.locator("tr[data-none] td").nth(2).get_attribute("class") or "")
        assert "pass-text" in (await slices.locator("tr[data-value=math] td").nth(2).get_attribute("class") or "")
        await screenshot(page, "compare-slices")
        # The slices that regressed, no field chosen: the first run as B against the candidate as A.
        await page.goto(f"/projects/{project.id}/compare?baseline={candidate.id}&run={run.id}")
        await page.click("#slices-box summary")
        await page.fill("#weak-form input[name=min]", "2")
        await page.click("#weak-form button")
        regressed_table = page.locator("#weak-slices")
        await regressed_table.wait_for()
        assert await regressed_table.locator("thead th").all_inner_texts() == [
            "Slice", "Metric", "A (baseline)", "B", "Missing passes", "Testcases worse / better", "p", "q",
        ]  # fmt: skip
        assert await regressed_table.locator("tr[data-slice='metadata.topic=math'] td").all_inner_texts() == [
            "metadata.topic = math", "exact", "50% of 2", "0% of 2", "1", "1 / 0", "0.5", "0.62",
        ]  # fmt: skip
        await screenshot(page, "compare-regressed-slices")
        await regressed_table.locator("a", has_text="metadata.topic = math").click()  # both runs per topic
        await page.locator("#slices").wait_for()
        assert "by=metadata.topic" in page.url
        # ... and the slice's testcases alone: m0 regressed, m1 failed in both.
        said = " ".join((await page.locator("#compare-sliced").inner_text()).split())
        assert said.startswith(
            "Only the testcases with metadata.topic=math: the counts and the verdicts are the slice's"
        )
        assert sorted(await page.locator("#compare-table tbody tr td:nth-child(2)").all_inner_texts()) == ["m0", "m1"]
        counts = page.locator("#compare-summary [data-count]")
        assert await counts.all_inner_texts() == ["1 regressed", "0 improved", "1 unchanged"]
        await screenshot(page, "compare-slice-testcases")
        await page.locator("#slices tr[data-value=geo] a").click()  # another value of the field
        await page.wait_for_url("**field=metadata.topic%3Dgeo**")
        assert await counts.all_inner_texts() == ["1 regressed", "0 improved", "3 unchanged", "1 incomparable"]
        await page.click("#compare-sliced a")  # every testcase again
        await page.locator("#compare-table tbody tr").nth(7).wait_for()
        assert await page.locator("#compare-sliced").count() == 0
        refused_page = await page.goto(
            f"/projects/{project.id}/compare?baseline={candidate.id}&run={run.id}&field=topic%3Dgeo"
        )
        assert refused_page is not None and refused_page.status == 400
        assert (
            "field must be metadata.<key>, inputs.<key> or expected.<key>, got 'topic'"
            in await page.locator("main").inner_text()
        )
        await page.goto(f"/projects/{project.id}/runs/{run.id}?by=metadata.topic")
        # A value opens its records on the same page.
        await table.locator("a", has_text="math").click()
        await page.wait_for_url("**field=metadata.topic%3Dmath**")
        inputs = page.locator("#records tbody tr td:nth-child(2)")
        assert sorted(await inputs.all_inner_texts()) == ["m0", "m1"]
        assert "metadata.topic=math" in await page.locator("#field-filters").inner_text()
        await screenshot(page, "run-breakdown-slice")
        await page.locator("#field-filters a").click()  # the filter taken off
        await page.locator("#records tbody tr").nth(7).wait_for()
        assert await page.locator("#records tbody tr").count() == 8
        assert await page.locator("#field-filters").count() == 0
        # A hand-made address with a field the API refuses: said, not a failed page.
        answer = await page.goto(f"/projects/{project.id}/runs/{run.id}?field=metadata.%3Dx")
        assert answer is not None and answer.status in (200, 400)
        assert "field must be metadata.<key>" in await page.locator("main").inner_text()
        # The Records page takes the same filter, across the project's runs.
        await page.goto(f"/projects/{project.id}/records?field=metadata.topic%3Dgeo&status=completed&run={run.id}")
        assert "metadata.topic=geo" in await page.locator("#field-filters").inner_text()
        assert await page.locator("#records-table tbody tr").count() == 4

        # A value's history over the testset's runs: the runs page charting that slice alone.
        await page.goto(f"/projects/{project.id}/runs/{run.id}?by=metadata.topic")
        await table.locator("tr[data-value=math] a", has_text="over runs").click()
        await page.wait_for_url("**field=metadata.topic%3Dmath**")
        said = " ".join((await page.locator("#history-sliced").inner_text()).split())
        assert (
            said == "The charts count only the records with metadata.topic=math, in the runs of slices · every record"
        )
        assert await page.locator("#history-slice").input_value() == "metadata.topic=math"

        async def drawn() -> list[tuple[str, list[float | None], list[str | None]]]:
            data = json.loads(await page.locator("#history-data").text_content() or "{}")
            return [(c["name"], c["values"], c["counts"]) for c in data["charts"]]

        assert await drawn() == [
            ("exact", [0.0, 50.0], ["0/2 passed", "1/2 passed"]),
            ("grade", [None, None], ["0 scored", None]),
        ]
        await page.locator("[data-chart='0'] canvas").first.wait_for()
        await screenshot(page, "runs-history-slice")
        await page.fill("#history-slice", "metadata.topic=geo")  # another slice, typed
        await page.press("#history-slice", "Enter")
        await page.wait_for_url("**field=metadata.topic%3Dgeo**")
        assert (await drawn())[0][1:] == ([75.0, 100.0], ["3/4 passed", "5/5 passed"])
        assert await page.locator("#runs-table tbody tr").count() == 2  # the testset's runs
        await page.fill("#history-slice", "topic=geo")  # refused by the API: said, the runs still listed
        await page.press("#history-slice", "Enter")
        await page.locator("#history-error").wait_for()
        assert "field must be metadata.<key>" in await page.locator("#history-error").inner_text()
        assert await page.locator("#charts").count() == 0
        assert await page.locator("#testset-filter option:checked").inner_text() == "slices"
        await page.locator("#history-error").wait_for()
        await page.fill("#history-slice", "")  # every record again, of every testset's runs
        await page.press("#history-slice", "Enter")
        await page.locator("#charts").wait_for()
        await page.select_option("#testset-filter", "")
        await page.wait_for_url(lambda url: testset.id not in url)
        assert await page.locator("#runs-table tbody tr").count() == 2  # the copy's run and thrice archived
        assert await page.locator("#history-slice").input_value() == ""


def _rate(group: RunGroup | None) -> float | None:
    """The first metric's pass rate in a group."""
    return group.metrics[0].pass_rate if group is not None else None


async def test_slices_reach_one_level_into_an_object(stack: Stack) -> None:
    async with stack.client() as admin:
        project = await admin.create_project(f"nested {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(project.id, "nested", "write")).secret
    # Every free user's question fails, every pro user's passes; each user an id of their own.
    rows = [
        {
            "question": f"q{i}",
            "answer": "yes",
            "user": {"tier": "free" if i < 8 else "pro", "id": f"u{i}", "plan.name": "basic"},
        }
        for i in range(20)
    ]
    async with stack.sdk(key) as sdk:
        testset = await sdk.create_testset(
            project.id, "nested", rows, inputs=["question"], expected=["answer"], metadata=["user"]
        )
        exact = await sdk.create_metric(
            project.id,
            "exact",
            eval_type="heuristic",
            heuristic={"kind": "exact_match", "params": {"expected_field": "answer"}},
        )
        version = await sdk.create_system_version_by_name(project.id, "bot", "sdk")
        run = await sdk.create_run(project.id, testset.id, version.id, [exact.id])
        cases = {t.inputs["question"]: t.id async for t in sdk.list_testcases(testset.id)}
        await sdk.ingest_records(
            run.id,
            [
                RecordIn(cases[r["question"]], outputs={"response": "no" if i < 8 else "yes"})
                for i, r in enumerate(rows)
            ],
        )
        await _reaches(sdk, run.id, "completed")

        plan = 'metadata.user."plan.name"'
        assert (await sdk.run_breakdown(run.id)).fields == [
            "expected.answer", "inputs.question", "metadata.user", "metadata.user.id", plan, "metadata.user.tier",
        ]  # fmt: skip
        # The tier's two values are slices; a user's own id is none, nor a plan or an answer every
        # record holds (the whole run). 0 of 8 against 12 of 12: 1 / C(20, 8), twice over two tested.
        weak = await sdk.weak_slices(run.id)
        assert weak.tested == 2
        assert [(s.filter, s.scored, s.passed, s.rest_scored, s.rest_passed) for s in weak.slices] == [
            ("metadata.user.tier=free", 8, 0, 12, 12)
        ]
        assert weak.slices[0].p_value == pytest.approx(1 / 125_970) and weak.slices[0].q_value == pytest.approx(
            2 / 125_970
        )
        freed = [r async for r in sdk.list_records(run_id=run.id, fields=[weak.slices[0].filter])]
        assert len(freed) == 8 and {r.metadata["user"]["tier"] for r in freed} == {"free"}
        by_tier = await sdk.run_breakdown(run.id, "metadata.user.tier")
        assert [(g.label, g.records, _rate(g)) for g in by_tier.groups] == [("pro", 12, 1.0), ("free", 8, 0.0)]
        by_plan = await sdk.run_breakdown(run.id, plan)
        assert [(g.label, g.records) for g in by_plan.groups] == [("basic", 20)]
        history = await sdk.run_history(project.id, ["exact"], fields=["metadata.user.tier=free"])
        assert [(p.value, p.scored) for p in history[0].points] == [(0.0, 8)]


async def test_a_gate_per_value_judges_every_value_not_only_the_25_most_common(
    stack: Stack, sk: AsyncScorekeeper, tmp_path: Any
) -> None:
    # 30 testcases, each its own value of metadata.lang (v00 … v29); the bot is wrong on the
    # multiples of 5 and raises on 7. A breakdown shows 25 values (v00 … v24, all of one record) and
    # sums the other five, where v25's failure hides among four passes (80%).
    source = tmp_path / "values.jsonl"
    rows = [{"question": f"{n} + 1?", "n": n, "answer": str(n + 1), "lang": f"v{n:02d}"} for n in range(30)]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    project = (await sk.create_project(f"per value {uuid.uuid4().hex[:6]}")).id

    def cli(*args: str) -> Any:
        return scorekeeper(stack, "--project", project, *args)

    made = cli(
        "testsets", "import", str(source), "--name", "values", "--inputs", "question,n", "--expected", "answer",
        "--metadata", "lang",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (
        cli("metrics", "create", "exact", "--heuristic", "exact_match", "--param", "expected_field=answer").returncode
        == 0
    )
    gated = cli(
        "eval", "--testset", "values", "--metric", "exact", "--callable", "tests.support.sdk_bots:answer",
        "--source", "api", "--fail-under", "exact=0.7", "--fail-under-per", "metadata.lang", "--min-slice-scored", "1",
    )  # fmt: skip
    assert gated.returncode == 1, gated.stderr
    said = " ".join(gated.stdout.split())
    assert (
        "FAIL exact: 0.0% where metadata.lang=v00 (1 scored) · 0.0% where metadata.lang=v05 (1 scored)"
        " · 0.0% where metadata.lang=v10 (1 scored) · 0.0% where metadata.lang=v15 (1 scored)"
        " · 0.0% where metadata.lang=v20 (1 scored) · 0.0% where metadata.lang=v25 (1 scored), below 70.0%"
    ) in said, gated.stdout
    run = await anext(sk.list_runs(project))
    # The breakdown itself: 25 values and the rest by default, as many as asked up to 1,000.
    default = await sk.run_breakdown(run.id, "metadata.lang")
    assert [g.label for g in default.groups] == [f"v{n:02d}" for n in range(25)] + ["(the 5 other values)"]
    every = await sk.run_breakdown(run.id, "metadata.lang", max_values=30)
    assert [g.value for g in every.groups] == [f"v{n:02d}" for n in range(30)]
    with pytest.raises(InvalidArgument, match=r"^max_values must be within 1\.\.1000, got 1001$"):
        await sk.run_breakdown(run.id, "metadata.lang", max_values=1001)
    listed = cli("runs", "breakdown", run.id, "metadata.lang", "--values", "30")
    assert listed.returncode == 0, listed.stderr
    firsts = [line.split("│")[1].strip() for line in listed.stdout.splitlines() if line.startswith("│")]
    assert firsts == [f"v{n:02d}" for n in range(30)], listed.stdout
