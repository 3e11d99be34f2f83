"""Who computes scores, by the metric's eval type: one registry line each (the eval types
themselves are in shared/scoring/eval_types.py). An eval type this scorer has no line for is an
invalid event, never scored as another type."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.judge import Judge
from services.scorer.repository import ScoreRepository
from shared.scoring.metric import PENDING_REVIEW, MetricVersion, ScoreOutcome, passes
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


class _SentByClient:
    """Code metrics: the score the client's own code sent with the record (IngestRecords' scores);
    errored when it sent none, or when its scorer raised."""

    def __init__(self, repo: ScoreRepository) -> None:
        self._repo = repo

    async def __call__(self, items: list[Item]) -> list[ScoreOutcome]:
        record_ids = [record.record_id for _, record in items if record.record_id is not None]
        sent = await self._repo.client_scores(record_ids, list({metric.metric_id for metric, _ in items}))
        return [
            self._outcome(metric, sent.get((record.record_id, metric.metric_id)) if record.record_id else None)
            for metric, record in items
        ]

    @staticmethod
    def _outcome(metric: MetricVersion, sent: Any) -> ScoreOutcome:
        if sent is None:
            return ScoreOutcome("errored", None, None, "", "no score from your code was sent with this record")
        if sent["value"] is None:
            return ScoreOutcome("errored", None, None, "", f"your scorer raised: {sent['error']}")
        value = sent["value"]
        if metric.output_type == "int":
            value = int(value)
        passed = passes(metric.output_type, value, metric.passing_threshold)
        return ScoreOutcome("completed", value, passed, sent["reasoning"] or "scored by your code")


def scorers(heuristics: HeuristicPool, judge: Judge, repo: ScoreRepository) -> dict[str, Scorer]:
    return {
        "heuristic": heuristics.score_many,
        "ai": _Judged(judge),
        "human": _awaiting_review,
        "code": _SentByClient(repo),
    }
