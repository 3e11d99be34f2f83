"""ListRuns, GetRun, GetRunHistory, CompareRuns and ExportRun on the real processes, over gRPC and
HTTP, checked against the plan in tests/support/query_seed.py."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import uuid
from typing import Any

import grpc
import pytest
from scipy import stats as scipy_stats

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb
from services.query.export import RECORD_COLUMNS
from shared.devstack.stack import Stack
from tests.support import query_seed
from tests.support.query_seed import PLANS, RunPlan, Seeded

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


@pytest.fixture(scope="module")
async def seeded(stack: Stack) -> Seeded:
    async with stack.client() as client:
        return await query_seed.seed(client, stack.database_url)


def plan(name: str) -> RunPlan:
    return next(p for p in PLANS if p.name == name)


def value(metric: str, p: RunPlan, i: int) -> float | None:
    if p.answers[i] is None:
        return None
    status, number = query_seed.score(metric, p, i)
    return number if status == "completed" else None


async def invalid(call: Any, request: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return str(info.value.details())


async def test_get_run_has_versions_totals_and_transitions(client: Client, seeded: Seeded) -> None:
    base = await client.get_run(seeded.runs["base"])
    assert (base.status, base.records, base.errored_records, base.source) == ("completed", 6, 0, "api")
    assert (base.testset_id, base.testset_name, base.testset_version) == (seeded.testsets["capitals"], "capitals", 1)
    assert base.notes == "the base run"
    sv = base.system_version
    assert (sv.id, sv.name, sv.kind, sv.system_id, sv.system_name) == (
        seeded.system_versions["bot-a"],
        "v1",
        "sdk",
        seeded.systems["bot-a"],
        "bot-a",
    )
    assert [(m.name, m.metric_id, m.metric_version) for m in base.metrics] == [
        (name, seeded.metrics[name], 1) for name in ("exact", "overlap", "cheap")
    ]
    exact = base.metrics[0]
    assert (exact.scored, exact.passed, exact.errored, exact.pending) == (6, 5, 0, 0)
    cheap = base.metrics[2]
    assert (cheap.scored, cheap.passed, cheap.errored) == (5, 5, 1)
    totals = base.totals
    assert totals.latency_ms_total == pytest.approx(210) and totals.latency_ms_mean == pytest.approx(35)
    assert (totals.prompt_tokens, totals.completion_tokens, totals.costed_records) == (60, 30, 5)
    assert totals.cost_usd == pytest.approx(0.005)
    assert (totals.judge_prompt_tokens, totals.judge_cost_usd) == (0, 0)
    statuses = [t.status for t in base.transitions]
    assert statuses[:2] == ["pending", "awaiting_execution"] and statuses[-1] == "completed"
    assert all(t.at for t in base.transitions)

    cand = await client.get_run(seeded.runs["cand"])
    assert (cand.records, cand.errored_records, cand.totals.costed_records) == (6, 1, 6)
    assert cand.totals.latency_ms_total == pytest.approx(240) and cand.totals.cost_usd == pytest.approx(0.012)
    assert cand.status_explanation == "Completed: 6 records (1 errored and not scored), every score in."


async def test_list_runs_filters_and_pages(client: Client, seeded: Seeded, stack: Stack) -> None:
    runs = seeded.runs

    async def names(**filters: Any) -> list[str]:
        by_id = {v: k for k, v in runs.items()}
        return [by_id[r.id] async for r in client.list_runs(seeded.project_id, **filters)]

    assert await names() == ["other", "mon", "cand", "base"]
    assert await names(page_size=1) == ["other", "mon", "cand", "base"]
    assert await names(sources=["api"]) == ["other", "base"]
    assert await names(sources=["api", "monitor"], page_size=2) == ["other", "mon", "base"]
    assert await names(statuses=["completed"]) == ["other", "mon", "cand", "base"]
    assert await names(statuses=["running_scoring"]) == []
    assert await names(testset_id=seeded.testsets["misc"]) == ["other"]
    assert await names(system_id=seeded.systems["bot-b"]) == ["other", "mon"]
    assert await names(system_version_id=seeded.system_versions["bot-a"]) == ["cand", "base"]
    views = {r.id: r async for r in client.list_runs(seeded.project_id)}
    window = {"created_after": views[runs["cand"]].created_at, "created_before": views[runs["other"]].created_at}
    assert await names(**window) == ["mon", "cand"]
    row = views[runs["base"]]
    assert [(m.name, m.scored, m.passed) for m in row.metrics] == [("exact", 6, 5), ("overlap", 6, 5), ("cheap", 5, 5)]
    assert (row.records, row.status, row.totals.costed_records, list(row.transitions)) == (6, "completed", 5, [])

    async with stack.http(stack.query_http) as http:
        body = (
            await http.get(f"/v1/projects/{seeded.project_id}/runs", params=[("sources", "api"), ("sources", "ci")])
        ).json()
        assert [r["id"] for r in body["runs"]] == [runs["other"], runs["cand"], runs["base"]]
        assert body["runs"][2]["metrics"][0]["passed"] == 5
        bad = await http.get(f"/v1/projects/{seeded.project_id}/runs", params={"sources": "web"})
        assert bad.status_code == 400
        assert (
            bad.json()["error"]["message"]
            == "sources must be any of api, kickoff, playground, monitor, ci, schedule; got 'web'"
        )

    list_runs = client.query.ListRuns
    project = seeded.project_id
    for request, message in (
        (
            qpb.ListRunsRequest(project_id=project, created_after="yesterday"),
            "created_after 'yesterday' is not an RFC 3339 time such as 2025-01-31T12:00:00Z",
        ),
        (
            qpb.ListRunsRequest(project_id=project, created_before="2025-01-01T00:00:00"),
            "created_before '2025-01-01T00:00:00' has no UTC offset; add Z or +hh:mm",
        ),
        (
            qpb.ListRunsRequest(
                project_id=project, created_after="2025-02-01T00:00:00Z", created_before="2025-01-01T00:00:00Z"
            ),
            "created_after (2025-02-01T00:00:00Z) must be before created_before (2025-01-01T00:00:00Z)",
        ),
        (qpb.ListRunsRequest(project_id=project, statuses=["done"]), "statuses must be any of pending,"),
        (qpb.ListRunsRequest(project_id=project, page_token="x"), "page_token is malformed"),
        (qpb.ListRunsRequest(project_id=project, testset_id="nope"), "testset_id 'nope' is not a valid id"),
    ):
        assert (await invalid(list_runs, request)).startswith(message)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await list_runs(qpb.ListRunsRequest(project_id=str(uuid.uuid4())), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def expected_point(metric: str, p: RunPlan, output_type: str) -> tuple[float | None, int, int]:
    """(value, scored, errored) of one run's history point, from the plan."""
    values = [value(metric, p, i) for i in range(len(p.answers))]
    scored = [v for v in values if v is not None]
    errored = sum(
        1 for i, a in enumerate(p.answers) if a is not None and query_seed.score(metric, p, i)[0] == "errored"
    )
    if not scored:
        return None, 0, errored
    mean = statistics.fmean(scored)
    return (100 * mean if output_type == "boolean" else mean), len(scored), errored


async def test_run_history_values_are_exact(client: Client, seeded: Seeded, stack: Stack) -> None:
    metric_refs = ["exact", seeded.metrics["overlap"], "cheap"]
    history = await client.run_history(seeded.project_id, metric_refs, testset_id=seeded.testsets["capitals"])
    assert [s.name for s in history.series] == ["exact", "overlap", "cheap"]
    for series, (metric, _, _, output_type) in zip(history.series, query_seed.METRICS, strict=True):
        assert series.metric_id == seeded.metrics[metric]
        assert [p.run_id for p in series.points] == [seeded.runs[n] for n in ("base", "cand", "mon")]
        for point, name in zip(series.points, ("base", "cand", "mon"), strict=True):
            expected, scored, errored = expected_point(metric, plan(name), output_type)
            assert (point.scored, point.errored, point.pending, point.output_type) == (scored, errored, 0, output_type)
            if expected is None:
                assert not point.HasField("value")
            else:
                assert point.value == pytest.approx(expected, abs=1e-9)
            assert point.run_status == "completed"
    exact = history.series[0]
    assert [p.value for p in exact.points] == pytest.approx([500 / 6, 60.0, 50.0])
    assert [p.passed for p in exact.points] == [5, 3, 3]

    async def runs_of(**filters: Any) -> list[str]:
        reply = await client.run_history(seeded.project_id, ["exact"], **filters)
        by_id = {v: k for k, v in seeded.runs.items()}
        return [by_id[p.run_id] for p in reply.series[0].points]

    assert await runs_of() == ["base", "cand", "mon", "other"]
    assert await runs_of(sources=["ci"]) == ["cand"]
    assert await runs_of(system_id=seeded.systems["bot-b"]) == ["mon", "other"]
    assert await runs_of(system_version_id=seeded.system_versions["bot-a"]) == ["base", "cand"]
    assert await runs_of(limit=2) == ["mon", "other"]

    async with stack.http(stack.query_http) as http:
        body = (
            await http.get(
                f"/v1/projects/{seeded.project_id}/run-history",
                params=[("metrics", "exact"), ("metrics", "overlap"), ("testset_id", seeded.testsets["misc"])],
            )
        ).json()
        assert [(s["name"], [p["value"] for p in s["points"]]) for s in body["series"]] == [
            ("exact", [50.0]),
            ("overlap", [0.5]),
        ]
        bad = await http.get(f"/v1/projects/{seeded.project_id}/run-history", params={"metrics": "nosuch"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == f"metrics: unknown metric 'nosuch' in project {seeded.project_id}"
    request = qpb.GetRunHistoryRequest(project_id=seeded.project_id)
    assert (
        await invalid(client.query.GetRunHistory, request) == "metrics is required: name at least one metric id or name"
    )
    request = qpb.GetRunHistoryRequest(project_id=seeded.project_id, metrics=["exact"], limit=5000)
    assert await invalid(client.query.GetRunHistory, request) == "limit must be within 1..1000, got 5000"


async def test_run_history_of_a_slice_counts_its_records_alone(client: Client, seeded: Seeded, stack: Stack) -> None:
    capitals, refs = seeded.testsets["capitals"], ["exact", "overlap"]
    whole = await client.run_history(seeded.project_id, refs, testset_id=capitals)
    summed = {(m, n): [0, 0, 0] for m in refs for n in ("base", "cand", "mon")}
    for i, (question, answer) in enumerate(query_seed.CAPITALS):
        sliced = await client.run_history(
            seeded.project_id, refs, testset_id=capitals, fields=[f"expected.answer={answer}"]
        )
        assert list(sliced.fields) == [f"expected.answer={answer}"]  # the slice counted, said back
        for series, metric in zip(sliced.series, refs, strict=True):
            assert [p.run_id for p in series.points] == [seeded.runs[n] for n in ("base", "cand", "mon")]
            for point, name in zip(series.points, ("base", "cand", "mon"), strict=True):
                p = plan(name)
                status, number = query_seed.score(metric, p, i) if p.answers[i] is not None else ("none", None)
                scored, errored = int(status == "completed"), int(status == "errored")
                verdict = int(bool(scored and query_seed.passed(metric, p, i)))
                assert (point.scored, point.passed, point.errored, point.pending) == (scored, verdict, errored, 0)
                if number is None:
                    assert not point.HasField("value")  # the errored record of cand: nothing scored
                else:
                    assert point.value == pytest.approx(100 * number if metric == "exact" else number, abs=1e-9)
                for k, n in enumerate((point.scored, point.passed, point.errored)):
                    summed[(metric, name)][k] += n
        if answer == "Tokyo":  # base and mon answer Tokyo, cand Kyoto
            assert [p.value for p in sliced.series[0].points] == [100.0, 0.0, 100.0]
            both = [f"expected.answer={answer}", f"inputs.question={question}"]
            again = await client.run_history(seeded.project_id, refs, testset_id=capitals, fields=both)
            assert again.series == sliced.series
    # The slices of every testcase add up to the whole runs' aggregates.
    for series, metric in zip(whole.series, refs, strict=True):
        for point, name in zip(series.points, ("base", "cand", "mon"), strict=True):
            assert [point.scored, point.passed, point.errored] == summed[(metric, name)]

    # A slice no record holds: every run is still a point, with nothing scored.
    empty = await client.run_history(seeded.project_id, ["exact"], testset_id=capitals, fields=["expected.answer=Rome"])
    assert [(p.scored, p.HasField("value")) for p in empty.series[0].points] == [(0, False)] * 3
    async with stack.http(stack.query_http) as http:
        body = (
            await http.get(
                f"/v1/projects/{seeded.project_id}/run-history",
                params=[("metrics", "exact"), ("testset_id", capitals), ("fields", "expected.answer=Jupiter")],
            )
        ).json()
        assert [p["value"] for p in body["series"][0]["points"]] == [0.0, 100.0, 0.0]  # Saturn, Jupiter, Saturn
        bad = await http.get(
            f"/v1/projects/{seeded.project_id}/run-history", params={"metrics": "exact", "fields": "answer=Paris"}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            "field must be metadata.<key>, inputs.<key> or expected.<key>, got 'answer'"
        )
    for fields, message in (
        (["expected.answer"], "fields filter 'expected.answer' must be field=value, as metadata.topic=math"),
        ([f"expected.answer={n}" for n in range(11)], "fields may hold at most 10 filters, got 11"),
        (['expected."answer=Paris'], "fields filter 'expected.\"answer=Paris' must be field=value"),
    ):
        request = qpb.GetRunHistoryRequest(project_id=seeded.project_id, metrics=["exact"], fields=fields)
        assert (await invalid(client.query.GetRunHistory, request)).startswith(message)


def expected_changes(metrics: list[str]) -> dict[int, dict[str, str]]:
    base, cand = plan("base"), plan("cand")
    result: dict[int, dict[str, str]] = {}
    for i in range(len(base.answers)):
        for metric in metrics:
            a, b = value(metric, base, i), value(metric, cand, i)
            if a is None or b is None:
                change = "incomparable"
            else:
                change = "regression" if b < a else "improvement" if b > a else "unchanged"
            result.setdefault(i, {})[metric] = change
    return result


async def test_compare_runs_counts_are_exact(client: Client, seeded: Seeded, stack: Stack) -> None:
    cand, base = seeded.runs["cand"], seeded.runs["base"]
    names = ["exact", "overlap", "cheap"]
    changes = expected_changes(names)
    index = {t: i for i, t in enumerate(seeded.testcases["capitals"])}
    reply = await client.compare_runs(cand, base)
    assert (reply.run_id, reply.baseline_run_id, reply.testset_id) == (cand, base, seeded.testsets["capitals"])
    assert reply.testcases_compared == 6
    for m in reply.metrics:
        counted = [changes[i][m.name] for i in changes]
        assert (m.regressions, m.improvements, m.unchanged, m.incomparable) == (
            counted.count("regression"),
            counted.count("improvement"),
            counted.count("unchanged"),
            counted.count("incomparable"),
        ), m.name
    exact = reply.metrics[0]
    assert (exact.name, exact.regressions, exact.improvements, exact.unchanged, exact.incomparable) == (
        "exact",
        2,
        1,
        2,
        1,
    )
    assert (reply.metrics[2].regressions, reply.metrics[2].incomparable) == (5, 1)
    for m in reply.metrics:  # B - A per testcase both scored: its mean and t interval; the sign test
        deltas = [b - a for i in range(6) if (a := value(m.name, plan("base"), i)) is not None
                  and (b := value(m.name, plan("cand"), i)) is not None]  # fmt: skip
        mean = sum(deltas) / len(deltas)
        half = scipy_stats.t.ppf(0.975, len(deltas) - 1) * statistics.stdev(deltas) / math.sqrt(len(deltas))
        assert m.pairs == len(deltas) and m.mean_delta == pytest.approx(mean), m.name
        assert [m.delta_ci_low, m.delta_ci_high] == pytest.approx([max(mean - half, -1), min(mean + half, 1)])
        n, k = m.regressions + m.improvements, min(m.regressions, m.improvements)
        assert m.p_value == pytest.approx(min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n))
    assert reply.metrics[2].p_value == pytest.approx(0.0625)  # cheap: 5 of 5 regressed, 2 / 2^5
    assert [index[t.testcase_id] for t in reply.testcases] == sorted(
        range(6), key=lambda i: seeded.testcases["capitals"][i]
    )
    for testcase in reply.testcases:
        i = index[testcase.testcase_id]
        assert {c.metric_name: c.change for c in testcase.changes} == changes[i]
        assert len(testcase.record_ids) == len(testcase.baseline_record_ids) == 1
        assert testcase.inputs["question"] == query_seed.CAPITALS[i][0]
        overlap = next(c for c in testcase.changes if c.metric_name == "overlap")
        a, b = value("overlap", plan("base"), i), value("overlap", plan("cand"), i)
        if a is not None and b is not None:
            assert (overlap.baseline_value, overlap.value) == pytest.approx((a, b))
            assert overlap.delta == pytest.approx(b - a)
        else:
            assert not overlap.HasField("delta")

    only = await client.compare_runs(cand, base, metrics=["exact"], regressions_only=True)
    assert sorted(index[t.testcase_id] for t in only.testcases) == [1, 3]
    assert [m.name for m in only.metrics] == ["exact"]
    every = await client.compare_runs(cand, base, regressions_only=True)
    assert sorted(index[t.testcase_id] for t in every.testcases) == [0, 1, 2, 3, 4]  # cheap regressed on each
    paged: list[str] = []
    token = ""
    while True:
        page = await client.compare_runs(cand, base, regressions_only=True, page_size=2, page_token=token)
        assert page.metrics == every.metrics
        paged += [t.testcase_id for t in page.testcases]
        token = page.next_page_token
        if not token:
            break
    assert paged == [t.testcase_id for t in every.testcases]

    async with stack.http(stack.query_http) as http:
        body = (
            await http.get(f"/v1/runs/{cand}/compare/{base}", params={"metrics": "exact", "regressions_only": "true"})
        ).json()
        assert sorted(index[t["testcase_id"]] for t in body["testcases"]) == [1, 3]
        assert body["metrics"][0]["regressions"] == 2
        sliced = (await http.get(f"/v1/runs/{cand}/compare/{base}", params={"fields": "expected.answer=Tokyo"})).json()
        assert ([index[t["testcase_id"]] for t in sliced["testcases"]], sliced["testcases_compared"]) == ([1], 1)
        bad = await http.get(f"/v1/runs/{cand}/compare/{seeded.runs['other']}")
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            f"runs {cand} and {seeded.runs['other']} are on different testsets"
            f" ({seeded.testsets['capitals']} and {seeded.testsets['misc']}); compare runs of the same testset"
        )
    request = qpb.CompareRunsRequest(run_id=cand, baseline_run_id=base, metrics=["nosuch"])
    assert await invalid(client.query.CompareRuns, request) == (
        f"metrics: unknown metric 'nosuch' in project {seeded.project_id}"
    )

    # A slice: the testcases whose records hold the values, counts and test included.
    japan = await client.compare_runs(cand, base, fields=["expected.answer=Tokyo"])
    assert ([index[t.testcase_id] for t in japan.testcases], japan.testcases_compared) == ([1], 1)
    assert list(japan.fields) == ["expected.answer=Tokyo"] and not reply.fields
    assert [(m.name, m.regressions, m.improvements, m.unchanged, m.pairs) for m in japan.metrics] == [
        ("exact", 1, 0, 0, 1),
        ("overlap", 1, 0, 0, 1),
        ("cheap", 1, 0, 0, 1),
    ]
    assert japan.metrics[0].mean_delta == -1.0 and japan.metrics[0].p_value == 1.0
    two = ["inputs.question=What is the capital of Japan?", "expected.answer=Tokyo"]
    assert (await client.compare_runs(cand, base, fields=two)).metrics == japan.metrics  # AND-ed
    nowhere = await client.compare_runs(cand, base, fields=["expected.answer=Rome"])
    assert (nowhere.testcases_compared, list(nowhere.testcases)) == (0, [])
    sliced_pages: list[str] = []
    token = ""
    while True:
        page = await client.compare_runs(
            cand, base, fields=["inputs.question=Who wrote Hamlet?"], page_size=1, page_token=token
        )
        sliced_pages += [t.testcase_id for t in page.testcases]
        if not (token := page.next_page_token):
            break
    assert [index[t] for t in sliced_pages] == [4]
    # A page token of the whole comparison is not one of a slice's.
    first = await client.compare_runs(cand, base, page_size=2)
    request = qpb.CompareRunsRequest(
        run_id=cand, baseline_run_id=base, page_size=2, page_token=first.next_page_token, fields=["expected.answer=Au"]
    )
    assert (await invalid(client.query.CompareRuns, request)).startswith("page_token")
    request = qpb.CompareRunsRequest(run_id=cand, baseline_run_id=base, fields=["answer=Tokyo"])
    assert await invalid(client.query.CompareRuns, request) == (
        "field must be metadata.<key>, inputs.<key> or expected.<key>, got 'answer'"
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.compare_runs(cand, str(uuid.uuid4()))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_compare_runs_lists_the_largest_changes_first(client: Client, seeded: Seeded, stack: Stack) -> None:
    cand, base = seeded.runs["cand"], seeded.runs["base"]
    ids = seeded.testcases["capitals"]
    names = ["exact", "overlap", "cheap"]

    def delta(metric: str, i: int) -> float | None:
        a, b = value(metric, plan("base"), i), value(metric, plan("cand"), i)
        return None if a is None or b is None else b - a

    def expected(key: Any, regressed: bool = False) -> list[int]:
        """Testcases by key (None last), ties by testcase id."""
        chosen = [i for i in range(6) if not regressed or any((delta(m, i) or 0) < 0 for m in names)]
        keyed = [(key(i), ids[i], i) for i in chosen]
        return [i for k, _, i in sorted(keyed, key=lambda t: (t[0] is None, round(t[0] or 0, 9), t[1]))]

    async def listed(order_by: str, page_size: int = 2, **options: Any) -> list[int]:
        found, token = [], ""
        while True:
            page = await client.compare_runs(
                cand, base, order_by=order_by, page_size=page_size, page_token=token, **options
            )
            found += [ids.index(t.testcase_id) for t in page.testcases]
            if not (token := page.next_page_token):
                return found

    def lowest(i: int) -> float | None:
        deltas = [d for m in names if (d := delta(m, i)) is not None]
        return min(deltas) if deltas else None

    def highest(i: int) -> float | None:
        deltas = [d for m in names if (d := delta(m, i)) is not None]
        return -max(deltas) if deltas else None

    by_lowest = expected(lowest)
    assert by_lowest[-1] == 5  # the errored record: nothing to compare, last
    assert await listed("delta") == by_lowest
    assert await listed("delta", page_size=1) == by_lowest
    assert await listed("delta desc") == expected(highest)
    assert await listed("delta", regressions_only=True) == expected(lowest, regressed=True)
    for metric in names:
        assert await listed(f"delta.{metric}") == expected(lambda i, m=metric: delta(m, i)), metric
        assert await listed(f"delta.{metric} desc", page_size=3) == expected(
            lambda i, m=metric: None if (d := delta(m, i)) is None else -d
        ), metric
    by_id = await listed(f"delta.{seeded.metrics['overlap']}")
    assert by_id == expected(lambda i: delta("overlap", i))
    assert await listed("") == await listed("testcase") == expected(lambda i: None)
    # The page's testcases carry their changes, in that order.
    worst = await client.compare_runs(cand, base, order_by="delta.overlap", page_size=1)
    first = worst.testcases[0]
    assert next(c.delta for c in first.changes if c.metric_name == "overlap") == pytest.approx(
        delta("overlap", by_id[0])
    )

    async with stack.http(stack.query_http) as http:
        body = (await http.get(f"/v1/runs/{cand}/compare/{base}", params={"order_by": "delta"})).json()
        assert [ids.index(t["testcase_id"]) for t in body["testcases"]] == by_lowest
        bad = await http.get(f"/v1/runs/{cand}/compare/{base}", params={"order_by": "score desc"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            "order_by 'score desc' is not supported; use testcase, delta, delta.<metric> or latency_delta,"
            " then asc or desc"
        )
    request = qpb.CompareRunsRequest(run_id=cand, baseline_run_id=base, metrics=["exact"], order_by="delta.overlap")
    assert await invalid(client.query.CompareRuns, request) == (
        "order_by: metric 'overlap' is not one of the compared metrics (exact)"
    )
    request = qpb.CompareRunsRequest(run_id=cand, baseline_run_id=base, order_by="testcase desc")
    assert await invalid(client.query.CompareRuns, request) == (
        "order_by 'testcase desc' is not supported: testcases are listed by id, ascending"
    )
    # A page token holds its order: it does not continue another one.
    first_page = await client.compare_runs(cand, base, order_by="delta", page_size=2)
    request = qpb.CompareRunsRequest(
        run_id=cand, baseline_run_id=base, page_size=2, page_token=first_page.next_page_token, order_by="delta desc"
    )
    assert (await invalid(client.query.CompareRuns, request)).startswith("page_token")


async def test_compare_runs_says_where_a_testcase_stands(client: Client, seeded: Seeded, stack: Stack) -> None:
    cand, base = seeded.runs["cand"], seeded.runs["base"]
    ids = seeded.testcases["capitals"]
    for options in ({}, {"order_by": "delta"}, {"order_by": "latency_delta desc"}, {"regressions_only": True}):
        page = await client.compare_runs(cand, base, page_size=1000, **options)
        listed = [t.testcase_id for t in page.testcases]
        for i, testcase in enumerate(listed):
            around = (await client.compare_runs(cand, base, page_size=1, around_testcase_id=testcase, **options)).around
            assert (around.previous_testcase_id, around.next_testcase_id, around.position, around.listed) == (
                listed[i - 1] if i else "",
                listed[i + 1] if i + 1 < len(listed) else "",
                i + 1,
                len(listed),
            ), (options, i)
            # Its page token opens the listing at it, whatever the page size.
            assert bool(around.page_token) == (i > 0), (options, i)
            resumed = await client.compare_runs(cand, base, page_size=2, page_token=around.page_token, **options)
            assert [t.testcase_id for t in resumed.testcases] == listed[i : i + 2], (options, i)
            assert (resumed.first_position, resumed.listed) == (i + 1, len(listed)), (options, i)
    regressed_page = await client.compare_runs(cand, base, regressions_only=True)
    regressed = regressed_page.testcases
    assert 0 < len(regressed) < len(ids)
    assert (regressed_page.first_position, regressed_page.listed) == (1, len(regressed))
    unlisted = next(t for t in ids if t not in {r.testcase_id for r in regressed})
    # Nothing listed: no first place.
    none = await client.compare_runs(cand, base, regressions_only=True, testcase_ids=[unlisted])
    assert (list(none.testcases), none.first_position, none.listed) == ([], 0, 0)
    around = (await client.compare_runs(cand, base, regressions_only=True, around_testcase_id=unlisted)).around
    assert (around.previous_testcase_id, around.next_testcase_id, around.position, around.listed) == (
        "",
        "",
        0,
        len(regressed),
    )
    # The compare page asks with its usage: the token of a testcase side by side continues it too.
    by_id = sorted(ids)
    third = (await client.compare_runs(cand, base, page_size=1, around_testcase_id=by_id[2])).around
    usage_page = await client.query.CompareRuns(
        qpb.CompareRunsRequest(
            run_id=cand, baseline_run_id=base, page_size=1, page_token=third.page_token, with_usage=True
        )
    )
    assert [t.testcase_id for t in usage_page.testcases] == [by_id[2]]
    # The page itself is the same with or without it; without it, no `around`.
    plain = await client.compare_runs(cand, base, page_size=2)
    assert not plain.HasField("around")
    with_around = await client.compare_runs(cand, base, page_size=2, around_testcase_id=ids[3])
    assert [t.testcase_id for t in with_around.testcases] == [t.testcase_id for t in plain.testcases]
    assert list(with_around.metrics) == list(plain.metrics)
    # Narrowed to a slice of testcases: their neighbours among them.
    chosen = await client.compare_runs(cand, base, testcase_ids=[ids[4], ids[1]], around_testcase_id=ids[4])
    first, second = sorted([ids[4], ids[1]])
    assert (chosen.around.previous_testcase_id, chosen.around.next_testcase_id, chosen.around.listed) == (
        first if ids[4] == second else "",
        second if ids[4] == first else "",
        2,
    )
    request = qpb.CompareRunsRequest(run_id=cand, baseline_run_id=base, around_testcase_id="tc-1")
    assert await invalid(client.query.CompareRuns, request) == "around_testcase_id 'tc-1' is not a valid id"
    async with stack.http(stack.query_http) as http:
        body = (
            await http.get(f"/v1/runs/{cand}/compare/{base}", params={"around_testcase_id": min(ids), "page_size": 1})
        ).json()
        # By testcase id (the default order), the lowest id first.
        assert body["around"]["position"] == 1 and body["around"]["listed"] == len(ids)


async def test_export_csv_round_trips_and_escapes_formulas(client: Client, seeded: Seeded, stack: Stack) -> None:
    cand = plan("cand")
    raw = b"".join([chunk async for chunk in client.export_run(seeded.runs["cand"])])
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    metric_columns = [c for n in ("exact", "overlap", "cheap") for c in (n, f"{n} passed", f"{n} reasoning")]
    assert rows[0] == [*RECORD_COLUMNS, *metric_columns]
    assert len(rows) == 7
    index = {t: i for i, t in enumerate(seeded.testcases["capitals"])}
    by_index = {
        index[dict(zip(rows[0], r, strict=True))["testcase_id"]]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]
    }
    errored = by_index[5]
    assert errored["status"] == "errored"
    assert errored["error"] == "'" + query_seed.FORMULA_ERROR  # escaped: a spreadsheet shows it as text
    assert (errored["exact"], errored["exact passed"], errored["exact reasoning"]) == ("", "", "")
    tagged = by_index[1]
    assert json.loads(tagged["tags"]) == ["=cmd|' /C calc'!A0", "regressed"]
    for i in range(5):
        row = by_index[i]
        assert json.loads(row["inputs"]) == {"question": query_seed.CAPITALS[i][0]}
        assert json.loads(row["outputs"]) == {"response": cand.answers[i]}
        assert float(row["latency_ms"]) == cand.latencies[i] and float(row["cost_usd"]) == 0.002
        assert row["exact"] == json.dumps(query_seed.passed("exact", cand, i))
        assert float(row["overlap"]) == pytest.approx(value("overlap", cand, i))
        assert row["cheap passed"] == "false" and row["exact reasoning"]
    every_cell = [c for r in rows for c in r]
    assert not [c for c in every_cell if c[:1] in ("=", "+", "-", "@")]

    jsonl = b"".join([chunk async for chunk in client.export_run(seeded.runs["cand"], "jsonl")])
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert len(lines) == 6
    first = next(line for line in lines if line["testcase_id"] == seeded.testcases["capitals"][3])
    assert (first["outputs"], first["latency_ms"], first["tags"]) == ({"response": "Au gold"}, 45, ["regressed"])
    assert set(first["scores"]) == {"exact", "overlap", "cheap"}
    assert first["scores"]["exact"]["value"] is False and first["scores"]["overlap"]["status"] == "completed"

    async with stack.http(stack.query_http) as http:
        response = await http.get(f"/v1/runs/{seeded.runs['cand']}/records:export")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.content == raw
        response = await http.get(f"/v1/runs/{seeded.runs['cand']}/records:export", params={"format": "jsonl"})
        assert response.headers["content-type"] == "application/x-ndjson"
        assert [json.loads(line)["id"] for line in response.text.splitlines()] == [line["id"] for line in lines]
        bad = await http.get(f"/v1/runs/{seeded.runs['cand']}/records:export", params={"format": "xlsx"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == "format must be csv or jsonl, got 'xlsx'"
        missing = await http.get(f"/v1/runs/{uuid.uuid4()}/records:export")
        assert missing.status_code == 404
    with pytest.raises(grpc.aio.AioRpcError) as info:
        _ = [chunk async for chunk in client.export_run(seeded.runs["cand"], "xlsx")]
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "format must be csv or jsonl, got 'xlsx'",
    )
