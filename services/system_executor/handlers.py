"""Subscriber of the system-executor: run.created → one record.produced per testcase × trial."""

from __future__ import annotations

import logging

from services.system_executor.executor import RunExecutor
from services.system_executor.repository import ExecutorRepository
from shared.events import RunCreated
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent

log = logging.getLogger(__name__)

EXECUTABLE_STATUSES = {"pending", "awaiting_execution", "running_execution"}


class ExecutorHandlers:
    def __init__(self, repo: ExecutorRepository, executor: RunExecutor, bus: Bus) -> None:
        self._repo = repo
        self._executor = executor
        self._bus = bus

    def register(self) -> None:
        self._bus.subscribe(RunCreated, self.on_run_created)

    async def on_run_created(self, event: RunCreated) -> None:
        plan = await self._repo.run_plan(event.run_id)
        if plan is None:
            raise InvalidEvent(f"run {event.run_id} does not exist")
        if plan.status not in EXECUTABLE_STATUSES:
            log.info("run needs no execution", extra={"run_id": str(plan.id), "status": plan.status})
            return
        if plan.system_kind == "sdk":
            log.info("sdk system: the client executes it and ingests the records", extra={"run_id": str(plan.id)})
            return
        if plan.system_kind not in ("http", "llm"):
            raise InvalidEvent(f"system kind {plan.system_kind!r} cannot be executed by this executor")
        produced = await self._executor.execute(plan, event.correlation_id)
        log.info("run executed", extra={"run_id": str(plan.id), "records": produced})
