"""How a heuristic verdict becomes a score value, and when a value passes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.scoring.metric import (
    DEFAULT_THRESHOLDS,
    MetricVersion,
    OutputType,
    ScoreOutcome,
    passes,
    score_heuristic,
)
from shared.scoring.record import ScoringInput

PARIS_OUTPUTS = {"response": "Paris"}
PARIS_EXPECTED = {"answer": "Paris"}


def record(outputs: dict[str, Any], expected: dict[str, Any] | None = None, **facts: Any) -> ScoringInput:
    return ScoringInput(outputs=outputs, expected=PARIS_EXPECTED if expected is None else expected, **facts)


def metric(
    output_type: OutputType, threshold: float | None = None, config: dict[str, Any] | None = None
) -> MetricVersion:
    return MetricVersion(
        id=uuid.UUID("00000000-0000-0000-0000-0000000000a1"),
        metric_id=uuid.UUID("00000000-0000-0000-0000-0000000000b2"),
        name="capital is right",
        eval_type="heuristic",
        output_type=output_type,
        passing_threshold=threshold,
        config=config if config is not None else {"kind": "exact_match", "params": {}},
    )


@pytest.mark.parametrize(
    ("output_type", "answer", "expected"),
    [
        pytest.param(
            "boolean", "Paris", ScoreOutcome("completed", True, True, "exact match: 'Paris'"), id="boolean-pass"
        ),
        pytest.param(
            "boolean",
            "Lyon",
            ScoreOutcome("completed", False, False, "expected 'Paris', got 'Lyon'"),
            id="boolean-fail",
        ),
        pytest.param("int", "Paris", ScoreOutcome("completed", 5, True, "exact match: 'Paris'"), id="int-pass"),
        pytest.param("int", "Lyon", ScoreOutcome("completed", 1, False, "expected 'Paris', got 'Lyon'"), id="int-fail"),
        pytest.param("float", "Paris", ScoreOutcome("completed", 1.0, True, "exact match: 'Paris'"), id="float-pass"),
        pytest.param(
            "float", "Lyon", ScoreOutcome("completed", 0.0, False, "expected 'Paris', got 'Lyon'"), id="float-fail"
        ),
    ],
)
def test_score_heuristic_values(output_type: OutputType, answer: str, expected: ScoreOutcome) -> None:
    outcome = score_heuristic(metric(output_type), record({"response": answer}))
    assert outcome == expected
    # Exact types: a boolean metric stores a bool, an int metric an int, a float metric a float.
    assert type(outcome.value) is type(expected.value)


@pytest.mark.parametrize(
    ("output_type", "threshold", "answer", "passed"),
    [
        pytest.param("int", 5, "Paris", True, id="int-threshold-5-value-5"),
        pytest.param("int", 1, "Lyon", True, id="int-threshold-1-value-1"),
        pytest.param("float", 1.0, "Paris", True, id="float-threshold-1-value-1"),
        pytest.param("float", 0.0, "Lyon", True, id="float-threshold-0-value-0"),
        pytest.param("float", 0.01, "Lyon", False, id="float-threshold-0.01-value-0"),
    ],
)
def test_score_heuristic_uses_explicit_threshold(
    output_type: OutputType, threshold: float, answer: str, passed: bool
) -> None:
    outcome = score_heuristic(metric(output_type, threshold), record({"response": answer}))
    assert outcome.status == "completed"
    assert outcome.passed is passed


@pytest.mark.parametrize(
    ("output_type", "value", "threshold", "passed"),
    [
        pytest.param("boolean", True, None, True, id="bool-true"),
        pytest.param("boolean", False, None, False, id="bool-false"),
        pytest.param("boolean", False, 0.0, False, id="bool-ignores-threshold"),
        pytest.param("int", 4, None, True, id="int-default-4-at"),
        pytest.param("int", 3, None, False, id="int-default-4-below"),
        pytest.param("int", 5, None, True, id="int-default-4-above"),
        pytest.param("int", 4, 5, False, id="int-explicit-5-below"),
        pytest.param("int", 2, 2, True, id="int-explicit-2-at"),
        pytest.param("float", 0.5, None, True, id="float-default-0.5-at"),
        pytest.param("float", 0.49, None, False, id="float-default-0.5-below"),
        pytest.param("float", 0.7, 0.8, False, id="float-explicit-0.8-below"),
        pytest.param("float", 0.8, 0.8, True, id="float-explicit-0.8-at"),
        pytest.param("float", 0.0, 0.0, True, id="float-explicit-0-at"),
    ],
)
def test_passes(output_type: str, value: bool | float, threshold: float | None, passed: bool) -> None:
    assert passes(output_type, value, threshold) is passed


def test_default_thresholds() -> None:
    assert DEFAULT_THRESHOLDS == {"boolean": None, "int": 4, "float": 0.5}


@pytest.mark.parametrize(
    ("output_type", "config", "outputs", "expected", "error"),
    [
        pytest.param(
            "boolean",
            {"kind": "exact_match", "params": {}},
            {"answer": "Paris"},
            PARIS_EXPECTED,
            "the output has no field 'response'",
            id="boolean-missing-output-field",
        ),
        pytest.param(
            "int",
            {"kind": "exact_match", "params": {}},
            {"answer": "Paris"},
            PARIS_EXPECTED,
            "the output has no field 'response'",
            id="int-missing-output-field",
        ),
        pytest.param(
            "float",
            {"kind": "contains", "params": {"value": "x", "output_field": "text"}},
            PARIS_OUTPUTS,
            {},
            "the output has no field 'text'",
            id="float-missing-named-field",
        ),
        pytest.param(
            "boolean",
            {"kind": "exact_match", "params": {}},
            PARIS_OUTPUTS,
            {"a": "1", "b": "2"},
            "set params.expected_field: the testcase has 2 expected fields",
            id="ambiguous-expected",
        ),
        pytest.param(
            "boolean",
            {"kind": "regex", "params": {"pattern": "("}},
            PARIS_OUTPUTS,
            {},
            "invalid params for regex: params.pattern: Value error, invalid regular expression: "
            "missing ), unterminated subpattern at position 0",
            id="bad-params",
        ),
        pytest.param(
            "boolean",
            {"kind": "fuzzy"},
            PARIS_OUTPUTS,
            PARIS_EXPECTED,
            "unknown heuristic kind 'fuzzy'; known kinds: bleu, contains, contains_all, contains_any, cost_under, "
            "exact_match, json_path_equals, json_schema, json_valid, latency_under, length_between, not_contains, "
            "numeric_close, regex, rouge_l, starts_with, string_similarity, token_f1",
            id="unknown-kind",
        ),
        pytest.param(
            "boolean",
            {"params": {}},
            PARIS_OUTPUTS,
            PARIS_EXPECTED,
            "the metric names no heuristic kind",
            id="no-kind",
        ),
        pytest.param(
            "float",
            {"kind": "numeric_close", "params": {"value": 42, "abs_tol": 1}},
            {"response": "forty-two"},
            {},
            "the output is not a number: 'forty-two'",
            id="numeric-close-not-a-number",
        ),
        pytest.param(
            "boolean",
            {"kind": "cost_under", "params": {"max_usd": 0.01}},
            PARIS_OUTPUTS,
            {},
            "the record does not say what it cost",
            id="cost-unknown",
        ),
        pytest.param(
            "int",
            {"kind": "rouge_l", "params": {}},
            {"response": "w " * 1500},
            {"answer": "w " * 1500},
            "output and expected are too long for rouge_l: 1,500 × 1,500 tokens is over the limit of 2,000,000 pairs",
            id="too-long-to-compare",
        ),
    ],
)
def test_score_heuristic_errored(
    output_type: OutputType, config: dict[str, Any], outputs: dict[str, Any], expected: dict[str, Any], error: str
) -> None:
    outcome = score_heuristic(metric(output_type, config=config), record(outputs, expected))
    assert outcome == ScoreOutcome("errored", None, None, "", error)
    assert outcome.value_num is None


def test_execution_facts_reach_the_heuristic() -> None:
    config = {"kind": "latency_under", "params": {"max_ms": 1000}}
    slow = score_heuristic(metric("boolean", config=config), record(PARIS_OUTPUTS, latency_ms=1500.0))
    assert slow == ScoreOutcome("completed", False, False, "latency 1500 ms is over the 1000 ms limit")
    cheap = score_heuristic(
        metric("int", config={"kind": "cost_under", "params": {"max_usd": 0.01}}), record(PARIS_OUTPUTS, cost_usd=0.002)
    )
    assert cheap == ScoreOutcome("completed", 5, True, "cost $0.002 is within the $0.01 limit")


# --- graded heuristics: the score becomes the value ---------------------------------------------

# Levenshtein similarity of "abcdefgh" with each output: 8 characters, so eighths.
GRADED_OUTPUTS = {1.0: "abcdefgh", 0.875: "abcdefgX", 0.625: "abcdeXYZ", 0.375: "abcXYZWV", 0.125: "aXXXXXXX"}
GRADED_OUTPUTS[0.0] = "XXXXXXXX"


def similarity_metric(output_type: OutputType, passing_threshold: float | None = None, **params: Any) -> MetricVersion:
    return metric(output_type, passing_threshold, {"kind": "string_similarity", "params": params})


@pytest.mark.parametrize(
    ("score", "output_type", "value", "passed"),
    [
        # boolean: the heuristic's threshold (default 0.8) decides.
        pytest.param(1.0, "boolean", True, True, id="1.0-boolean"),
        pytest.param(0.875, "boolean", True, True, id="0.875-boolean"),
        pytest.param(0.625, "boolean", False, False, id="0.625-boolean"),
        pytest.param(0.0, "boolean", False, False, id="0.0-boolean"),
        # float: the score itself; passes at the metric's default 0.5.
        pytest.param(1.0, "float", 1.0, True, id="1.0-float"),
        pytest.param(0.625, "float", 0.625, True, id="0.625-float"),
        pytest.param(0.375, "float", 0.375, False, id="0.375-float"),
        pytest.param(0.0, "float", 0.0, False, id="0.0-float"),
        # int: 1 + 4 × score, halves up; passes at the metric's default 4.
        pytest.param(1.0, "int", 5, True, id="1.0-int-5"),
        pytest.param(0.875, "int", 5, True, id="0.875-int-4.5-up-to-5"),
        pytest.param(0.625, "int", 4, True, id="0.625-int-3.5-up-to-4"),
        pytest.param(0.375, "int", 3, False, id="0.375-int-2.5-up-to-3"),
        pytest.param(0.125, "int", 2, False, id="0.125-int-1.5-up-to-2"),
        pytest.param(0.0, "int", 1, False, id="0.0-int-1"),
    ],
)
def test_graded_value_by_output_type(score: float, output_type: OutputType, value: bool | float, passed: bool) -> None:
    outcome = score_heuristic(
        similarity_metric(output_type), record({"response": GRADED_OUTPUTS[score]}, {"answer": "abcdefgh"})
    )
    assert (outcome.status, outcome.value, outcome.passed) == ("completed", value, passed)
    assert type(outcome.value) is type(value)


@pytest.mark.parametrize(
    ("output_type", "passing_threshold", "heuristic_threshold", "value", "passed"),
    [
        # The reasoning says 0.62 < 0.80, yet a float metric passing at 0.5 passes: its threshold decides.
        pytest.param("float", None, 0.8, 0.625, True, id="float-metric-threshold-0.5-decides"),
        pytest.param("float", 0.7, 0.1, 0.625, False, id="float-metric-threshold-0.7-decides"),
        pytest.param("int", 5, 0.1, 4, False, id="int-metric-threshold-5-decides"),
        # A boolean metric has no passing threshold: the heuristic's decides the value.
        pytest.param("boolean", None, 0.6, True, True, id="boolean-heuristic-threshold-0.6"),
        pytest.param("boolean", None, 0.7, False, False, id="boolean-heuristic-threshold-0.7"),
    ],
)
def test_graded_pass_is_decided_by_one_threshold(
    output_type: OutputType,
    passing_threshold: float | None,
    heuristic_threshold: float,
    value: bool | float,
    passed: bool,
) -> None:
    m = similarity_metric(output_type, passing_threshold, threshold=heuristic_threshold)
    outcome = score_heuristic(m, record({"response": "abcdeXYZ"}, {"answer": "abcdefgh"}))
    assert (outcome.status, outcome.value, outcome.passed) == ("completed", value, passed)


def test_graded_reasoning_is_the_heuristics() -> None:
    outcome = score_heuristic(
        similarity_metric("float"), record({"response": "Paris is the capitol"}, {"answer": "Paris is the capital"})
    )
    assert outcome == ScoreOutcome(
        "completed",
        0.95,
        True,
        "Levenshtein similarity 0.95 ≥ 0.80 between output 'Paris is the capitol' and expected 'Paris is the capital'",
    )


def test_params_default_to_empty_when_absent() -> None:
    outcome = score_heuristic(metric("boolean", config={"kind": "exact_match"}), record(PARIS_OUTPUTS))
    assert outcome == ScoreOutcome("completed", True, True, "exact match: 'Paris'")
    nulled = score_heuristic(metric("boolean", config={"kind": "exact_match", "params": None}), record(PARIS_OUTPUTS))
    assert nulled == outcome


@pytest.mark.parametrize(
    ("value", "num"),
    [
        pytest.param(True, 1.0, id="true"),
        pytest.param(False, 0.0, id="false"),
        pytest.param(5, 5.0, id="int"),
        pytest.param(0.25, 0.25, id="float"),
        pytest.param(None, None, id="none"),
    ],
)
def test_value_num(value: bool | float | None, num: float | None) -> None:
    outcome = ScoreOutcome("completed" if value is not None else "errored", value, None, "")
    assert outcome.value_num == num
    if num is not None:
        assert type(outcome.value_num) is float
