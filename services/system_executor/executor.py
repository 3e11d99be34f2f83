"""Executing a run: every testcase × trial once, with bounded concurrency, as record.produced."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from services.system_executor.http_system import Execution
from services.system_executor.repository import ExecutorRepository, RunPlan, Testcase
from shared.events import RecordProduced

log = logging.getLogger(__name__)

CallSystem = Callable[[RunPlan, Testcase], Awaitable[Execution]]
Publish = Callable[[RecordProduced], Awaitable[None]]


class RunExecutor:
    """Runs calls under two caps: the run's own concurrency and this process's global one."""

    def __init__(
        self,
        repo: ExecutorRepository,
        call: CallSystem,
        publish: Publish,
        *,
        global_limit: asyncio.Semaphore,
        default_run_concurrency: int,
        cancel_poll_s: float = 0.5,
    ) -> None:
        self._repo = repo
        self._call = call
        self._publish = publish
        self._global = global_limit
        self._default = default_run_concurrency
        self._cancel_poll_s = cancel_poll_s

    async def execute(self, plan: RunPlan, correlation_id: str) -> int:
        """Returns how many records were produced now (already recorded ones are skipped).

        A cancelled run stops issuing calls within ``cancel_poll_s``: calls already in flight
        finish and are recorded, no new one starts.
        """
        done = await self._repo.done(plan.id)
        run_limit = asyncio.Semaphore(plan.max_concurrency or self._default)
        produced = 0
        cancelled = asyncio.Event()
        watcher = asyncio.create_task(self._watch_cancel(plan, cancelled))

        async def one(testcase: Testcase, trial: int) -> None:
            nonlocal produced
            async with run_limit, self._global:
                if cancelled.is_set():
                    return
                result = await self._call(plan, testcase)
                await self._publish(
                    RecordProduced(
                        run_id=plan.id,
                        testcase_id=testcase.id,
                        trial=trial,
                        inputs=testcase.inputs,
                        expected=testcase.expected,
                        metadata=testcase.metadata,
                        outputs=result.outputs,
                        status=result.status,
                        error=result.error,
                        latency_ms=result.latency_ms,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                        cost_usd=result.cost_usd,
                        correlation_id=correlation_id,
                    )
                )
                produced += 1

        try:
            await self._execute_batches(plan, done, one, cancelled)
        finally:
            watcher.cancel()
        if cancelled.is_set():
            log.info("run cancelled; stopped issuing calls", extra={"run_id": str(plan.id), "records": produced})
        return produced

    async def _watch_cancel(self, plan: RunPlan, cancelled: asyncio.Event) -> None:
        while not cancelled.is_set():
            await asyncio.sleep(self._cancel_poll_s)
            if await self._repo.run_status(plan.id) == "cancelled":
                cancelled.set()

    async def _execute_batches(
        self,
        plan: RunPlan,
        done: set[tuple[uuid.UUID, int]],
        one: Callable[[Testcase, int], Coroutine[Any, Any, None]],
        cancelled: asyncio.Event,
    ) -> None:
        async for batch in self._repo.testcases(plan.testset_id, plan.testset_version):
            if cancelled.is_set():
                return
            async with asyncio.TaskGroup() as group:
                for testcase in batch:
                    for trial in range(plan.trials):
                        if (testcase.id, trial) not in done:
                            group.create_task(one(testcase, trial))
