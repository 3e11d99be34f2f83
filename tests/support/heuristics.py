"""Helpers for the heuristic tables: score one output, or read the message a bad params is refused with."""

from __future__ import annotations

from typing import Any

import pytest

from shared.scoring.heuristics import Verdict, evaluate, validate_params
from shared.scoring.record import ScoringInput


def judge(kind: str, params: dict[str, Any], output: Any, expected: dict[str, Any] | None = None) -> Verdict:
    """The verdict of heuristic ``kind`` on ``output`` (under its ``output_field``, "response" by default)."""
    field = params.get("output_field", "response")
    return evaluate(kind, params, ScoringInput(outputs={field: output}, expected=expected or {}))


def rejects(kind: str, params: dict[str, Any]) -> str:
    """The message ``params`` are refused with."""
    with pytest.raises(ValueError) as caught:
        validate_params(kind, params)
    return str(caught.value)


def judge_against(kind: str, params: dict[str, Any], output: Any, expected: Any) -> Verdict:
    """The verdict of a graded heuristic comparing ``output`` with one expected ``answer``."""
    return evaluate(kind, params, ScoringInput(outputs={"response": output}, expected={"answer": expected}))


def graded(name: str, score: float, shown: str, output: str, expected: str, tail: str = "", note: str = "") -> Verdict:
    """The verdict a graded heuristic gives: ``shown`` is e.g. '0.95 ≥ 0.80'."""
    passed = "≥" in shown
    return Verdict(passed, f"{name} {shown}{tail} between output {output!r} and expected {expected!r}{note}", score)


def assert_verdict(got: Verdict, want: Verdict) -> None:
    """Equal verdicts, the score to 12 decimals."""
    assert (got.passed, got.reasoning) == (want.passed, want.reasoning)
    assert got.score == pytest.approx(want.score, abs=1e-12)
