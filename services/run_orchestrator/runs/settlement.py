"""What the orchestrator does with the events that were dead-lettered, so that no run waits for
them: whatever made an event fail for good, its run still ends, with exact counts and the reason.

- ``run.created``: the run could not be planned; it fails, naming why. A retry's (``retry`` > 0)
  leaves the run as it was: the records it waited for become errored again.
- ``chunk.requested``: the chunk's testcase × trial pairs without a record become errored records.
- ``record.produced``: its records become errored records (their outputs are not kept).
- ``score.completed``: the run's status is worked out again from its counts.

Each is idempotent (deterministic record ids, ``ON CONFLICT DO NOTHING``), as every handler.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from services.run_orchestrator.runs.attempts import AttemptRepository
from services.run_orchestrator.runs.repository import RunRepository
from shared.events import DeadLetter, ProducedRecord
from shared.json_limits import clean_text, storable
from shared.messaging import dead_letters
from shared.messaging.bus import Bus
from shared.run_status import LIVE, TERMINAL, RunStatus
from shared.topics import Topic

log = logging.getLogger(__name__)


class Settlement:
    def __init__(self, runs: RunRepository, attempts: AttemptRepository) -> None:
        self._runs = runs
        self._attempts = attempts

    def register(self, bus: Bus) -> None:
        bus.subscribe_dead_letters(Topic.RUN_CREATED, self.run_created)
        bus.subscribe_dead_letters(Topic.CHUNK_REQUESTED, self.chunk_requested)
        bus.subscribe_dead_letters(Topic.RECORD_PRODUCED, self.record_produced)
        bus.subscribe_dead_letters(Topic.SCORE_COMPLETED, self.score_completed)

    async def run_created(self, letter: DeadLetter) -> None:
        found = dead_letters.ids(letter, "run_id")
        if found is None:
            return
        if dead_letters.integer(letter, "retry"):
            await self.retry_abandoned(found["run_id"], f"the retry could not be planned: {letter.error}")
            return
        error = clean_text(f"the run could not be planned: {letter.error}")
        row = await self._runs.set_status(found["run_id"], RunStatus.FAILED, only_from=tuple(LIVE), error=error)
        if row is not None:
            log.warning("run failed: its run.created was dead-lettered", extra={"run_id": str(found["run_id"])})

    async def chunk_requested(self, letter: DeadLetter) -> None:
        found = dead_letters.ids(letter, "run_id")
        first = dead_letters.integer(letter, "first_position")
        last = dead_letters.integer(letter, "last_position")
        if found is None or first is None or last is None:
            return
        header = await self._runs.header(found["run_id"])
        if header is None:
            return
        testcases = await self._runs.testcases_between(header.testset_id, header.testset_version, first, last)
        error = f"the chunk of testcases could not be executed: {letter.error}"
        await self._errored(header.id, [(t, trial) for t in testcases for trial in range(header.trials)], error)

    async def record_produced(self, letter: DeadLetter) -> None:
        """Schema version 2 lists its records; version 1 is one record at the top level."""
        found = dead_letters.ids(letter, "run_id")
        if found is None:
            return
        header = await self._runs.header(found["run_id"])
        if header is None:
            return
        keys = dead_letters.each(letter, "records", "testcase_id", "trial")
        if not keys:
            one = dead_letters.ids(letter, "testcase_id")
            trial = dead_letters.integer(letter, "trial")
            keys = [{"testcase_id": str(one["testcase_id"]), "trial": trial}] if one and trial is not None else []
        pairs: list[tuple[uuid.UUID, int]] = []
        for key in keys:
            try:
                testcase_id, trial = uuid.UUID(str(key["testcase_id"])), key["trial"]
            except ValueError:
                continue
            if isinstance(trial, int) and not isinstance(trial, bool) and 0 <= trial < header.trials:
                pairs.append((testcase_id, trial))
        revisions = await self._runs.testcases_at(
            header.testset_id, header.testset_version, list({t for t, _ in pairs})
        )
        error = f"the record could not be stored: {letter.error}"
        await self._errored(header.id, [(revisions[t], trial) for t, trial in pairs if t in revisions], error)

    async def retry_abandoned(self, run_id: uuid.UUID, error: str) -> None:
        """A retry that cannot go on: the records it waited for are errored again (naming why), so
        the run finishes as it was, and may be retried later."""
        pending = await self._attempts.pending_records(run_id)
        await self._errored(run_id, [(record, record["trial"]) for record in pending], error)

    async def score_completed(self, letter: DeadLetter) -> None:
        found = dead_letters.ids(letter, "run_id")
        if found is None:
            return
        await self._runs.advance(found["run_id"])

    async def _errored(self, run_id: uuid.UUID, pairs: list[tuple[asyncpg.Record, int]], error: str) -> None:
        """Errored records for the testcase × trial pairs that have no record yet."""
        if not pairs:
            return
        records = [
            storable(
                ProducedRecord(
                    testcase_id=testcase["testcase_id"],
                    trial=trial,
                    inputs=testcase["inputs"],
                    expected=testcase["expected"],
                    metadata=testcase["metadata"],
                    status="errored",
                    error=error,
                )
            )[0]
            for testcase, trial in pairs
        ]
        await self._runs.save_records(run_id, records)
        status = await self._runs.advance(run_id)
        if status in TERMINAL:
            log.info("run finished", extra={"run_id": str(run_id), "status": status})
