"""Subscribers of the run-orchestrator: persist records, fan out scoring, advance runs."""

from __future__ import annotations

import logging

from services.run_orchestrator.runs.repository import RunRepository
from services.run_orchestrator.runs.scoring import ScoreRequests
from services.run_orchestrator.runs.settlement import Settlement
from shared.events import RecordProduced, ScoreCompleted
from shared.json_limits import storable
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.run_status import RunStatus

log = logging.getLogger(__name__)


class OrchestratorHandlers:
    def __init__(self, runs: RunRepository, bus: Bus, scores: ScoreRequests, settlement: Settlement) -> None:
        self._runs = runs
        self._bus = bus
        self._scores = scores
        self._settlement = settlement

    def register(self) -> None:
        self._bus.subscribe(RecordProduced, self.on_record_produced)
        self._bus.subscribe(ScoreCompleted, self.on_score_completed)
        self._settlement.register(self._bus)

    async def on_record_produced(self, event: RecordProduced) -> None:
        header = await self._runs.header(event.run_id)
        if header is None:
            raise InvalidEvent(f"run {event.run_id} does not exist")
        if event.trial >= header.trials:
            raise InvalidEvent(f"trial {event.trial} is out of range for run {event.run_id} ({header.trials} trials)")
        if not await self._runs.testcase_in_testset(event.testcase_id, header.testset_id):
            raise InvalidEvent(f"testcase {event.testcase_id} is not in the testset of run {event.run_id}")
        # An event from a client that did not check its outputs: the record is kept as errored.
        event, _ = storable(event)
        record_id, _ = await self._runs.save_record(event)
        if event.status != "completed":
            return
        run_status, metric_version_ids = await self._runs.scoring_targets(event.run_id)
        if run_status == RunStatus.CANCELLED:
            return
        # Published on every delivery, not only the first: if an earlier delivery committed the
        # record but died before publishing, the redelivery still requests the scores.
        await self._scores.for_records(event.run_id, [record_id], metric_version_ids, event.correlation_id)

    async def on_score_completed(self, event: ScoreCompleted) -> None:
        if await self._runs.header(event.run_id) is None:
            raise InvalidEvent(f"run {event.run_id} does not exist")
        if await self._runs.advance(event.run_id) == RunStatus.COMPLETED:
            log.info("run completed", extra={"run_id": str(event.run_id)})
