"""Subscribers of the run-orchestrator, a batch of events at a time: persist records, fan out
scoring, advance runs."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict

from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.scoring import ScoreRequests
from services.run_orchestrator.runs.settlement import Settlement
from shared import spans
from shared.events import ProducedRecord, RecordsProduced, ScoresCompleted
from shared.json_limits import storable
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.run_status import TERMINAL, RunStatus

log = logging.getLogger(__name__)


class OrchestratorHandlers:
    def __init__(
        self, runs: RunRepository, bus: Bus, scores: ScoreRequests, settlement: Settlement, *, max_batch: int = 32
    ) -> None:
        self._runs = runs
        self._bus = bus
        self._scores = scores
        self._settlement = settlement
        self._max_batch = max_batch

    def register(self) -> None:
        self._bus.subscribe_batch(RecordsProduced, self.on_records_produced, max_batch=self._max_batch)
        self._bus.subscribe_batch(ScoresCompleted, self.on_scores_completed, max_batch=4 * self._max_batch)
        self._settlement.register(self._bus)

    async def on_records_produced(self, events: list[RecordsProduced]) -> None:
        """Every event is checked before anything is written: an invalid one fails the batch, which
        the bus then handles event by event, dead-lettering only that one."""
        by_run: dict[uuid.UUID, list[ProducedRecord]] = defaultdict(list)
        correlation: dict[uuid.UUID, str] = {}
        for event in events:
            await self._check(event)
            # Records from a client that did not check its outputs are kept as errored records,
            # their steps only when they are well formed.
            by_run[event.run_id].extend(checked_steps(storable(record)[0]) for record in event.records)
            correlation.setdefault(event.run_id, event.correlation_id)
        for run_id, records in by_run.items():
            ids, _ = await self._runs.save_records(run_id, records)
            status = await self._runs.advance(run_id)
            if status in TERMINAL:
                log.info("run finished", extra={"run_id": str(run_id), "status": status})
            run_status, metric_version_ids = await self._runs.scoring_targets(run_id)
            if run_status == RunStatus.CANCELLED:
                continue
            completed = [rid for rid, record in zip(ids, records, strict=True) if record.status == "completed"]
            # Published on every delivery, not only the first: if an earlier delivery committed the
            # records but died before publishing, the redelivery still requests the scores.
            await self._scores.for_records(run_id, dict.fromkeys(completed), metric_version_ids, correlation[run_id])

    async def _check(self, event: RecordsProduced) -> None:
        header = await self._runs.header(event.run_id)
        if header is None:
            raise InvalidEvent(f"run {event.run_id} does not exist")
        for record in event.records:
            if record.trial >= header.trials:
                raise InvalidEvent(
                    f"trial {record.trial} is out of range for run {event.run_id} ({header.trials} trials)"
                )
        known = await self._runs.testcases_in_testset({r.testcase_id for r in event.records}, header.testset_id)
        for record in event.records:
            if record.testcase_id not in known:
                raise InvalidEvent(f"testcase {record.testcase_id} is not in the testset of run {event.run_id}")

    async def on_scores_completed(self, events: list[ScoresCompleted]) -> None:
        for run_id in dict.fromkeys(event.run_id for event in events):
            if await self._runs.header(run_id) is None:
                raise InvalidEvent(f"run {run_id} does not exist")
            if await self._runs.advance(run_id) == RunStatus.COMPLETED:
                log.info("run completed", extra={"run_id": str(run_id)})


def checked_steps(record: ProducedRecord) -> ProducedRecord:
    """The record, without its steps when they are not as the API checks them."""
    if not record.spans or spans.well_formed(record.spans):
        return record
    log.warning(
        "a record's steps were not kept: they are not well formed", extra={"testcase_id": str(record.testcase_id)}
    )
    return record.model_copy(update={"spans": []})
