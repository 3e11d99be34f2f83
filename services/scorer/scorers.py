"""Who computes scores, by the metric's eval type: one registry line each (the eval types
themselves are in shared/scoring/eval_types.py). An eval type this scorer has no line for is an
invalid event, never scored as another type."""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.judge import Judge
from shared.scoring.metric import PENDING_REVIEW, MetricVersion, ScoreOutcome
from shared.scoring.record import ScoringInput

Item = tuple[MetricVersion, ScoringInput]


class Scorer(Protocol):
    async def __call__(self, items: list[Item]) -> list[ScoreOutcome]:
        """The score of each (metric version, record), in order."""


class _Judged:
    """AI metrics: one judge call per score, concurrently (the gateway caps and paces them)."""

    def __init__(self, judge: Judge) -> None:
        self._judge = judge

    async def __call__(self, items: list[Item]) -> list[ScoreOutcome]:
        return list(await asyncio.gather(*(self._judge.score(metric, record) for metric, record in items)))


async def _awaiting_review(items: list[Item]) -> list[ScoreOutcome]:
    """Human metrics: pending until a reviewer submits a verdict (shared.scoring.metric.human_outcome)."""
    return [PENDING_REVIEW] * len(items)


def scorers(heuristics: HeuristicPool, judge: Judge) -> dict[str, Scorer]:
    return {
        "heuristic": heuristics.score_many,
        "ai": _Judged(judge),
        "human": _awaiting_review,
    }
