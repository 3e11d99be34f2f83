"""The console without a stack: error pages, CSRF, security headers (the app over fake stubs), and
the pure parts (record filters, history alignment, kickoff form)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import FormData, QueryParams
from starlette.testclient import TestClient

from services.console.app import create_app, templates
from services.console.formatting import duration, number, subset_label, until_reviewers
from services.console.history import chart_data
from services.console.kickoff import KickoffError, KickoffForm, prompt_system_config
from services.console.pages.records import review_value
from services.console.record_filters import RecordFilters, Used, used
from services.console.security import Security
from services.console.settings import ConsoleSettings
from services.console.web import Console
from shared.edge.convert import struct_to_dict

PROJECT = "11111111-1111-4111-8111-111111111111"


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class FakeStub:
    """Every method of a service: the given answer by method name, else ``default``."""

    def __init__(self, default: Any, answers: dict[str, Any]) -> None:
        self._default = default
        self._answers = answers

    def __getattr__(self, method: str) -> Any:
        return self._answers.get(method, self._default)


def console_with(default: Any, **answers: Any) -> TestClient:
    """The console's app over stubs whose every method is ``default`` unless ``answers`` names it
    (WhoAmI: a write key's)."""
    answers.setdefault("WhoAmI", answering(apb.WhoAmIResponse(key=apb.ApiKey(role="write"))))
    stub = FakeStub(default, answers)
    stubs: Any = SimpleNamespace(catalog=stub, query=stub, runs=stub, testsets=stub, access=stub)
    console = Console(
        settings=ConsoleSettings(),
        stubs=stubs,
        templates=templates(),
        security=Security("unit-test-secret", secure_cookies=False),
    )
    return TestClient(create_app(console, []), raise_server_exceptions=False, follow_redirects=False)


def failing(exc: BaseException) -> Any:
    async def call(request: Any, **kwargs: Any) -> Any:
        raise exc

    return call


def answering(response: Any) -> Any:
    async def call(request: Any, **kwargs: Any) -> Any:
        return response

    return call


@pytest.mark.parametrize(
    ("error", "status", "heading"),
    [
        (rpc_error(grpc.StatusCode.UNAVAILABLE), 503, "Scorekeeper is not answering"),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), 503, "Scorekeeper is not answering"),
        (rpc_error(grpc.StatusCode.NOT_FOUND, "project x does not exist"), 404, "Not found"),
        (rpc_error(grpc.StatusCode.PERMISSION_DENIED, "needs the write role"), 403, "Not allowed"),
        (RuntimeError("a bug"), 500, "Something went wrong on our side"),
    ],
)
def test_failures_are_pages_a_person_can_read(error: BaseException, status: int, heading: str) -> None:
    client = console_with(failing(error))
    client.cookies.set("sk_session", "sk_key")
    response = client.get(f"/projects/{PROJECT}/runs")
    assert response.status_code == status
    assert f"<h1>{heading}</h1>" in response.text
    if status == 500:
        assert re.search(r"logged with reference [0-9a-f]{8}", response.text)
        assert "a bug" not in response.text  # internals stay in the log


def test_a_refused_key_goes_back_to_sign_in_with_the_page_to_return_to() -> None:
    client = console_with(failing(rpc_error(grpc.StatusCode.UNAUTHENTICATED, "revoked")))
    client.cookies.set("sk_session", "sk_revoked")
    response = client.get(f"/projects/{PROJECT}/records?search=x")
    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next=/projects/{PROJECT}/records%3Fsearch%3Dx"


def test_an_address_no_page_serves_is_the_not_found_page() -> None:
    response = console_with(failing(RuntimeError())).get("/no/such/page")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text


def test_a_project_the_key_cannot_see_is_not_found() -> None:
    client = console_with(
        failing(RuntimeError()),
        ListProjects=answering(cpb.ListProjectsResponse(projects=[cpb.Project(id="other", name="other")])),
        ListSystems=answering(cpb.ListSystemsResponse()),
    )
    client.cookies.set("sk_session", "sk_key")
    assert client.get(f"/projects/{PROJECT}/systems").status_code == 404


def test_a_slices_history_too_slow_to_count_is_said_on_the_runs_page() -> None:
    # A slice is counted from the runs' records: a deadline passed says so; the runs are listed.
    run = qpb.RunView(id="r1", project_id=PROJECT, status="completed", testset_name="qa")
    client = console_with(
        failing(RuntimeError()),
        ListProjects=answering(cpb.ListProjectsResponse(projects=[cpb.Project(id=PROJECT, name="p")])),
        ListMetrics=answering(cpb.ListMetricsResponse(metrics=[cpb.Metric(id="m1", name="exact")])),
        ListRuns=answering(qpb.ListRunsResponse(runs=[run])),
        ListTestsets=answering(tpb.ListTestsetsResponse()),
        GetRunHistory=failing(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED)),
    )
    client.cookies.set("sk_session", "sk_key")
    page = client.get(f"/projects/{PROJECT}/runs", params={"metric": "m1", "field": "metadata.lang=fr"})
    assert page.status_code == 200, page.text
    assert "The slice&#39;s history took longer than the page waits: pick a testset or a source." in page.text
    assert 'id="charts"' not in page.text and "/runs/r1" in page.text
    # The whole runs' history from their aggregates: a deadline there is the service not answering.
    assert client.get(f"/projects/{PROJECT}/runs", params={"metric": "m1"}).status_code == 503


def test_forms_need_the_token_of_this_browser() -> None:
    client = console_with(failing(RuntimeError()))
    page = client.get("/sign-in")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert token is not None
    assert client.post("/sign-out", data={}).status_code == 403
    assert client.post("/sign-out", data={"csrf": "0" * 64}).status_code == 403
    signed_out = client.post("/sign-out", data={"csrf": token.group(1)})
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/sign-in")
    # Another browser (another CSRF cookie) cannot reuse the token.
    other = console_with(failing(RuntimeError()))
    other.get("/sign-in")
    assert other.post("/sign-out", data={"csrf": token.group(1)}).status_code == 403


def test_pages_carry_a_strict_content_security_policy_and_server_timing() -> None:
    response = console_with(failing(RuntimeError())).get("/sign-in")
    # No inline script runs; the only inline one allowed is a speculation rule (JSON: what to prefetch).
    assert "script-src 'self' 'inline-speculation-rules';" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["server-timing"].startswith("app;dur=")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("sk_csrf=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sign_in_only_returns_to_a_path_of_this_site() -> None:
    page = console_with(failing(RuntimeError())).get("/sign-in?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text


def test_record_filters_become_the_apis_conditions_and_a_query_string_again() -> None:
    params = QueryParams(
        "search=capital+-paris&status=errored&status=bogus&cond_metric=m1&cond_op=lt&cond_value=0.5"
        "&cond_metric=m2&cond_op=failed&cond_value=&cond_metric=m3&cond_op=gt&cond_value=lots"
        "&cond_metric=&cond_op=passed&cond_value=&order=score.m1+desc&tags=a,+b&run=r1"
    )
    filters = RecordFilters.parse(params, {"m1", "m2", "m3"})
    fields = filters.request_fields()
    assert fields["where"] == ["m1:lt:0.5", "m2:failed"]
    assert fields["statuses"] == ["errored"]
    assert (fields["search"], fields["order_by"], fields["tags"], fields["run_ids"]) == (
        "capital -paris",
        "score.m1 desc",
        ["a", "b"],
        ["r1"],
    )
    assert filters.errors == ["Score condition ignored: 'lots' is not a number."]
    assert RecordFilters.parse(QueryParams(filters.query())).request_fields() == {
        **fields,
        "order_by": "created_at desc",  # score orders are allowed only for the page's metrics
    }
    assert RecordFilters.parse(QueryParams("order=drop+table")).order_by == "created_at desc"
    # An address made by hand may leave the value out of a condition that needs none.
    assert RecordFilters.parse(QueryParams("cond_metric=m1&cond_op=passed")).request_fields()["where"] == ["m1:passed"]


def test_step_filters_go_to_the_api_as_typed_once_each_and_each_can_be_removed() -> None:
    params = QueryParams(
        "step=retrieve%3Afailed&step=+&step=answer%3Agt%3A500&step=retrieve%3Afailed&field=metadata.a%3D1"
    )
    filters = RecordFilters.parse(params, set())
    assert filters.request_fields()["steps"] == ["retrieve:failed", "answer:gt:500"]
    assert filters.active and not RecordFilters.parse(QueryParams("step=")).active
    assert RecordFilters.parse(QueryParams(filters.query())).steps == filters.steps
    assert RecordFilters.parse(QueryParams(filters.without("step", "retrieve:failed"))).steps == ("answer:gt:500",)
    assert RecordFilters.parse(QueryParams(filters.without("field", "metadata.a=1"))).fields == ()
    # One the API would refuse is left out, saying why, and the page keeps the rest.
    bad = RecordFilters.parse(QueryParams("step=%3Afailed&step=answer%3Agt%3Aslow&step=ok"))
    assert bad.steps == ("ok",)
    assert bad.errors == [
        "Step filter ignored: ':failed' names no step; write <name>, <name>:failed, <name>:gt:<ms> or"
        " <name>:lt:<ms> (* for any step).",
        "Step filter ignored: 'answer:gt:slow': 'slow' is not a number.",
    ]
    many = RecordFilters.parse(QueryParams("&".join(f"step=s{n}" for n in range(12))))
    assert len(many.steps) == 10 and many.errors[-1] == "Step filter ignored: 's11', past the 10 a list takes."


def test_usage_bounds_become_the_apis_usage_conditions_and_a_query_string_again() -> None:
    params = QueryParams(
        "latency_ms_gt=1500&latency_ms_lt=+3000.0+&tokens_gt=&cost_usd_gt=0.01&cost_usd_lt=cheap&tokens_lt=nan"
        "&order=cost_usd+desc"
    )
    filters = RecordFilters.parse(params, set())
    fields = filters.request_fields()
    assert fields["usage"] == ["latency_ms:gt:1500", "latency_ms:lt:3000", "cost_usd:gt:0.01"]
    assert fields["order_by"] == "cost_usd desc"
    assert filters.errors == [
        "Tokens below ignored: 'nan' is not a finite number.",
        "Cost (USD) below ignored: 'cheap' is not a number.",
    ]
    assert filters.active
    assert (filters.bound("latency_ms", "lt"), filters.bound("tokens", "gt")) == ("3000.0", "")
    assert RecordFilters.parse(QueryParams(filters.query())).request_fields() == fields
    assert not RecordFilters.parse(QueryParams("latency_ms_gt=&order=tokens+desc")).active
    # Every digit kept: a bound is not rounded to six of them.
    assert RecordFilters.parse(QueryParams("tokens_gt=1234567.5")).request_fields()["usage"] == ["tokens:gt:1234567.5"]


def test_the_usage_columns_show_what_a_page_of_records_reported() -> None:
    plain, costly = qpb.RecordView(latency_ms=5), qpb.RecordView(completion_tokens=3, cost_usd=0.0)
    assert used([plain]) == Used(tokens=False, cost=False)
    assert used([plain, costly]) == Used(tokens=True, cost=True)  # a reported cost of $0 is a cost


def test_history_puts_every_chart_on_the_same_runs() -> None:
    def point(run: str, at: str, value: float | None, passed: int = 0) -> qpb.HistoryPoint:
        p = qpb.HistoryPoint(run_id=run, created_at=at, output_type="boolean", scored=10, passed=passed)
        if value is not None:
            p.value = value
        return p

    history = qpb.GetRunHistoryResponse(
        series=[
            qpb.MetricSeries(
                metric_id="a", name="exact", points=[point("r1", "t1", 50.0, 5), point("r3", "t3", 70.0, 7)]
            ),
            qpb.MetricSeries(
                metric_id="b", name="judged", points=[point("r2", "t2", 60.0, 6), point("r3", "t3", None)]
            ),
        ]
    )
    data = chart_data(history, "p")
    assert [r["id"] for r in data["runs"]] == ["r1", "r2", "r3"]
    assert [c["values"] for c in data["charts"]] == [[50.0, None, 70.0], [None, 60.0, None]]
    assert data["charts"][0]["counts"] == ["5/10 passed", None, "7/10 passed"]
    assert data["charts"][1]["url"] == "/projects/p/metrics/b"


def test_history_charts_the_runs_usage_on_the_same_runs_after_the_metrics() -> None:
    points = [
        qpb.HistoryPoint(run_id=r, created_at=t, output_type="boolean", scored=1, passed=1, value=100.0)
        for r, t in (("r1", "t1"), ("r2", "t2"), ("r3", "t3"))
    ]
    with_latency = qpb.RunUsage(
        run_id="r1", records=4, prompt_tokens=300, completion_tokens=100, cost_usd=0.02, costed_records=2
    )
    with_latency.latency_ms_mean = 250.0
    with_latency.latency_p95_ms = 612.5
    history = qpb.GetRunHistoryResponse(
        series=[qpb.MetricSeries(metric_id="a", name="exact", points=points)],
        usage=[with_latency, qpb.RunUsage(run_id="r3", records=0)],  # r2: not listed; r3: no records
    )
    data = chart_data(history, "p")
    assert [(c["name"], c["format"], c["values"]) for c in data["charts"][1:]] == [
        ("latency", "ms", [250.0, None, None]),
        ("p95 latency", "ms", [612.5, None, None]),
        ("tokens per record", "count", [100.0, None, None]),
        ("cost per record", "usd", [0.01, None, None]),  # over the 2 records with a cost
    ]
    assert data["charts"][1]["counts"] == ["4 records", None, "0 records"]
    assert data["charts"][1]["url"] == "" and data["charts"][1]["output_type"] == "count"
    # Without usage asked for (or none with a value), the metrics' charts alone.
    assert len(chart_data(qpb.GetRunHistoryResponse(series=history.series), "p")["charts"]) == 1


def form(*items: tuple[str, str]) -> FormData:
    return FormData(list(items))


def test_kickoff_form_says_what_is_missing() -> None:
    with pytest.raises(KickoffError, match="Choose a testset"):
        KickoffForm.from_form(form()).check()
    with pytest.raises(KickoffError, match="Choose a system version"):
        KickoffForm.from_form(form(("testset_id", "t"), ("metric_id", "m"))).check()
    with pytest.raises(KickoffError, match="Name the model"):
        KickoffForm.from_form(form(("testset_id", "t"), ("mode", "prompt"), ("metric_id", "m"))).check()
    with pytest.raises(KickoffError, match="trials must be at least 1"):
        KickoffForm.from_form(form(("trials", "0"))).check()
    kept = KickoffForm.from_form(form(("testset_id", "t"), ("notes", "n"), ("max_concurrency", "many")))
    assert (kept.testset_id, kept.notes) == ("t", "n")  # what was typed stays, to fix the number
    with pytest.raises(KickoffError, match="max concurrency must be a whole number"):
        kept.check()


def test_a_prompt_run_on_the_server_is_an_llm_system_config() -> None:
    values = KickoffForm.from_form(
        form(
            ("testset_id", "t"),
            ("mode", "prompt"),
            ("model", "gpt-4o-mini"),
            ("system_prompt", "Answer briefly."),
            ("user_template", "{{ inputs.question }}"),
            ("temperature", "0.2"),
            ("max_tokens", "64"),
            ("metric_group_id", "g"),
        )
    )
    values.check()
    assert struct_to_dict(prompt_system_config(values)) == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "{{ inputs.question }}"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
    }


@pytest.mark.parametrize(
    ("output_type", "raw", "message"),
    [("int", "", "Choose a score."), ("float", "  ", "Choose a score."), ("boolean", "", "Choose pass or fail.")],
)
def test_a_review_without_a_value_says_to_choose_one(output_type: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        review_value(output_type, raw)


def test_a_review_value_is_the_metrics_type() -> None:
    assert review_value("int", "4").number_value == 4.0
    assert review_value("boolean", "fail").bool_value is False


def test_a_run_that_waited_for_reviewers_says_how_long_the_machines_took() -> None:
    def run(*transitions: tuple[str, str]) -> qpb.RunView:
        return qpb.RunView(
            created_at="2026-12-05T10:00:00Z",
            duration_s=7200,
            transitions=[qpb.StatusTransition(status=s, at=at) for s, at in transitions],
        )

    waited = run(
        ("pending", "2026-12-05T10:00:00Z"),
        ("running_execution", "2026-12-05T10:00:00.5Z"),
        ("awaiting_human_scoring", "2026-12-05T10:00:12.25Z"),
        ("completed", "2026-12-05T12:00:00Z"),
    )
    assert until_reviewers(waited) == 12.25 and duration(until_reviewers(waited)) == "12.2 s"
    assert until_reviewers(run(("pending", "2026-12-05T10:00:00Z"), ("completed", "2026-12-05T10:00:03Z"))) is None
    assert until_reviewers(run()) is None  # ListRuns: no transitions


def test_numbers_shown_as_settings_have_only_the_decimals_they_need() -> None:
    assert [number(v, 4, trim=True) for v in (12.5, 0.75, 100.0, 0.0001, 1234.5)] == [
        "12.5",
        "0.75",
        "100",
        "0.0001",
        "1,234.5",
    ]
    assert (number(0.75), number(None)) == ("0.75", "—")


def test_a_runs_part_of_its_testset_reads_back_as_it_was_typed() -> None:
    form = FormData([("only", "category=math, level=2, category=geo"), ("sample", "5"), ("sample_seed", "-3")])
    values = KickoffForm.from_form(form)
    assert values.metadata_filter() == {"category": ["math", "geo"], "level": 2}
    assert (values.sample, values.sample_seed) == (5, -3)
    with pytest.raises(KickoffError, match="write KEY=VALUE, not 'level'"):
        KickoffForm(only="level").metadata_filter()
    with pytest.raises(KickoffError, match="sample seed must be at most 2147483647"):
        KickoffForm.from_form(FormData([("sample_seed", str(2**31))])).check()
    with pytest.raises(KickoffError, match="trials must be at most 2147483647"):
        KickoffForm.from_form(FormData([("trials", "99999999999")])).check()
    subset: dict[str, Any] = {
        "testcases": 5,
        "of": 40,
        "metadata_filter": {"category": ["math", "geo"], "level": 2.0},
        "sample": 5.0,
    }
    view = qpb.RunView(testset_id="t", trials=1)
    view.subset.update(subset)
    again = KickoffForm.from_run(view)
    assert sorted(again.only.split(", ")) == ["category=geo", "category=math", "level=2"]  # a Struct keeps no order
    assert (again.sample, again.sample_seed) == (5, 0)
    label = subset_label(view.subset)
    assert label.startswith("5 of 40 testcases: ") and label.endswith(", a sample of 5 (draw 0)")
    assert "category=math or geo" in label and "level=2" in label
    assert subset_label(qpb.RunView().subset) == ""
    # The run whose testcases it ran again: a link; what a user typed: escaped.
    again_of = qpb.RunView()
    run_id = "f0eb5f1c-0000-4000-8000-000000000001"
    again_of.subset.update({"testcases": 3, "of": 24, "same_as_run": run_id, "metadata_filter": {"<b>": "x&y"}})
    assert subset_label(again_of.subset, "/projects/p/runs") == (
        f'3 of 24 testcases: those of run <a href="/projects/p/runs/{run_id}" class="mono">f0eb5f1c</a>,'
        " &lt;b&gt;=x&amp;y"
    )
    assert subset_label(again_of.subset).startswith("3 of 24 testcases: those of run f0eb5f1c, ")
