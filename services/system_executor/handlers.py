"""Subscribers of the system-executor.

run.created → the run planned into chunks of testcases, each a chunk.requested event;
chunk.requested (shared by every replica's consumer) → one record.produced per testcase × trial.
"""

from __future__ import annotations

import logging
import uuid

from services.system_executor.executor import RunExecutor
from services.system_executor.planning import retry_chunks
from services.system_executor.repository import ExecutorRepository, RunPlan
from shared.events import ChunkRequested, RunCreated
from shared.ids import chunk_event_id
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.run_status import EXECUTABLE
from shared.system_kinds import SYSTEM_KINDS

log = logging.getLogger(__name__)


class ExecutorHandlers:
    def __init__(
        self,
        repo: ExecutorRepository,
        executor: RunExecutor,
        bus: Bus,
        *,
        chunk_calls: int,
        run_concurrency: int,
        chunk_concurrency: int,
        kinds: frozenset[str],
    ) -> None:
        self._repo = repo
        self._executor = executor
        self._bus = bus
        self._chunk_calls = chunk_calls
        self._run_concurrency = run_concurrency
        self._chunk_concurrency = chunk_concurrency
        # The system kinds this executor has a caller for.
        self._kinds = kinds

    def register(self) -> None:
        self._bus.subscribe(RunCreated, self.on_run_created, concurrency=self._run_concurrency)
        # A chunk's handler runs long: fetched only when it can start at once.
        self._bus.subscribe(
            ChunkRequested, self.on_chunk_requested, concurrency=self._chunk_concurrency, prefetch=False
        )

    async def on_run_created(self, event: RunCreated) -> None:
        plan = await self._executable(event.run_id)
        if plan is None:
            return
        # A chunk holds about chunk_calls calls, whatever the number of trials.
        size = max(1, self._chunk_calls // plan.trials)
        if event.retry:
            # A retry executes only the testcases whose records wait for it.
            positions = await self._repo.pending_positions(plan.id, plan.testset_id, plan.testset_version)
            chunks = retry_chunks(positions, size)
        else:
            chunks = await self._repo.chunks(
                plan.testset_id, plan.testset_version, size, plan.id if plan.subset else None
            )
        for index, bounds in enumerate(chunks):
            chunk = ChunkRequested(
                event_id=chunk_event_id(plan.id, index, event.retry),
                correlation_id=event.correlation_id,
                run_id=plan.id,
                project_id=event.project_id,
                chunk=index,
                chunks=len(chunks),
                first_position=bounds.first_position,
                last_position=bounds.last_position,
                testcases=bounds.testcases,
                retry=event.retry,
            )
            # Keyed by chunk, so Kafka spreads one run's chunks over the partitions.
            await self._bus.publish(chunk, key=f"{plan.id}:{event.retry}:{index}", deduplicate=True)
        log.info(
            "run planned",
            extra={"run_id": str(plan.id), "chunks": len(chunks), "chunk_size": size, "retry": event.retry},
        )

    async def on_chunk_requested(self, event: ChunkRequested) -> None:
        if event.first_position > event.last_position:
            raise InvalidEvent(f"chunk {event.chunk} of run {event.run_id} has no positions")
        plan = await self._executable(event.run_id)
        if plan is None:
            return
        testcases = await self._repo.testcases(
            plan.testset_id,
            plan.testset_version,
            event.first_position,
            event.last_position,
            plan.id if plan.subset else None,
        )
        produced = await self._executor.execute_chunk(plan, event.chunk, testcases, event.correlation_id, event.retry)
        log.info(
            "chunk executed",
            extra={"run_id": str(plan.id), "chunk": event.chunk, "chunks": event.chunks, "records": produced},
        )

    async def _executable(self, run_id: uuid.UUID) -> RunPlan | None:
        """The run's plan when this executor has calls to make for it, else None (logged)."""
        plan = await self._repo.run_plan(run_id)
        if plan is None:
            raise InvalidEvent(f"run {run_id} does not exist")
        if plan.status not in EXECUTABLE:
            log.info("run needs no execution", extra={"run_id": str(plan.id), "status": plan.status})
            return None
        kind = SYSTEM_KINDS.get(plan.system_kind)
        if kind is not None and not kind.executed_by_platform:
            log.info("a client executes this system and ingests the records", extra={"run_id": str(plan.id)})
            return None
        if kind is None or plan.system_kind not in self._kinds:
            raise InvalidEvent(f"system kind {plan.system_kind!r} cannot be executed by this executor")
        return plan
