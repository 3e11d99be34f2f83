"""Feedback on logged calls, the pure parts: an item checked against the project's metrics (value
by output type, eval types that take feedback, archived, unknown, ambiguous), a call and metric
once per request, ListCalls' filters, the CLI's times and values, the console's filters."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import struct_pb2
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import QueryParams

from scorekeeper_sdk.cli.calls import _value, since
from scorekeeper_sdk.cli.context import CliError
from services.console.history import trend_data
from services.console.pages.calls import CallFilters
from services.query.calls import CallFilters as QueryCallFilters
from services.query.calls import feedback_filter, metadata_pair
from services.run_orchestrator.monitors.feedback import once_each, verdict
from shared.edge.errors import ApiError
from shared.ids import call_id_of


def _metric(name: str, eval_type: str = "human", output_type: str = "boolean", **more: Any) -> dict[str, Any]:
    return {
        "metric_id": uuid.uuid4(),
        "version_id": uuid.uuid4(),
        "name": name,
        "eval_type": eval_type,
        "output_type": output_type,
        "passing_threshold": more.get("threshold"),
        "archived_at": more.get("archived_at"),
    }


METRICS: list[Any] = [  # rows as the catalog reads them
    _metric("thumbs"),
    _metric("rating", output_type="int", threshold=4),
    _metric("closeness", "code", "float", threshold=0.8),
    _metric("polite", "heuristic"),
    _metric("old", archived_at=datetime.now(UTC)),
]


def _item(call_id: str, metric: str, value: Any = None, comment: str = "", author: str = "") -> mpb.Feedback:
    item = mpb.Feedback(call_id=call_id, metric=metric, comment=comment, author=author)
    if value is None:
        item.value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        item.value.bool_value = value
    else:
        item.value.number_value = value
    return item


def test_a_verdict_takes_the_metric_s_type_and_threshold() -> None:
    thumbs = verdict(0, _item("req-1", "thumbs", False, comment="wrong", author=" u-1 "), METRICS)
    assert (thumbs.value, thumbs.passed, thumbs.comment, thumbs.author) == (0.0, False, "wrong", "u-1")
    assert thumbs.call_id == call_id_of("req-1") and thumbs.metric_version_id == METRICS[0]["version_id"]
    by_id = verdict(0, _item("req-1", str(METRICS[1]["metric_id"]).upper(), 4), METRICS)
    assert (by_id.value, by_id.passed) == (4.0, True)  # at the threshold
    assert verdict(0, _item("req-1", "rating", 3), METRICS).passed is False
    assert verdict(0, _item("req-1", "closeness", 0.9), METRICS).passed is True
    taken_back = verdict(0, _item("req-1", "thumbs"), METRICS)
    assert (taken_back.value, taken_back.passed) == (None, False)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            _item("req-1", "thumbs", 1),
            "feedback[3].value must be true or false for a boolean metric, got 1 ('thumbs')",
        ),
        (_item("req-1", "rating", 4.5), "feedback[3].value must be a whole number within 1..5 for an int metric"),
        (_item("req-1", "rating", True), "feedback[3].value must be a number for an int metric, got True"),
        (_item("req-1", "closeness", 1.5), "feedback[3].value must be within 0..1 for a float metric"),
        (_item("req-1", "polite", True), "feedback[3].metric: 'polite' is a heuristic metric, which the platform"),
        (_item("req-1", "old", True), "feedback[3].metric: 'old' is archived; bring it back"),
        (_item("req-1", "kindness", True), "feedback[3].metric: unknown metric 'kindness' in this project"),
        (_item("req-1", " ", True), "feedback[3].metric is required: a metric of eval type human or code"),
        (_item("", "thumbs", True), "feedback[3].call_id must be the id a call was logged with (1..200 characters)"),
        (_item("x" * 201, "thumbs", True), "feedback[3].call_id must be the id a call was logged with"),
        (_item("req-1", "thumbs", True, comment="c" * 10_001), "feedback[3].comment must be at most 10,000"),
        (_item("req-1", "thumbs", True, author="a" * 201), "feedback[3].author must be at most 200 characters"),
        (mpb.Feedback(call_id="req-1", metric="thumbs"), "feedback[3].value is required: true / false, a number"),
        (_item("req-1", "rating", float("inf")), "feedback[3].value must be true / false, a finite number or null"),
        (_item("req-1", "closeness", float("nan")), "feedback[3].value must be true / false, a finite number or null"),
    ],
)
def test_a_bad_item_is_refused_naming_it(item: mpb.Feedback, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        verdict(3, item, METRICS)
    assert str(refused.value).startswith(message)


def test_an_ambiguous_name_asks_for_the_id() -> None:
    twins: list[Any] = [_metric("thumbs"), _metric("thumbs")]
    with pytest.raises(ValueError, match="the metric name 'thumbs' is ambiguous in this project; use its id"):
        verdict(0, _item("req-1", "thumbs", True), twins)


def test_a_call_and_metric_at_most_once_per_request() -> None:
    items = [_item("req-1", "thumbs", True), _item("req-2", "thumbs", True), _item("req-1", "rating", 5)]
    once_each([verdict(i, item, METRICS) for i, item in enumerate(items)])
    again = [*items, _item("req-1", "thumbs", False)]
    with pytest.raises(ValueError, match=r"feedback\[3\] repeats the call and metric of feedback\[0\] \(req-1\)"):
        once_each([verdict(i, item, METRICS) for i, item in enumerate(again)])


def test_list_calls_filters() -> None:
    assert metadata_pair("route=checkout=eu") == ("route", "checkout=eu")
    assert metadata_pair("tier=") == ("tier", "")
    assert (feedback_filter("a=b=failed").metric, feedback_filter("a=b=failed").state) == ("a=b", "failed")
    for bad in ("route", "=x"):
        with pytest.raises(ApiError, match=f"metadata filter {bad!r} must be key=value"):
            metadata_pair(bad)
    for bad in ("thumbs", "thumbs=maybe", "=passed"):
        with pytest.raises(ApiError, match=r"must be metric=passed\|failed\|given\|none"):
            feedback_filter(bad)


def test_the_cli_reads_times_and_values() -> None:
    ago = datetime.fromisoformat(since("24h"))
    assert abs((datetime.now(UTC) - ago) - timedelta(hours=24)) < timedelta(seconds=5)
    assert since("2026-12-01T10:00:00") == "2026-12-01T10:00:00+00:00"  # UTC when no offset
    assert since("") == ""
    with pytest.raises(CliError, match=r"--since takes a time .* or how long ago"):
        since("yesterday")
    assert [_value(v, False) for v in ("up", "FALSE", "pass", "4", "0.25")] == [True, False, True, 4.0, 0.25]
    assert _value(None, True) is None
    with pytest.raises(CliError, match="give a VALUE or --take-back, not both"):
        _value("up", True)
    with pytest.raises(CliError, match="VALUE is required"):
        _value(None, False)
    with pytest.raises(CliError, match="VALUE must be true / false"):
        _value("maybe", False)


def test_the_console_s_filters_make_the_request() -> None:
    filters = CallFilters.of(QueryParams("meta=route%3Dcheckout%2C+tier%3Dpro&metric=m1&state=failed&window=7d"))
    request = filters.request("p1")
    assert list(request.metadata) == ["route=checkout", "tier=pro"] and list(request.feedback) == ["m1=failed"]
    after = datetime.fromisoformat(request.logged_after)
    assert abs((datetime.now(UTC) - after) - timedelta(days=7)) < timedelta(seconds=5)
    assert CallFilters.of(QueryParams("window=")).request("p1").logged_after == ""
    assert CallFilters.of(QueryParams("window=forever&state=maybe")) == CallFilters()  # unknown: the defaults
    assert filters.narrowed and not CallFilters().narrowed
    assert filters.query(state="passed") == "meta=route%3Dcheckout%2C+tier%3Dpro&window=7d&metric=m1&state=passed"
    by_step = CallFilters.of(QueryParams("step=+retrieve%3Afailed+&window=1h"))
    assert list(by_step.request("p1").steps) == ["retrieve:failed"] and by_step.narrowed
    assert by_step.query() == "window=1h&step=retrieve%3Afailed"


def test_the_feedback_trend_charts_share_one_axis_of_days() -> None:
    def point(metric: str, day: str, output_type: str, given: int, passed: int, mean: float) -> qpb.FeedbackSummary:
        return qpb.FeedbackSummary(
            metric_id=metric,
            metric_name=metric,
            output_type=output_type,
            given=given,
            passed=passed,
            pass_rate=passed / given,
            mean=mean,
            bucket_start=f"2026-12-0{day}T00:00:00Z",
        )

    trend = [
        point("thumbs", "1", "boolean", 4, 3, 0.75),
        point("rating", "2", "int", 2, 1, 3.5),
        point("thumbs", "3", "boolean", 2, 0, 0.0),
    ]
    data = trend_data(trend, "day", "p")
    assert [(p["label"], p["head"]) for p in data["points"]] == [
        ("12-01", "2026-12-01"),
        ("12-02", "2026-12-02"),
        ("12-03", "2026-12-03"),
    ]
    charts = {c["name"]: c for c in data["charts"]}
    assert list(charts) == ["rating", "thumbs"]
    assert charts["thumbs"]["values"] == [75.0, None, 0.0] and charts["thumbs"]["unit"] == "%"
    assert charts["rating"]["values"] == [None, 3.5, None] and charts["rating"]["counts"][1] == "1/2 passed"
    assert trend_data(trend[:1], "hour", "p")["points"][0]["head"] == "2026-12-01 00:00 UTC"


def test_traffic_charts_count_every_hour_from_the_first_to_the_last() -> None:
    traffic = [
        qpb.CallTraffic(
            bucket_start="2026-12-01T07:00:00+00:00", calls=10, errored=5, latency_p95_ms=512.3, cost_usd=0.01
        ),
        qpb.CallTraffic(
            bucket_start="2026-12-01T10:00:00+00:00", calls=40, errored=4, latency_p95_ms=388.0, cost_usd=0.04
        ),
    ]
    thumbs = qpb.FeedbackSummary(
        metric_id="t",
        metric_name="thumbs",
        output_type="boolean",
        given=2,
        passed=1,
        pass_rate=0.5,
        bucket_start="2026-12-01T08:00:00Z",
    )
    data = trend_data([thumbs], "hour", "p", traffic)
    assert [p["label"] for p in data["points"]] == ["12-01 07:00", "12-01 08:00", "12-01 09:00", "12-01 10:00"]
    assert data["traffic_charts"] == 4
    charts = {c["name"]: c for c in data["charts"]}
    assert list(charts) == ["calls", "errored", "p95 latency", "cost", "thumbs"]
    assert charts["calls"]["values"] == [10.0, 0.0, 0.0, 40.0]  # no call in those hours
    assert charts["errored"]["values"] == [50.0, None, None, 10.0]
    assert charts["p95 latency"]["values"] == [512.3, None, None, 388.0]
    assert charts["cost"]["values"] == [0.01, 0.0, 0.0, 0.04] and charts["cost"]["format"] == "usd"
    assert charts["thumbs"]["values"] == [None, 50.0, None, None]
    assert charts["calls"]["counts"] == ["10 calls", "no call", "no call", "40 calls"]


def test_a_summary_reads_the_feedback_alone_only_when_nothing_but_time_filters_the_calls() -> None:
    project = uuid.uuid4()
    after = datetime(2026, 12, 1, tzinfo=UTC)
    base = QueryCallFilters(project, "", "", "", [], after, None, [])
    where, (source, logged_at) = base.summed()
    assert (source, logged_at) == ("call_feedback f", "f.call_logged_at")
    assert where.sql() == "f.project_id = $1 AND f.call_logged_at >= $2" and where.args == [project, after]
    for narrowed in (
        replace(base, status="errored"),
        replace(base, metadata=[("route", "orders")]),
        replace(base, feedback=[(uuid.uuid4(), "failed")]),
        replace(base, search="refund"),
        replace(base, trace_id="t-1"),
    ):
        where, (source, logged_at) = narrowed.summed()
        assert source.startswith("logged_calls c JOIN call_feedback f") and logged_at == "c.logged_at"
        assert where.sql().startswith("c.project_id = $1 AND ")
