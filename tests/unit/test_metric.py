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

PARIS_OUTPUTS = {"response": "Paris"}
PARIS_EXPECTED = {"answer": "Paris"}


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
    outcome = score_heuristic(metric(output_type), {"response": answer}, PARIS_EXPECTED)
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
    outcome = score_heuristic(metric(output_type, threshold), {"response": answer}, PARIS_EXPECTED)
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
            "unknown heuristic kind 'fuzzy'; known kinds: contains, exact_match, regex",
            id="unknown-kind",
        ),
    ],
)
def test_score_heuristic_errored(
    output_type: OutputType, config: dict[str, Any], outputs: dict[str, Any], expected: dict[str, Any], error: str
) -> None:
    outcome = score_heuristic(metric(output_type, config=config), outputs, expected)
    assert outcome == ScoreOutcome("errored", None, None, "", error)
    assert outcome.value_num is None


def test_params_default_to_empty_when_absent() -> None:
    outcome = score_heuristic(metric("boolean", config={"kind": "exact_match"}), PARIS_OUTPUTS, PARIS_EXPECTED)
    assert outcome == ScoreOutcome("completed", True, True, "exact match: 'Paris'")


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
