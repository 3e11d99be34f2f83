"""Executing a run: every testcase × trial once, with bounded concurrency, as record.produced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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
    ) -> None:
        self._repo = repo
        self._call = call
        self._publish = publish
        self._global = global_limit
        self._default = default_run_concurrency

    async def execute(self, plan: RunPlan, correlation_id: str) -> int:
        """Returns how many records were produced now (already recorded ones are skipped)."""
        done = await self._repo.done(plan.id)
        run_limit = asyncio.Semaphore(plan.max_concurrency or self._default)
        produced = 0

        async def one(testcase: Testcase, trial: int) -> None:
            nonlocal produced
            async with run_limit, self._global:
                result = await self._call(plan, testcase)
                await self._publish(
                    RecordProduced(
                        run_id=plan.id,
                        testcase_id=testcase.id,
                        trial=trial,
                        inputs=testcase.inputs,
                        expected=testcase.expected,
                        outputs=result.outputs,
                        status=result.status,
                        error=result.error,
                        latency_ms=result.latency_ms,
                        correlation_id=correlation_id,
                    )
                )
                produced += 1

        async for batch in self._repo.testcases(plan.testset_id):
            async with asyncio.TaskGroup() as group:
                for testcase in batch:
                    for trial in range(plan.trials):
                        if (testcase.id, trial) not in done:
                            group.create_task(one(testcase, trial))
        return produced
