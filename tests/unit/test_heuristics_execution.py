"""Execution heuristics: latency_under and cost_under read the record's facts, not its output."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import HeuristicError, Verdict, evaluate, validate_params
from shared.scoring.record import ScoringInput


def judge(kind: str, params: dict[str, Any], **facts: Any) -> Verdict:
    # The output is irrelevant to these kinds, even when it is missing.
    return evaluate(kind, params, ScoringInput(outputs={}, **facts))


@pytest.mark.parametrize(
    ("params", "latency_ms", "verdict"),
    [
        pytest.param({"max_ms": 1000}, 850.0, Verdict(True, "latency 850 ms is within the 1000 ms limit"), id="under"),
        pytest.param(
            {"max_ms": 1000}, 1000.0, Verdict(True, "latency 1000 ms is within the 1000 ms limit"), id="at-limit"
        ),
        pytest.param(
            {"max_ms": 1000}, 1250.5, Verdict(False, "latency 1250.5 ms is over the 1000 ms limit"), id="over"
        ),
        pytest.param(
            {"max_ms": 0.5}, 0.25, Verdict(True, "latency 0.25 ms is within the 0.5 ms limit"), id="fractions"
        ),
        pytest.param(
            {"max_ms": 60_000}, 3_600_000.0, Verdict(False, "latency 3600000 ms is over the 60000 ms limit"), id="hour"
        ),
    ],
)
def test_latency_under(params: dict[str, Any], latency_ms: float, verdict: Verdict) -> None:
    assert judge("latency_under", params, latency_ms=latency_ms) == verdict


@pytest.mark.parametrize(
    ("params", "cost_usd", "verdict"),
    [
        pytest.param(
            {"max_usd": 0.01}, 0.000015, Verdict(True, "cost $0.000015 is within the $0.01 limit"), id="tiny-cost"
        ),
        pytest.param({"max_usd": 0.01}, 0.01, Verdict(True, "cost $0.01 is within the $0.01 limit"), id="at-limit"),
        pytest.param({"max_usd": 0.01}, 0.0123, Verdict(False, "cost $0.0123 is over the $0.01 limit"), id="over"),
        pytest.param({"max_usd": 0}, 0.0, Verdict(True, "cost $0 is within the $0 limit"), id="free-allowed"),
        pytest.param({"max_usd": 0}, 0.000001, Verdict(False, "cost $0.000001 is over the $0 limit"), id="not-free"),
    ],
)
def test_cost_under(params: dict[str, Any], cost_usd: float, verdict: Verdict) -> None:
    assert judge("cost_under", params, cost_usd=cost_usd) == verdict


def test_cost_under_needs_a_known_cost() -> None:
    with pytest.raises(HeuristicError) as caught:
        judge("cost_under", {"max_usd": 1}, cost_usd=None)
    assert str(caught.value) == "the record does not say what it cost"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "latency_under", {}, "invalid params for latency_under: params.max_ms: Field required", id="latency-missing"
        ),
        pytest.param(
            "latency_under",
            {"max_ms": 0},
            "invalid params for latency_under: params.max_ms: Input should be greater than 0",
            id="latency-zero",
        ),
        pytest.param(
            "latency_under",
            {"max_ms": "fast"},
            "invalid params for latency_under: params.max_ms: Input should be a valid number, "
            "unable to parse string as a number",
            id="latency-not-a-number",
        ),
        pytest.param(
            "latency_under",
            {"max_ms": 100, "output_field": "response"},
            "invalid params for latency_under: params.output_field: Extra inputs are not permitted",
            id="latency-reads-no-output",
        ),
        pytest.param(
            "cost_under",
            {"max_usd": -0.01},
            "invalid params for cost_under: params.max_usd: Input should be greater than or equal to 0",
            id="cost-negative",
        ),
        pytest.param(
            "cost_under",
            {"max_usd": "Infinity"},
            "invalid params for cost_under: params.max_usd: Input should be a finite number",
            id="cost-infinite",
        ),
    ],
)
def test_execution_params_rejected(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_params(kind, params)
    assert str(caught.value) == message
