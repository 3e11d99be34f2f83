"""Who computes a score, by the metric's eval type: one registry line each (the eval types
themselves are in shared/scoring/eval_types.py). An eval type this scorer has no line for is an
invalid event, never scored as another type."""

from __future__ import annotations

from typing import Protocol

from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.judge import Judge
from shared.events import HumanVerdict
from shared.scoring.metric import PENDING_REVIEW, MetricVersion, ScoreOutcome, human_outcome
from shared.scoring.record import ScoringInput


class Scorer(Protocol):
    async def __call__(self, metric: MetricVersion, record: ScoringInput, verdict: HumanVerdict | None) -> ScoreOutcome:
        """The score; ``verdict`` is a reviewer's, for an eval type a reviewer scores."""


class _Machine:
    """A scorer that computes the score itself (a heuristic, an LLM judge)."""

    def __init__(self, compute: HeuristicPool | Judge) -> None:
        self._compute = compute

    async def __call__(self, metric: MetricVersion, record: ScoringInput, verdict: HumanVerdict | None) -> ScoreOutcome:
        return await self._compute.score(metric, record)


async def _review(metric: MetricVersion, record: ScoringInput, verdict: HumanVerdict | None) -> ScoreOutcome:
    if verdict is None:
        return PENDING_REVIEW  # until a reviewer submits one
    return human_outcome(metric, verdict.value, verdict.reviewer, verdict.comment)


def scorers(heuristics: HeuristicPool, judge: Judge) -> dict[str, Scorer]:
    return {
        "heuristic": _Machine(heuristics),
        "ai": _Machine(judge),
        "human": _review,
    }
