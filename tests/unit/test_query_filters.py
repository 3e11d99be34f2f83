"""What a read asks for: score conditions, orders, times, searches and enumerations, each bad
value an INVALID_ARGUMENT naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters
from services.query.filters import Condition, Order
from services.query.history import point_value
from services.query.records.clauses import _step_path
from shared import record_fields
from shared.edge.errors import ApiError, Code
from shared.edge.search import search
from shared.spans import StepCondition

MALFORMED = (
    "score condition {!r} is malformed; write <metric>:passed, <metric>:failed, <metric>:errored,"
    " <metric>:unstable, or <metric>:lt|gt|eq:<number>"
)


def invalid(call: object, *args: object) -> str:
    with pytest.raises(ApiError) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.code is Code.INVALID_ARGUMENT
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("exact:passed", Condition("exact", "passed")),
        ("exact:FAILED", Condition("exact", "failed")),
        ("exact answer:errored", Condition("exact answer", "errored")),
        ("exact:Unstable", Condition("exact", "unstable")),
        ("relevance:lt:0.5", Condition("relevance", "lt", 0.5)),
        ("helpfulness:gt:3", Condition("helpfulness", "gt", 3.0)),
        ("x:eq:-1e-3", Condition("x", "eq", -0.001)),
        (" spaced : eq : 1 ", Condition("spaced", "eq", 1.0)),
        ("a:b:passed", Condition("a:b", "passed")),  # a metric name with a colon
        ("a:b:lt:2", Condition("a:b", "lt", 2.0)),
        ("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827:passed", Condition("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827", "passed")),
    ],
)
def test_compact_condition(text: str, parsed: Condition) -> None:
    assert filters.condition(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exact", MALFORMED.format("exact")),
        ("exact:", MALFORMED.format("exact:")),
        ("exact:between:1", MALFORMED.format("exact:between:1")),
        ("exact:lt", MALFORMED.format("exact:lt")),
        ("exact:passed:1", MALFORMED.format("exact:passed:1")),
        ("", MALFORMED.format("")),
        (":passed", "score condition ':passed' names no metric"),
        ("x:lt:high", "score condition 'x:lt:high': 'high' is not a number"),
        ("x:gt:nan", "score condition 'x:gt:nan': the value must be a finite number"),
        ("x:eq:inf", "score condition 'x:eq:inf': the value must be a finite number"),
    ],
)
def test_malformed_compact_condition(text: str, message: str) -> None:
    assert invalid(filters.condition, text) == message


def test_structured_conditions_come_before_compact_ones() -> None:
    structured = [
        pb.ScoreCondition(metric="exact", op=pb.ScoreCondition.FAILED, value=9),
        pb.ScoreCondition(metric=" overlap ", op=pb.ScoreCondition.GT, value=0.5),
    ]
    assert filters.conditions(structured, ["cheap:errored"]) == [
        Condition("exact", "failed"),  # a value means nothing to a state op
        Condition("overlap", "gt", 0.5),
        Condition("cheap", "errored"),
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            pb.ScoreCondition(metric="exact"),
            "score condition {metric: 'exact', op: OP_UNSPECIFIED} needs an op: PASSED, FAILED, ERRORED, UNSTABLE,"
            " LT, GT or EQ",
        ),
        (pb.ScoreCondition(op=pb.ScoreCondition.PASSED), "score condition {metric: '', op: PASSED} names no metric"),
        (
            pb.ScoreCondition(metric="x", op=pb.ScoreCondition.LT, value=float("inf")),
            "score condition {metric: 'x', op: LT} needs a finite value, got inf",
        ),
    ],
)
def test_bad_structured_condition(message: pb.ScoreCondition, error: str) -> None:
    assert invalid(filters.condition_from_pb, message) == error


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", Order("created_at", True)),
        ("  ", Order("created_at", True)),
        ("created_at", Order("created_at", False)),
        ("created_at desc", Order("created_at", True)),
        ("latency_ms DESC", Order("latency_ms", True)),
        ("latency_ms asc", Order("latency_ms", False)),
        ("tokens desc", Order("tokens", True)),
        ("cost_usd", Order("cost_usd", False)),
        ("score.exact answer desc", Order("score", True, "exact answer")),
        ("score.relevance", Order("score", False, "relevance")),
    ],
)
def test_order(text: str, order: Order) -> None:
    assert filters.order(text) == order


@pytest.mark.parametrize("text", ["size", "score.", "score. desc", "created", "desc"])
def test_unsupported_order(text: str) -> None:
    assert invalid(filters.order, text) == (
        f"order_by {text!r} is not supported; use created_at, latency_ms, tokens, cost_usd or score.<metric>,"
        " then asc or desc"
    )


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", Order("testcase", False)),
        ("   ", Order("testcase", False)),
        ("testcase", Order("testcase", False)),
        ("delta", Order("delta", False)),
        ("delta DESC", Order("delta", True)),
        ("delta.exact answer", Order("delta", False, "exact answer")),
        ("delta.overlap desc", Order("delta", True, "overlap")),
        ("latency_delta desc", Order("latency_delta", True)),
    ],
)
def test_comparison_order(text: str, order: Order) -> None:
    assert filters.comparison_order(text) == order


@pytest.mark.parametrize("text", ["latency", "delta.", "delta. desc", "score.exact", "desc", "x" * 500])
def test_unsupported_comparison_order(text: str) -> None:
    assert invalid(filters.comparison_order, text) == (
        f"order_by {text[:100]!r} is not supported; use testcase, delta, delta.<metric> or latency_delta,"
        " then asc or desc"
    )
    assert invalid(filters.comparison_order, "testcase desc") == (
        "order_by 'testcase desc' is not supported: testcases are listed by id, ascending"
    )


def test_order_signatures_differ_by_key_metric_and_direction() -> None:
    orders = ["", "created_at", "latency_ms", "latency_ms desc", "tokens", "cost_usd", "score.a", "score.b"]
    assert len({filters.order(o).signature for o in orders}) == len(orders)


def test_only_orders_some_records_have_no_key_for_put_those_last() -> None:
    nullable = {o for o in ("created_at", "latency_ms", "tokens", "cost_usd", "score.a") if filters.order(o).nullable}
    assert nullable == {"cost_usd", "score.a"}


def test_usage_conditions() -> None:
    assert filters.usage_filters(["latency_ms:gt:2000", " tokens : LT : 1e3 ", "cost_usd:gt:0.01"]) == [
        filters.UsageFilter("latency_ms", "gt", 2000.0),
        filters.UsageFilter("tokens", "lt", 1000.0),
        filters.UsageFilter("cost_usd", "gt", 0.01),
    ]
    assert filters.usage_filters([]) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("latency:gt:5", "usage condition 'latency:gt:5' is malformed; write <measure>:gt:<number> or"),
        ("latency_ms:eq:5", "usage condition 'latency_ms:eq:5' is malformed; write <measure>:gt:<number> or"),
        ("latency_ms:gt", "usage condition 'latency_ms:gt' is malformed; write <measure>:gt:<number> or"),
        ("tokens:gt:many", "usage condition 'tokens:gt:many': 'many' is not a number"),
        ("cost_usd:lt:nan", "usage condition 'cost_usd:lt:nan': the value must be a finite number"),
        ("cost_usd:lt:inf", "usage condition 'cost_usd:lt:inf': the value must be a finite number"),
    ],
)
def test_bad_usage_conditions(text: str, message: str) -> None:
    assert invalid(filters.usage_filters, [text]).startswith(message)


def test_a_malformed_usage_condition_names_the_measures() -> None:
    assert invalid(filters.usage_filters, ["x"]).endswith("the measure one of latency_ms, tokens, cost_usd")
    assert invalid(filters.usage_filters, ["tokens:gt:1"] * 11) == "usage may hold at most 10 conditions, got 11"


def test_step_conditions_as_json_paths() -> None:
    paths = [_step_path(f) for f in filters.step_filters(["a", "a:failed", "a:gt:5", "*", "*:failed", "*:lt:5"])]
    assert paths == [
        "$[*] ? (@.name == $n)",
        '$[*] ? (@.name == $n && @.error != "")',
        "$[*] ? (@.name == $n && @.duration_ms > $v)",
        "$[*]",
        '$[*] ? (@.error != "")',
        "$[*] ? (@.duration_ms < $v)",
    ]


def test_step_conditions() -> None:
    assert filters.step_filters(["retrieve", " retrieve:FAILED", "llm: call:gt:500", "*:lt:2.5", "a:b"]) == [
        StepCondition("retrieve", "took"),
        StepCondition("retrieve", "failed"),
        StepCondition("llm: call", "gt", 500.0),
        StepCondition("*", "lt", 2.5),
        StepCondition("a:b", "took"),  # a name may hold colons
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":failed", "steps condition ':failed' names no step; write <name>, <name>:failed, <name>:gt:<ms> or"),
        ("  ", "steps condition '  ' names no step; write"),
        ("retrieve:gt:slow", "steps condition 'retrieve:gt:slow': 'slow' is not a number"),
        ("retrieve:lt:inf", "steps condition 'retrieve:lt:inf': the value must be a finite number"),
        ("x" * 201, f"steps condition {'x' * 100!r}: a step's name is at most 200 characters"),
    ],
)
def test_bad_step_conditions(text: str, message: str) -> None:
    assert invalid(filters.step_filters, [text]).startswith(message)
    assert invalid(filters.step_filters, ["a"] * 11) == "steps may hold at most 10 conditions, got 11"


def test_time_range() -> None:
    start, end = filters.time_range("2025-01-31T12:00:00Z", "2025-02-01T00:00:00+01:00")
    assert start == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert end == datetime(2025, 2, 1, tzinfo=timezone(timedelta(hours=1)))
    assert filters.time_range("", "") == (None, None)
    assert invalid(filters.time_range, "2025-01-31T12:00:00Z", "2025-01-31T12:00:00Z") == (
        "created_after (2025-01-31T12:00:00Z) must be before created_before (2025-01-31T12:00:00Z)"
    )
    assert invalid(filters.time_range, "", "31/01/2025") == (
        "created_before '31/01/2025' is not an RFC 3339 time such as 2025-01-31T12:00:00Z"
    )
    assert invalid(filters.time_range, "2025-01-31T12:00:00", "") == (
        "created_after '2025-01-31T12:00:00' has no UTC offset; add Z or +hh:mm"
    )


def test_search() -> None:
    assert search("") is None
    assert search("   ") is None
    assert search('"capital of" -France') == '"capital of" -France'
    assert search("東京") == "東京"
    assert invalid(search, "!?") == "search '!?' holds no word to look for"
    assert invalid(search, "x" * 501) == "search is longer than 500 characters"


def test_enumerations_and_ids() -> None:
    assert filters.sources(["ci", "api", "ci"]) == ["ci", "api"]
    assert (
        invalid(filters.sources, ["web"])
        == "sources must be any of api, kickoff, playground, monitor, ci, schedule; got 'web'"
    )
    assert filters.run_statuses(["awaiting_human_scoring", "cancelled"]) == ["awaiting_human_scoring", "cancelled"]
    assert invalid(filters.record_statuses, ["done"]) == (
        "statuses must be any of pending, completed, errored; got 'done'"
    )
    assert filters.optional_uuid("", "run_id") is None
    assert invalid(filters.optional_uuid, "42", "run_id") == "run_id '42' is not a valid id"
    assert invalid(filters.uuids, [""], "run_ids") == "run_ids must not contain an empty id"
    assert filters.page_size(0) == 100
    assert filters.page_size(1000) == 1000
    assert invalid(filters.page_size, -1) == "page_size must be within 1..1000, got -1"


@pytest.mark.parametrize(
    ("output_type", "scored", "passed", "total", "value"),
    [
        ("boolean", 6, 5, 5.0, 500 / 6),
        ("boolean", 4, 0, 0.0, 0.0),
        ("int", 3, 2, 11.0, 11 / 3),
        ("float", 4, 1, 1.5, 0.375),
        ("float", 0, 0, 0.0, None),
        ("boolean", 0, 0, 0.0, None),
    ],
)
def test_history_point_value(output_type: str, scored: int, passed: int, total: float, value: float | None) -> None:
    assert point_value(output_type, scored, passed, total) == (pytest.approx(value) if value is not None else None)


@pytest.mark.parametrize(
    ("text", "root", "path"),
    [
        ("metadata.topic", "metadata", ("topic",)),
        ("inputs.user.tier", "inputs", ("user", "tier")),
        ('metadata."gen_ai.request.model"', "metadata", ("gen_ai.request.model",)),
        ('metadata."a.b".c', "metadata", ("a.b", "c")),
        ('expected."say ""hi"""', "expected", ('say "hi"',)),
        ('metadata."k=v"', "metadata", ("k=v",)),
        ("metadata.with space", "metadata", ("with space",)),
    ],
)
def test_field_paths_and_their_text(text: str, root: str, path: tuple[str, ...]) -> None:
    assert record_fields.field_path(text) == (root, path)
    # The text `fields` lists is the one that names the field again.
    assert record_fields.field_text(root, path) == text


def test_bad_field_paths() -> None:
    shape = "field must be metadata.<key>, inputs.<key> or expected.<key>, got "
    assert invalid(record_fields.field_path, "outputs.response") == shape + "'outputs.response'"
    assert invalid(record_fields.field_path, "metadata.") == shape + "'metadata.'"
    assert invalid(record_fields.field_path, "metadata.a..b") == shape + "'metadata.a..b'"
    assert invalid(record_fields.field_path, 'metadata.""') == shape + "'metadata.\"\"'"
    assert (
        invalid(record_fields.field_path, 'metadata."a.b') == shape + "'metadata.\"a.b': a double quote is not closed"
    )
    assert invalid(record_fields.field_path, 'metadata.a"b"c') == shape + "'metadata.a\"b\"c'"
    assert invalid(record_fields.field_path, "metadata." + "k" * 200) == "field must be at most 200 characters, got 209"


def test_field_filters_split_at_the_first_equals_outside_quotes() -> None:
    found = filters.field_filters(["metadata.topic=math", 'metadata."k=v"=a=b', 'inputs."x.y"="quoted"'])
    assert [(f.root, f.path, f.value) for f in found] == [
        ("metadata", ("topic",), "math"),
        ("metadata", ("k=v",), "a=b"),
        ("inputs", ("x.y",), '"quoted"'),
    ]
    assert invalid(filters.field_filters, ['metadata."k=v"']) == (
        "fields filter 'metadata.\"k=v\"' must be field=value, as metadata.topic=math"
    )
    assert invalid(filters.field_filters, ['metadata."k=v']) == (
        "fields filter 'metadata.\"k=v' must be field=value, as metadata.topic=math: a double quote is not closed"
    )
    assert filters.field_filters(['metadata.size=5" screen'])[0].value == '5" screen'  # a quote in the value
    assert invalid(filters.field_filters, ["metadata.a=1"] * 11) == "fields may hold at most 10 filters, got 11"
