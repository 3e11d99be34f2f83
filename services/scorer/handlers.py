"""Subscriber of the scorer: score.requested → score row + aggregates → score.completed."""

from __future__ import annotations

import uuid

from services.scorer.batches import BatchScoring
from services.scorer.repository import ScoreRepository
from services.scorer.scorers import Scorer
from shared import telemetry
from shared.events import DeadLetter, ScoreCompleted, ScoreRequested, ScoreStatus
from shared.ids import score_id
from shared.json_limits import clean_text
from shared.messaging import dead_letters
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.scoring.eval_types import eval_type
from shared.scoring.metric import ScoreOutcome
from shared.topics import Topic


class ScorerHandlers:
    def __init__(self, repo: ScoreRepository, bus: Bus, scorers: dict[str, Scorer]) -> None:
        self._repo = repo
        self._bus = bus
        self._scorers = scorers
        self._batch = BatchScoring(repo, bus, scorers)

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
        batch = dead_letters.id_list(letter, "record_ids") or [found["record_id"]]
        for record_id in dict.fromkeys(batch):
            await self._settle(record_id, found["metric_version_id"], letter)

    async def _settle(self, record_id: uuid.UUID, metric_version_id: uuid.UUID, letter: DeadLetter) -> None:
        metric = await self._repo.metric_version(metric_version_id)
        record = await self._repo.record(record_id)
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
        if event.record_ids:
            await self._batch(event)
            return
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
        scorer = self._scorers.get(metric.eval_type)
        if scorer is None:
            raise InvalidEvent(f"metric version {metric.id} is {metric.eval_type!r}, which no scorer computes")
        by_reviewer = eval_type(metric.eval_type).by_reviewer
        if event.human is not None and not by_reviewer:
            raise InvalidEvent(f"metric version {metric.id} is {metric.eval_type}; it takes no reviewer's verdict")
        sid = score_id(record.id, metric.id)
        if not by_reviewer and await self._repo.score_status(sid) == "completed":
            # A redelivery of a score already computed: nothing is computed (or paid for) twice.
            await self._completed(event, sid, "completed")
            return
        outcome = await scorer(metric, record.data, event.human)
        reviewer, comment = (event.human.reviewer, event.human.comment) if event.human is not None else ("", "")
        if await self._repo.save(
            sid, record, metric, outcome, reviewer=reviewer, comment=comment, replace=event.human is not None
        ):
            telemetry.SCORES_WRITTEN.labels(outcome.status).inc()
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
