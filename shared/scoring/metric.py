"""A metric version as the scorer sees it, and how a verdict becomes a score value."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from shared.scoring import heuristics

OutputType = Literal["boolean", "int", "float"]
EVAL_TYPES = ("ai", "heuristic", "human")
OUTPUT_TYPES = ("boolean", "int", "float")
DEFAULT_THRESHOLDS: dict[str, float | None] = {"boolean": None, "int": 4, "float": 0.5}


@dataclass(frozen=True)
class MetricVersion:
    id: uuid.UUID
    metric_id: uuid.UUID
    name: str
    eval_type: str
    output_type: OutputType
    passing_threshold: float | None
    config: dict[str, Any]


@dataclass(frozen=True)
class ScoreOutcome:
    status: Literal["completed", "errored", "pending"]
    value: bool | int | float | None
    passed: bool | None
    reasoning: str
    error: str = ""
    # What scoring cost (an AI judge's usage); zero for heuristics and humans.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def value_num(self) -> float | None:
        if self.value is None:
            return None
        return float(self.value)


def passes(output_type: str, value: bool | int | float, threshold: float | None) -> bool:
    if output_type == "boolean":
        return bool(value)
    limit = threshold if threshold is not None else DEFAULT_THRESHOLDS[output_type]
    assert limit is not None
    return float(value) >= limit


def score_heuristic(metric: MetricVersion, outputs: dict[str, Any], expected: dict[str, Any]) -> ScoreOutcome:
    """Score one record; a record the heuristic cannot handle gives an errored score, not an exception."""
    try:
        verdict = heuristics.evaluate(metric.config["kind"], metric.config.get("params", {}), outputs, expected)
    except (heuristics.HeuristicError, ValueError) as exc:
        return ScoreOutcome("errored", None, None, "", str(exc))
    value: bool | int | float
    if metric.output_type == "boolean":
        value = verdict.passed
    elif metric.output_type == "int":
        value = 5 if verdict.passed else 1
    else:
        value = 1.0 if verdict.passed else 0.0
    return ScoreOutcome(
        "completed", value, passes(metric.output_type, value, metric.passing_threshold), verdict.reasoning
    )


PENDING_REVIEW = ScoreOutcome("pending", None, None, "waiting for a reviewer")


def human_outcome(metric: MetricVersion, value: bool | int | float, reviewer: str, comment: str) -> ScoreOutcome:
    passed = passes(metric.output_type, value, metric.passing_threshold)
    reasoning = f"{reviewer}: {comment}" if comment else f"scored by {reviewer}"
    return ScoreOutcome("completed", value, passed, reasoning)
