"""Subscriber of the scorer: score.requested → score row + aggregates → score.completed."""

from __future__ import annotations

import uuid

from services.scorer.heuristic_pool import HeuristicPool
from services.scorer.judging import Judge
from services.scorer.repository import ScoreRepository
from shared import metrics
from shared.events import DeadLetter, ScoreCompleted, ScoreRequested, ScoreStatus
from shared.ids import score_id
from shared.json_limits import clean_text
from shared.messaging import dead_letters
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.scoring.metric import PENDING_REVIEW, ScoreOutcome, human_outcome
from shared.topics import Topic


class ScorerHandlers:
    def __init__(self, repo: ScoreRepository, bus: Bus, judge: Judge, heuristics: HeuristicPool) -> None:
        self._repo = repo
        self._bus = bus
        self._judge = judge
        self._heuristics = heuristics

    def register(self) -> None:
        self._bus.subscribe(ScoreRequested, self.on_score_requested)
        self._bus.subscribe_dead_letters(Topic.SCORE_REQUESTED, self.settle_score_requested)

    async def settle_score_requested(self, letter: DeadLetter) -> None:
        """A score request dead-lettered for good: the score becomes errored with the reason, so the
        run does not wait for it. A reviewer's verdict that failed leaves the score pending instead:
        it can be submitted again."""
        found = dead_letters.ids(letter, "record_id", "metric_version_id")
        if found is None or "human" in dead_letters.top_level_fields(letter.payload, frozenset({"human"})):
            return
        metric = await self._repo.metric_version(found["metric_version_id"])
        record = await self._repo.record(found["record_id"])
        if metric is None or record is None or metric.id not in record.metric_version_ids:
            return
        sid = score_id(record.id, metric.id)
        if record.status != "completed" or await self._repo.score_status(sid) is not None:
            return
        error = clean_text(f"the score could not be computed: {letter.error}")
        await self._repo.save(sid, record, metric, ScoreOutcome("errored", None, None, "", error))
        await self._bus.publish(
            ScoreCompleted(
                run_id=record.run_id,
                record_id=record.id,
                metric_version_id=metric.id,
                score_id=sid,
                status="errored",
                correlation_id=f"run:{record.run_id}",
            )
        )

    async def on_score_requested(self, event: ScoreRequested) -> None:
        metric = await self._repo.metric_version(event.metric_version_id)
        if metric is None:
            raise InvalidEvent(f"metric version {event.metric_version_id} does not exist")
        record = await self._repo.record(event.record_id)
        if record is None or record.run_id != event.run_id:
            raise InvalidEvent(f"record {event.record_id} does not exist in run {event.run_id}")
        if metric.id not in record.metric_version_ids:
            raise InvalidEvent(f"metric version {metric.id} is not part of run {event.run_id}")
        if record.status != "completed":
            raise InvalidEvent(f"record {record.id} is {record.status}; only completed records are scored")
        sid = score_id(record.id, metric.id)
        reviewer = comment = ""
        if metric.eval_type == "human":
            if event.human is None:
                outcome = PENDING_REVIEW
            else:
                verdict = event.human
                reviewer, comment = verdict.reviewer, verdict.comment
                outcome = human_outcome(metric, verdict.value, reviewer, comment)
        elif event.human is not None:
            raise InvalidEvent(f"metric version {metric.id} is {metric.eval_type}; it takes no reviewer's verdict")
        elif metric.eval_type == "heuristic":
            outcome = await self._heuristics.score(metric, record.data)
        elif await self._repo.score_status(sid) == "completed":
            # A redelivery of a judged score: the judge is not paid twice.
            await self._completed(event, sid, "completed")
            return
        else:
            outcome = await self._judge.score(metric, record.data)
        if await self._repo.save(
            sid, record, metric, outcome, reviewer=reviewer, comment=comment, replace=event.human is not None
        ):
            metrics.SCORES_WRITTEN.labels(outcome.status).inc()
        if outcome.status == "pending":
            return
        # Published on redelivery too: the first delivery may have died between commit and publish.
        await self._completed(event, sid, outcome.status)

    async def _completed(self, event: ScoreRequested, sid: uuid.UUID, status: ScoreStatus) -> None:
        """Announce a score; the event's run, record and metric version were checked against the rows."""
        await self._bus.publish(
            ScoreCompleted(
                run_id=event.run_id,
                record_id=event.record_id,
                metric_version_id=event.metric_version_id,
                score_id=sid,
                status=status,
                correlation_id=event.correlation_id,
            )
        )
