"""A metric version as the scorer sees it, and how a verdict becomes a score value."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from shared.scoring import heuristics
from shared.scoring.record import ScoringInput

OutputType = Literal["boolean", "int", "float"]
OUTPUT_TYPES = ("boolean", "int", "float")
DEFAULT_THRESHOLDS: dict[str, float | None] = {"boolean": None, "int": 4, "float": 0.5}
# Where a run's value of a metric lies: a boolean metric's pass rate, an int or float metric's mean.
VALUE_RANGES: dict[str, tuple[float, float]] = {"boolean": (0.0, 1.0), "int": (1.0, 5.0), "float": (0.0, 1.0)}


def check_threshold(field: str, below: float, name: str, output_type: str) -> None:
    """An alert threshold of a metric's run value (``field``: where it was given), within its range."""
    low, high = VALUE_RANGES[output_type]
    if not math.isfinite(below) or not low <= below <= high:
        raise ValueError(
            f"{field}.below must be within {low:g}..{high:g} for the {output_type} metric {name!r}, got {below:g}"
        )


@dataclass(frozen=True)
class MetricVersion:
    id: uuid.UUID
    metric_id: uuid.UUID
    name: str
    eval_type: str
    output_type: OutputType
    passing_threshold: float | None
    config: dict[str, Any]
    guidelines: str = ""


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


def score_heuristic(metric: MetricVersion, record: ScoringInput) -> ScoreOutcome:
    """Score one record with a heuristic metric; a record it cannot handle gives an errored score, not an exception.

    The value follows the metric's output type. boolean: whether the heuristic passed. float: the
    graded score (0..1) of a graded heuristic (string_similarity, token_f1, bleu, rouge_l), else
    1.0 / 0.0. int: 1 + 4 × the graded score, halves rounded up (1..5), else 5 / 1.

    Who decides pass: for a boolean metric, the heuristic (a graded one by its own ``threshold``
    param); for an int or float metric, the metric's passing_threshold, as for every other metric
    (value >= passing_threshold) — a graded heuristic's ``threshold`` then only shows in the reasoning.
    """
    kind = metric.config.get("kind")
    if not isinstance(kind, str) or not kind:
        return ScoreOutcome("errored", None, None, "", "the metric names no heuristic kind")
    try:
        verdict = heuristics.evaluate(kind, metric.config.get("params") or {}, record)
    except ValueError as exc:  # bad params, or a HeuristicError: this record cannot be scored
        return ScoreOutcome("errored", None, None, "", str(exc))
    except Exception as exc:  # a heuristic is a pure function: retrying would fail the same way
        return ScoreOutcome("errored", None, None, "", f"{kind} failed: {type(exc).__name__}: {str(exc)[:200]}")
    graded = verdict.score
    value: bool | int | float
    if metric.output_type == "boolean":
        value = verdict.passed
    elif metric.output_type == "int":
        value = 1 + math.floor(4 * graded + 0.5) if graded is not None else 5 if verdict.passed else 1
    else:
        value = graded if graded is not None else 1.0 if verdict.passed else 0.0
    return ScoreOutcome(
        "completed", value, passes(metric.output_type, value, metric.passing_threshold), verdict.reasoning
    )


PENDING_REVIEW = ScoreOutcome("pending", None, None, "waiting for a reviewer")


def human_outcome(metric: MetricVersion, value: bool | int | float, reviewer: str, comment: str) -> ScoreOutcome:
    passed = passes(metric.output_type, value, metric.passing_threshold)
    reasoning = f"{reviewer}: {comment}" if comment else f"scored by {reviewer}"
    return ScoreOutcome("completed", value, passed, reasoning)
