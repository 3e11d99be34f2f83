"""A batch of records scored with one metric version in one delivery (a score.requested with
``record_ids``): one read of the records, the scores computed concurrently (the heuristic pool and
the judge's limits bound them), one transaction for the new scores and their aggregates, and one
score.completed for the batch. Per record, the outcome is what a request of its own would give."""

from __future__ import annotations

import asyncio
import logging

from services.scorer.repository import RecordToScore, ScoreRepository
from services.scorer.scorers import Scorer
from shared import telemetry
from shared.events import ScoreCompleted, ScoreRequested
from shared.ids import score_id
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.scoring.eval_types import eval_type

log = logging.getLogger(__name__)


class BatchScoring:
    def __init__(self, repo: ScoreRepository, bus: Bus, scorers: dict[str, Scorer]) -> None:
        self._repo = repo
        self._bus = bus
        self._scorers = scorers

    async def __call__(self, event: ScoreRequested) -> None:
        metric = await self._repo.metric_version(event.metric_version_id)
        if metric is None:
            raise InvalidEvent(f"metric version {event.metric_version_id} does not exist")
        scorer = self._scorers.get(metric.eval_type)
        if scorer is None:
            raise InvalidEvent(f"metric version {metric.id} is {metric.eval_type!r}, which no scorer computes")
        found = await self._repo.records(event.record_ids)
        records: list[RecordToScore] = []
        for rid in dict.fromkeys(event.record_ids):
            record = found.get(rid)
            if (
                record is not None
                and record.run_id == event.run_id
                and metric.id in record.metric_version_ids
                and record.status == "completed"
            ):
                records.append(record)
        if not records:
            raise InvalidEvent(
                f"none of the {len(event.record_ids)} records of the batch is a completed record of run"
                f" {event.run_id} scored with metric version {metric.id}"
            )
        if len(records) < len(event.record_ids):
            log.warning(
                "score batch: records left out (unknown, of another run or not completed)",
                extra={"run_id": str(event.run_id), "left_out": len(event.record_ids) - len(records)},
            )
        existing = await self._repo.score_statuses([score_id(r.id, metric.id) for r in records])
        # What one request would do: a computed score is not computed (or paid for) again; a human
        # metric's pending score is written once.
        by_reviewer = eval_type(metric.eval_type).by_reviewer
        todo = [
            r
            for r in records
            if (status := existing.get(score_id(r.id, metric.id))) is None
            or (not by_reviewer and status != "completed")
        ]
        outcomes = await asyncio.gather(*(scorer(metric, r.data, None) for r in todo))
        scored = list(zip(todo, outcomes, strict=True))
        new = await self._repo.save_new(metric, scored)
        for record, outcome in scored:
            if record.id in new or await self._repo.save(score_id(record.id, metric.id), record, metric, outcome):
                telemetry.SCORES_WRITTEN.labels(outcome.status).inc()
        if by_reviewer:
            return  # pending scores: nothing completed
        # Published on redelivery too: the first delivery may have died between commit and publish.
        await self._bus.publish(
            ScoreCompleted(
                run_id=event.run_id,
                record_id=records[0].id,
                metric_version_id=metric.id,
                score_id=score_id(records[0].id, metric.id),
                status="completed",
                record_ids=[r.id for r in records],
                correlation_id=event.correlation_id,
            )
        )
