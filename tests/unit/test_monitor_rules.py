"""Monitors' pure rules: sampling by the call id, metadata filters, definitions, windows, alerts."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.run_orchestrator.monitors import rules, slices
from services.run_orchestrator.monitors.rules import MonitorDefinition, WindowShape
from services.run_orchestrator.runs.results import MetricResult, Threshold, below_thresholds, measured


def independent_sample(call_id: uuid.UUID, rate: float) -> bool:
    """The documented rule, written out again: SHA-256 of the id's bytes, first 8 big-endian."""
    digest = hashlib.sha256(call_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000 < round(rate * 10_000)


def test_sampling_follows_the_documented_rule_and_its_rate() -> None:
    ids = [uuid.UUID(int=(i * 0x9E3779B97F4A7C15 + 12345) % 2**128) for i in range(50_000)]
    for rate in (0.5, 10, 37.5, 100):
        taken = [i for i in ids if rules.sampled(i, rate)]
        assert taken == [i for i in ids if independent_sample(i, rate)]
        assert abs(len(taken) / len(ids) - rate / 100) < 0.01
    assert all(rules.sampled(i, 100) for i in ids[:1000])


def test_lower_rates_sample_a_subset_of_higher_ones() -> None:
    ids = [uuid.uuid4() for _ in range(5000)]
    at_5 = {i for i in ids if rules.sampled(i, 5)}
    at_20 = {i for i in ids if rules.sampled(i, 20)}
    assert at_5 <= at_20


@pytest.mark.parametrize(
    ("metadata", "wanted", "matches"),
    [
        ({"route": "a", "x": 1}, {}, True),
        ({"route": "a", "x": 1}, {"route": "a"}, True),
        ({"route": "a"}, {"route": "b"}, False),
        ({}, {"route": "a"}, False),
        ({"n": 1}, {"n": 1.0}, True),
        ({"n": 1}, {"n": True}, False),
        ({"flag": True}, {"flag": 1}, False),
        ({"tags": ["a", "b"]}, {"tags": ["a"]}, False),
        ({"tags": ["a", "b"]}, {"tags": ["a", "b"]}, True),
        ({"o": {"k": 1, "j": 2}}, {"o": {"k": 1}}, False),
        ({"v": None}, {"v": None}, True),
        ({"v": "1"}, {"v": 1}, False),
    ],
)
def test_metadata_filters_match_exact_json_values(
    metadata: dict[str, object], wanted: dict[str, object], matches: bool
) -> None:
    assert rules.matches(metadata, wanted) is matches


def _definition(**changes: object) -> MonitorDefinition:
    base: dict[str, object] = {
        "name": " prod ",
        "sample_rate": 10.0,
        "metadata_filter": {},
        "window_minutes": 5,
        "window_calls": 0,
        "alert_url": "",
        "thresholds": (),
    }
    return MonitorDefinition(**{**base, **changes})  # type: ignore[arg-type]


def test_a_good_definition_is_kept_with_its_name_stripped() -> None:
    assert rules.validate_monitor(_definition()).name == "prod"
    metric = uuid.uuid4()
    alerting = _definition(alert_url="https://hooks.example.com/x", thresholds=(Threshold(metric, 0.8),))
    assert rules.validate_monitor(alerting).thresholds == (Threshold(metric, 0.8),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "  "}, "name must not be empty"),
        ({"sample_rate": 0.0}, "sample_rate must be a percentage more than 0 and at most 100, got 0"),
        ({"sample_rate": 100.5}, "got 100.5"),
        ({"sample_rate": -3.0}, "got -3"),
        ({"sample_rate": float("nan")}, "got nan"),
        ({"sample_rate": 0.00001}, "below the resolution of 0.0001%"),
        ({"window_minutes": 0}, "give exactly one of window_minutes and window_calls"),
        ({"window_calls": 10}, "give exactly one of window_minutes and window_calls"),
        ({"window_minutes": 20_000}, "window_minutes must be within 1..10,080, got 20000"),
        ({"window_minutes": 0, "window_calls": 100_001}, "window_calls must be within 1..100,000"),
        ({"metadata_filter": {str(i): i for i in range(21)}}, "at most 20 keys"),
        ({"alert_url": "ftp://x.example"}, "must be an http or https URL"),
        ({"alert_url": "https://u:p@x.example/"}, "must not carry credentials"),
        (
            {"alert_url": "https://x.example/"},
            "alert.webhook_url needs at least one alert.thresholds or alert.feedback_thresholds entry,"
            " alert.max_error_rate or alert.max_latency_ms",
        ),
        (
            {"feedback_thresholds": (Threshold(uuid.UUID(int=1), 0.5),)},
            "alert.feedback_thresholds need an alert.webhook_url",
        ),
        (
            {
                "alert_url": "https://x.example/",
                "feedback_thresholds": (Threshold(uuid.UUID(int=2), 0.5), Threshold(uuid.UUID(int=2), 0.6)),
            },
            "alert.feedback_thresholds[1] repeats metric",
        ),
        (
            {"alert_url": "https://x.example/", "thresholds": (Threshold(uuid.UUID(int=1), 0.5),), "min_feedback": 0},
            "alert.min_feedback must be within 1..10,000 (0: 10), got 0",
        ),
        ({"thresholds": (Threshold(uuid.UUID(int=1), 0.5),)}, "alert.thresholds need an alert.webhook_url"),
        (
            {
                "alert_url": "https://x.example/",
                "thresholds": (Threshold(uuid.UUID(int=1), 0.5), Threshold(uuid.UUID(int=1), 0.6)),
            },
            "alert.thresholds[1] repeats metric",
        ),
        ({"alert_format": "teams"}, "alert.format must be one of json, slack, got 'teams'"),
    ],
)
def test_bad_definitions_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=None) as refused:
        rules.validate_monitor(_definition(**changes))
    assert message in str(refused.value)


T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=2)


def test_a_window_of_calls_is_due_when_full() -> None:
    shape = WindowShape(0, 50, 50_000)
    assert not rules.due(shape, T0, T0 + timedelta(hours=5), 49, GRACE)
    assert rules.due(shape, T0, T0, 50, GRACE)
    assert rules.next_start(shape, T0, T0 + timedelta(seconds=7), full=True) == T0 + timedelta(seconds=7)


def test_a_window_of_minutes_is_due_after_its_end_and_grace_or_when_full() -> None:
    shape = WindowShape(5, 0, 1000)
    end = T0 + timedelta(minutes=5)
    assert not rules.due(shape, T0, end, 10, GRACE)
    assert not rules.due(shape, T0, end + GRACE - timedelta(microseconds=1), 10, GRACE)
    assert rules.due(shape, T0, end + GRACE, 0, GRACE)
    assert rules.due(shape, T0, T0 + timedelta(minutes=1), 1000, GRACE)
    # On time: the next window starts at this one's end.
    assert rules.next_start(shape, T0, end + GRACE, full=False) == end
    # Closed early because it was full: the next starts now.
    now = T0 + timedelta(minutes=1)
    assert rules.next_start(shape, T0, now, full=True) == now


def test_after_an_idle_stretch_a_window_of_minutes_starts_in_the_current_period() -> None:
    shape = WindowShape(5, 0, 1000)
    now = T0 + timedelta(minutes=23, seconds=30)
    start = rules.next_start(shape, T0, now, full=False)
    assert start == T0 + timedelta(minutes=20)
    assert start <= now < start + timedelta(minutes=5)


def test_alerts_fire_strictly_below_a_threshold() -> None:
    exact, mean, empty = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    results = [
        MetricResult(exact, "exact", "boolean", scored=10, passed=7, total=7.0),
        MetricResult(mean, "quality", "int", scored=4, passed=2, total=14.0),
        MetricResult(empty, "all errored", "float", scored=0, passed=0, total=0.0),
    ]
    thresholds = [Threshold(exact, 0.8), Threshold(mean, 3.5), Threshold(empty, 0.9), Threshold(uuid.uuid4(), 1.0)]
    below = below_thresholds(results, thresholds, 0)  # no calls: nothing to score is not below
    assert below == [
        {"metric_id": str(exact), "name": "exact", "measure": "pass_rate", "value": 0.7, "below": 0.8, "scored": 10}
    ]
    assert below_thresholds(results, [Threshold(exact, 0.7)], 10) == []
    quality = {"metric_id": str(mean), "name": "quality", "measure": "mean", "value": 3.5, "below": 3.75, "scored": 4}
    assert rules.alert_text("checkout", 12, 1200, [*below, quality], "http://c/runs/r") == (
        "Monitor 'checkout' window 12 (1,200 calls): exact 70.0% passed, below 80.0%"
        " · quality mean 3.5, below 3.75 — http://c/runs/r"
    )


def test_users_feedback_is_judged_with_enough_verdicts_and_said_as_theirs() -> None:
    thumbs, rating, quiet = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    given = [
        MetricResult(thumbs, "thumbs", "boolean", scored=10, passed=6, total=6.0),
        MetricResult(rating, "rating", "int", scored=9, passed=2, total=18.0),
        MetricResult(quiet, "quiet", "boolean", scored=0, passed=0, total=0.0),
    ]
    limits = (Threshold(thumbs, 0.8), Threshold(rating, 3.0), Threshold(quiet, 0.5))
    # 10 verdicts needed: the rating's 9 and the quiet metric's none are not judged.
    judged = rules.feedback_measured(given, limits, 10)
    assert judged == [
        {
            "metric_id": str(thumbs),
            "name": "thumbs",
            "measure": "pass_rate",
            "value": 0.6,
            "below": 0.8,
            "scored": 10,
            "source": "feedback",
            "given": 10,
        }
    ]
    assert [m["name"] for m in rules.feedback_measured(given, limits, 9)] == ["thumbs", "rating"]
    assert rules.alert_text("checkout", 4, 50, judged, "u") == (
        "Monitor 'checkout' window 4 (50 calls): thumbs (users' feedback, 10 given) 60.0% passed, below 80.0% — u"
    )


def test_a_metric_that_scored_none_of_a_windows_calls_is_below_and_says_why() -> None:
    polite, quality = uuid.uuid4(), uuid.uuid4()
    results = [
        MetricResult(polite, "polite", "boolean", scored=0, passed=0, total=0.0),
        MetricResult(quality, "quality", "int", scored=4, passed=4, total=18.0),
    ]
    below = below_thresholds(results, [Threshold(polite, 0.8), Threshold(quality, 3.5)], 10)
    assert below == [
        {"metric_id": str(polite), "name": "polite", "measure": "pass_rate", "value": None, "below": 0.8, "scored": 0}
    ]
    assert rules.alert_state(below, False, None) == "below"
    assert rules.alert_text("checkout", 3, 10, below, "http://c/runs/r", None, errored=10) == (
        "Monitor 'checkout' window 3 (10 calls): polite: no call scored (10 of 10 calls errored) — http://c/runs/r"
    )
    # its scores errored (a judge down), not its calls; and with max_error_rate firing, said once
    assert rules.alert_text("c", 3, 10, below, "u") == "Monitor 'c' window 3 (10 calls): polite: no call scored — u"
    errors = rules.error_share(10, 10, 0.5)
    assert rules.alert_text("c", 3, 10, below, "u", errors, errored=10) == (
        "Monitor 'c' window 3 (10 calls): polite: no call scored · 10 of 10 calls errored (100.0%, above 50.0%) — u"
    )


def test_a_recovery_is_told_once_after_a_window_below_and_only_when_asked() -> None:
    below = [{"metric_id": "m", "name": "exact", "measure": "pass_rate", "value": 0.5, "below": 0.8, "scored": 10}]
    # (below?, tells of recoveries, the window decided before) -> state
    cases = {
        (True, True, "recovered"): "below",
        (True, False, None): "below",
        (False, True, "below"): "recovered",
        (False, True, "recovered"): "ok",
        (False, True, "ok"): "ok",
        (False, True, None): "ok",
        (False, False, "below"): "ok",
    }
    for (is_below, recovery, previous), state in cases.items():
        assert rules.alert_state(below if is_below else [], recovery, previous) == state, (is_below, recovery, previous)
    exact, quality = uuid.uuid4(), uuid.uuid4()
    results = [
        MetricResult(exact, "exact", "boolean", scored=10, passed=9, total=9.0),
        MetricResult(quality, "quality", "int", scored=4, passed=4, total=16.0),
    ]
    every = measured(results, [Threshold(exact, 0.8), Threshold(quality, 3.5)])
    assert [(m["name"], m["value"], m["below"]) for m in every] == [("exact", 0.9, 0.8), ("quality", 4.0, 3.5)]
    assert rules.recovered_text("checkout", 13, 100, every, "http://c/runs/r") == (
        "Monitor 'checkout' window 13 (100 calls) recovered: exact 90.0% passed, at or above 80.0%"
        " · quality mean 4, at or above 3.5 — http://c/runs/r"
    )


def test_muted_alerts_tell_nothing_and_muting_is_checked() -> None:
    below = [{"metric_id": "m", "name": "exact", "measure": "pass_rate", "value": 0.5, "below": 0.8, "scored": 10}]
    assert rules.alert_state(below, False, None, muted=True) == "muted"
    assert rules.alert_state([], True, "below", muted=True) == "muted"  # the recovery waits until unmuted
    assert rules.alert_state([], True, "ok", muted=True) == "ok"
    assert rules.check_mute(0, "") == 0 and rules.check_mute(10_080, "http://h/x") == 10_080
    with pytest.raises(ValueError, match=r"mute_alert_minutes must be within 1..10,080 \(0 unmutes\), got -1"):
        rules.check_mute(-1, "http://h/x")
    with pytest.raises(ValueError, match="the monitor has no alert to mute"):
        rules.check_mute(60, "")


def test_a_window_whose_calls_are_too_slow_fires_and_says_so() -> None:
    assert rules.latency_share(900.0, None) is None and rules.latency_share(None, 500.0) is None
    slow = rules.latency_share(954.5, 500.0)
    assert slow == {"p95_ms": 954.5, "above": 500.0} and rules.too_slow(slow)
    assert rules.alert_state([], False, None, latency=slow) == "below"
    # Equal is not above; a window with no latency logged is not judged.
    assert rules.alert_state([], True, "below", latency=rules.latency_share(500.0, 500.0)) == "recovered"
    assert rules.alert_state([], True, "ok", latency=rules.latency_share(None, 500.0)) == "ok"
    assert rules.alert_text("checkout", 3, 10, [], "u", latency=slow) == (
        "Monitor 'checkout' window 3 (10 calls): p95 latency 954 ms, above 500 ms — u"
    )
    assert rules.recovered_text("checkout", 4, 10, [], "u", latency=rules.latency_share(1200.0, 1500.0)) == (
        "Monitor 'checkout' window 4 (10 calls) recovered: p95 latency 1,200 ms, at most 1,500 ms — u"
    )
    base = MonitorDefinition("m", 10, {}, 5, 0, "http://h/x", (), alert_max_latency_ms=250.0)
    assert rules.validate_monitor(base).alert_max_latency_ms == 250.0  # no other threshold needed
    for ms, message in [
        (0.0, "alert.max_latency_ms must be a number of milliseconds above 0 and at most 86,400,000, got 0"),
        (float("inf"), "got inf"),
        (86_400_001.0, "got 8.64e+07"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            rules.validate_monitor(replace(base, alert_max_latency_ms=ms))
    with pytest.raises(ValueError, match=r"alert\.max_latency_ms needs an alert\.webhook_url"):
        rules.validate_monitor(replace(base, alert_url=""))


def test_a_window_with_too_many_errored_calls_fires_and_says_so() -> None:
    assert rules.error_share(3, 10, None) is None
    errors = rules.error_share(3, 10, 0.2)
    assert errors == {"errored": 3, "calls": 10, "rate": 0.3, "above": 0.2}
    assert rules.alert_state([], False, None, errors=errors) == "below"
    assert rules.alert_state([], True, "below", errors=rules.error_share(2, 10, 0.2)) == "recovered"  # 20%: not above
    assert rules.alert_state([], False, None, errors=rules.error_share(0, 0, 0.0)) == "ok"  # no calls: no rate
    assert rules.alert_text("checkout", 3, 10, [], "http://c/runs/r", errors) == (
        "Monitor 'checkout' window 3 (10 calls): 3 of 10 calls errored (30.0%, above 20.0%) — http://c/runs/r"
    )
    assert rules.recovered_text("checkout", 4, 10, [], "http://c/runs/r", rules.error_share(1, 10, 0.2)) == (
        "Monitor 'checkout' window 4 (10 calls) recovered: 1 of 10 calls errored (10.0%, at most 20.0%) — http://c/runs/r"
    )
    base = MonitorDefinition("m", 10, {}, 5, 0, "http://h/x", (), alert_max_error_rate=0.05)
    assert rules.validate_monitor(base).alert_max_error_rate == 0.05  # no metric threshold needed
    for rate, message in [
        (1.0, "alert.max_error_rate must be a share of the calls, 0 to below 1, got 1"),
        (-0.1, "got -0.1"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            rules.validate_monitor(replace(base, alert_max_error_rate=rate))
    with pytest.raises(ValueError, match=r"alert\.max_error_rate needs an alert\.webhook_url"):
        rules.validate_monitor(replace(base, alert_url=""))
    with pytest.raises(
        ValueError,
        match=r"needs at least one alert\.thresholds or alert\.feedback_thresholds entry, alert\.max_error_rate",
    ):
        rules.validate_monitor(replace(base, alert_max_error_rate=None))


def test_a_monitor_scores_with_metrics_that_need_no_expected_values() -> None:
    rules.scorable_without_expected([])
    with pytest.raises(ValueError) as one:
        rules.scorable_without_expected(["exact"])
    assert str(one.value).startswith("metric 'exact' compares the output with expected values")
    with pytest.raises(ValueError) as two:
        rules.scorable_without_expected(["exact", "judged correct"])
    assert str(two.value).startswith("metrics 'exact', 'judged correct' compare the output with expected values")


def test_slice_fields_are_kept_as_the_api_names_them() -> None:
    polite = Threshold(uuid.uuid4(), 0.8)
    alerting = _definition(alert_url="https://hooks.example.com/x", thresholds=(polite,))
    kept = rules.validate_monitor(
        replace(alerting, slice_fields=(" metadata.lang ", "metadata.user.tier", 'metadata."gen_ai.model"'))
    )
    assert kept.slice_fields == ("metadata.lang", "metadata.user.tier", 'metadata."gen_ai.model"')
    assert kept.min_slice_calls == 20
    refused = {
        ("metadata.a", "metadata.b", "metadata.c", "metadata.d"): "alert.slice_fields may hold at most 3 fields, got 4",
        ("outputs.response",): "alert.slice_fields[0]: field must be metadata.<key>, inputs.<key> or expected.<key>,"
        " got 'outputs.response'",
        ("metadata.lang", 'metadata."lang"'): "alert.slice_fields[1] repeats metadata.lang",
        ('metadata."a.b',): "alert.slice_fields[0]: field must be metadata.<key>, inputs.<key> or expected.<key>,"
        " got 'metadata.\"a.b': a double quote is not closed",
    }
    for fields, message in refused.items():
        with pytest.raises(ValueError) as caught:
            rules.validate_monitor(replace(alerting, slice_fields=fields))
        assert str(caught.value) == message
    with pytest.raises(ValueError, match=r"^alert.min_slice_calls must be within 1..10,000 \(0: 20\), got 10,001$"):
        rules.validate_monitor(replace(alerting, slice_fields=("metadata.lang",), min_slice_calls=10_001))
    # Slices judge whatever the alert judges: metric and feedback thresholds, the share of errored
    # calls, the p95 latency. Without an alert there is nothing to judge.
    with pytest.raises(ValueError) as caught:
        rules.validate_monitor(replace(_definition(), slice_fields=("metadata.lang",)))
    assert str(caught.value) == (
        "alert.slice_fields judge the alert.thresholds, alert.feedback_thresholds, alert.max_error_rate"
        " and alert.max_latency_ms within each slice: give one"
    )
    for alone in (
        {"alert_max_error_rate": 0.1},
        {"alert_max_latency_ms": 500.0},
        {"feedback_thresholds": (Threshold(uuid.uuid4(), 0.5),)},
    ):
        one = _definition(alert_url="https://hooks.example.com/x", **alone)
        assert rules.validate_monitor(replace(one, slice_fields=("metadata.lang",))).slice_fields == ("metadata.lang",)


def _slice(field: str, value: str, metric: uuid.UUID, name: str, scored: int, passed: int) -> slices.SliceResult:
    return slices.SliceResult(field, value, MetricResult(metric, name, "boolean", scored, passed, float(passed)))


def test_slices_below_their_threshold_are_listed_worst_first() -> None:
    polite, on_topic, tone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    found = [
        _slice("metadata.lang", "en", polite, "polite", 40, 38),  # 95%: above
        _slice("metadata.lang", "fr", polite, "polite", 10, 5),  # 50%: below
        _slice("metadata.lang", "de", polite, "polite", 4, 0),  # 0%, but 4 scored: not judged
        _slice("metadata.lang", "fr", on_topic, "on topic", 10, 3),  # 30% against 0.5
        _slice("metadata.tier", "free", polite, "polite", 25, 20),  # 80%: at the threshold, not below
        _slice("metadata.lang", "it", tone, "tone", 30, 0),  # no threshold of its metric
        slices.SliceResult("metadata.lang", "es", MetricResult(on_topic, "on topic", "float", 8, 0, 2.0)),  # 0.25
    ]
    low = slices.below(found, (Threshold(polite, 0.8), Threshold(on_topic, 0.5)), min_calls=5)
    assert [(m["field_value"], m["name"], m["value"], m["scored"], m["measure"]) for m in low] == [
        ("fr", "polite", 0.5, 10, "pass_rate"),  # 0.3 below its threshold: the furthest
        ("es", "on topic", 0.25, 8, "mean"),
        ("fr", "on topic", 0.3, 10, "pass_rate"),
    ]
    assert low[2] == {
        "field": "metadata.lang",
        "field_value": "fr",
        "metric_id": str(on_topic),
        "name": "on topic",
        "measure": "pass_rate",
        "value": 0.3,
        "below": 0.5,
        "scored": 10,
    }


def test_an_alert_names_its_first_slices_and_counts_the_rest() -> None:
    polite = uuid.uuid4()
    found = [_slice("metadata.lang", lang, polite, "polite", 20, n) for n, lang in enumerate(["fr", "de", "it", "es"])]
    low = slices.below(found, (Threshold(polite, 0.8),), min_calls=20)
    text = rules.alert_text("checkout", 7, 200, [], "http://c/r", slices_below=low[:3], more_slices=1)
    assert text == (
        "Monitor 'checkout' window 7 (200 calls): polite where metadata.lang=fr (20 scored) 0.0% passed, below 80.0%"
        " · polite where metadata.lang=de (20 scored) 5.0% passed, below 80.0%"
        " · polite where metadata.lang=it (20 scored) 10.0% passed, below 80.0% · and 1 more slice below — http://c/r"
    )
    whole = measured([MetricResult(polite, "polite", "boolean", 200, 150, 150.0)], (Threshold(polite, 0.8),))
    text = rules.alert_text("checkout", 7, 200, whole, "http://c/r", slices_below=low[:1])
    assert text == (
        "Monitor 'checkout' window 7 (200 calls): polite 75.0% passed, below 80.0%"
        " · polite where metadata.lang=fr (20 scored) 0.0% passed, below 80.0% — http://c/r"
    )


def test_slices_with_too_many_errored_calls_are_listed_highest_first() -> None:
    found = [
        slices.SliceCalls("metadata.region", "eu", 10, 5),  # 50%
        slices.SliceCalls("metadata.region", "us", 20, 1),  # 5%: not above 10%
        slices.SliceCalls("metadata.region", "ap", 4, 4),  # 100%, but 4 calls: not judged
        slices.SliceCalls("metadata.tier", "free", 8, 2),  # 25%
        slices.SliceCalls("metadata.tier", "pro", 10, 1),  # 10%: at the threshold, not above
    ]
    high = slices.erring(found, 0.1, min_calls=5)
    assert [(e["field_value"], e["errored"], e["calls"], e["rate"]) for e in high] == [
        ("eu", 5, 10, 0.5),
        ("free", 2, 8, 0.25),
    ]
    assert high[0] == {
        "field": "metadata.region",
        "field_value": "eu",
        "errored": 5,
        "calls": 10,
        "rate": 0.5,
        "above": 0.1,
    }
    assert slices.erring(found, None, min_calls=5) == []
    text = rules.alert_text("checkout", 3, 48, [], "http://c/r", erring_slices=high)
    assert text == (
        "Monitor 'checkout' window 3 (48 calls): 5 of 10 calls where metadata.region=eu errored (50.0%, above 10.0%)"
        " · 2 of 8 calls where metadata.tier=free errored (25.0%, above 10.0%) — http://c/r"
    )


def test_slices_too_slow_are_listed_slowest_first_judged_on_the_calls_with_a_latency() -> None:
    found = [
        slices.SliceCalls("metadata.region", "eu", 40, 0, 40, 2300.0),  # above 1,500 ms
        slices.SliceCalls("metadata.region", "us", 60, 0, 60, 900.0),  # below
        slices.SliceCalls("metadata.region", "ap", 30, 0, 4, 9000.0),  # 4 calls with a latency: not judged
        slices.SliceCalls("metadata.region", "sa", 25, 25, 0, None),  # none with a latency
        slices.SliceCalls("metadata.tier", "free", 20, 2, 20, 1500.0),  # at the threshold: not above
        slices.SliceCalls("metadata.tier", "pro", 10, 0, 10, 3100.5),
    ]
    slow = slices.slow(found, 1500.0, min_calls=10)
    assert [(e["field"], e["field_value"], e["p95_ms"], e["calls"]) for e in slow] == [
        ("metadata.tier", "pro", 3100.5, 10),
        ("metadata.region", "eu", 2300.0, 40),
    ]
    assert slow[1] == {"field": "metadata.region", "field_value": "eu", "p95_ms": 2300.0, "calls": 40, "above": 1500.0}
    assert slices.slow(found, None, min_calls=10) == []
    four = [slices.SliceCalls("metadata.lang", lang, 20, 0, 20, 2000.0 + n) for n, lang in enumerate("abcd")]
    text = rules.alert_text("checkout", 3, 140, [], "http://c/r", slow_slices=slow + slices.slow(four, 1500.0, 10))
    assert text == (
        "Monitor 'checkout' window 3 (140 calls): p95 latency 3,100 ms where metadata.tier=pro (10 calls), above"
        " 1,500 ms · p95 latency 2,300 ms where metadata.region=eu (40 calls), above 1,500 ms · p95 latency"
        " 2,003 ms where metadata.lang=d (20 calls), above 1,500 ms · and 3 more slices too slow — http://c/r"
    )
    # The whole window's latency said first, then its slices'.
    whole = rules.latency_share(1800.0, 1500.0)
    assert rules.alert_text("checkout", 4, 40, [], "http://c/r", latency=whole, slow_slices=slow[1:]) == (
        "Monitor 'checkout' window 4 (40 calls): p95 latency 1,800 ms, above 1,500 ms"
        " · p95 latency 2,300 ms where metadata.region=eu (40 calls), above 1,500 ms — http://c/r"
    )


def test_slices_of_the_users_feedback_are_judged_with_the_metrics_worst_first() -> None:
    polite, thumbs = uuid.uuid4(), uuid.uuid4()
    scored = [_slice("metadata.lang", "fr", polite, "polite", 20, 14)]  # 70% against 0.8: 0.1 below
    given = [
        _slice("metadata.lang", "fr", thumbs, "thumbs", 25, 10),  # 40% against 0.8: 0.4 below
        _slice("metadata.lang", "en", thumbs, "thumbs", 40, 36),  # 90%: above
        _slice("metadata.lang", "de", thumbs, "thumbs", 4, 0),  # 4 given: not judged
    ]
    low = sorted(
        slices.below(scored, (Threshold(polite, 0.8),), 5)
        + slices.below(given, (Threshold(thumbs, 0.8),), 5, feedback=True),
        key=slices.worst_first,
    )
    assert [(m["name"], m["field_value"], m.get("source"), m.get("given")) for m in low] == [
        ("thumbs", "fr", "feedback", 25),
        ("polite", "fr", None, None),
    ]
    text = rules.alert_text("support", 2, 60, [], "http://c/r", slices_below=low)
    assert text == (
        "Monitor 'support' window 2 (60 calls): users' thumbs where metadata.lang=fr (25 given) 40.0% passed,"
        " below 80.0% · polite where metadata.lang=fr (20 scored) 70.0% passed, below 80.0% — http://c/r"
    )
