"""Executing chunks of runs: every testcase × trial once, as record.produced, under three caps —
the run's ``max_concurrency`` over all replicas (a lease, see leases.py), this process's global
cap, and the system's own rate (in the callers).

A chunk is claimed before it is executed (leases.ChunkClaims), so a chunk delivered twice is
executed once while its holder lives. The chunks of one run that a process executes at once
share one ``ActiveRun``: its slots, and a
keeper task that renews the lease and watches the run's status, so a cancelled run stops issuing
calls within ``poll_s`` — calls waiting for a slot, a token or a retry are abandoned, and calls in
flight are cut off and not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.system_executor.execution import Execution, Wait
from services.system_executor.leases import ChunkClaims, LeaseStore, Slots
from services.system_executor.outbox import Outbox, Publish
from services.system_executor.repository import ExecutorRepository, RunPlan, Testcase
from shared.events import ProducedRecord
from shared.json_limits import storable
from shared.messaging.errors import Postpone
from shared.messaging.transport import fetch_next
from shared.run_status import EXECUTABLE

log = logging.getLogger(__name__)

# (plan, testcase, this process's share of the system's request rate, how to wait between
# attempts) → the execution.
CallSystem = Callable[[RunPlan, Testcase, float, Wait], Awaitable[Execution]]


class RunStopped(Exception):
    """The run stopped while a call waited between attempts: the call is abandoned."""


@dataclass
class ActiveRun:
    """One run as this process executes it (shared by its chunks in flight here)."""

    plan: RunPlan
    limit: int
    holder_id: uuid.UUID = field(default_factory=uuid.uuid4)
    slots: Slots = field(default_factory=Slots)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    # Wakes the keeper early: demand changed (a chunk started) or the last chunk left.
    nudge: asyncio.Event = field(default_factory=asyncio.Event)
    # Calls queued or in flight here.
    outstanding: int = 0
    # The part of the system's requests_per_s this process may use (1 / holders of the run).
    rate_share: float = 1.0
    # Claims on the chunks being executed here (renewed with the lease).
    claims: set[uuid.UUID] = field(default_factory=set)
    chunks: int = 0
    keeper: asyncio.Task[None] | None = None
    stop_waiter: asyncio.Task[bool] | None = None


class RunExecutor:
    def __init__(
        self,
        repo: ExecutorRepository,
        leases: LeaseStore,
        claims: ChunkClaims,
        call: CallSystem,
        publish: Publish,
        *,
        global_limit: int,
        default_run_concurrency: int,
        poll_s: float = 0.5,
        batch_records: int = 64,
        batch_linger_s: float = 0.05,
    ) -> None:
        self._repo = repo
        self._leases = leases
        self._claims = claims
        self._call = call
        self._publish = publish
        self._global_limit = global_limit
        self._global = asyncio.Semaphore(global_limit)
        self._default = default_run_concurrency
        self._poll_s = poll_s
        self._batch_records = batch_records
        self._batch_linger_s = batch_linger_s
        self._runs: dict[uuid.UUID, ActiveRun] = {}

    async def execute_chunk(
        self, plan: RunPlan, chunk: int, testcases: list[Testcase], correlation_id: str, retry: int = 0
    ) -> int:
        """Execute the testcase × trial pairs of a chunk (of the run's retry ``retry``) that have no
        record yet; returns how many records were produced now. Postpone when another holder is
        executing the chunk."""
        run = self._enter(plan)
        claim_id = uuid.uuid4()
        try:
            claim = await self._claims.claim(plan.id, chunk, claim_id, retry)
            if not claim.ours:
                if claim.finished:
                    return 0
                raise Postpone(
                    f"chunk {chunk} of run {plan.id} is being executed by another holder",
                    min(max(claim.held_for_s, 0.5), 30.0) + random.uniform(0, 0.5),
                )
            run.claims.add(claim_id)
            finished = False
            try:
                produced = await self._execute(run, testcases, correlation_id)
                finished = True
            finally:
                run.claims.discard(claim_id)
                if finished:
                    await self._claims.finish(plan.id, chunk, claim_id, retry)
                else:
                    with contextlib.suppress(Exception):
                        await self._claims.release(plan.id, chunk, claim_id, retry)
            return produced
        finally:
            self._leave(run)

    async def _execute(self, run: ActiveRun, testcases: list[Testcase], correlation_id: str) -> int:
        plan = run.plan
        pairs = [(t, trial) for t in testcases for trial in range(plan.trials)]
        done = await self._repo.recorded(plan.id, [(t.id, trial) for t, trial in pairs])
        todo = [(t, trial) for t, trial in pairs if (t.id, trial) not in done]
        if not todo:
            return 0
        run.outstanding += len(todo)
        run.nudge.set()
        produced = 0
        outbox = Outbox(
            self._publish, plan.id, correlation_id, max_records=self._batch_records, linger_s=self._batch_linger_s
        )

        busy = _Busy(len(todo))

        async def one(testcase: Testcase, trial: int) -> None:
            nonlocal produced
            try:
                record = await self._execute_one(run, testcase, trial, busy)
                if record is not None:
                    outbox.add(record)
                    produced += 1
            finally:
                run.outstanding -= 1
                busy.down()

        try:
            async with asyncio.TaskGroup() as group:
                for testcase, trial in todo:
                    group.create_task(one(testcase, trial))
        finally:
            await outbox.close()
        if run.stopped.is_set():
            log.info("run stopped; chunk abandoned", extra={"run_id": str(plan.id), "records": produced})
        return produced

    async def _execute_one(self, run: ActiveRun, testcase: Testcase, trial: int, busy: _Busy) -> ProducedRecord | None:
        """The record of one call, or None when the run stopped first."""
        held = _Held(run, self._global, busy)
        if not await held.take():
            return None
        try:
            if run.stopped.is_set():
                return None
            result = await self._until_stopped(run, self._call(run.plan, testcase, run.rate_share, held.idle))
        finally:
            # The slots bound calls to the system; publishing the record does not hold one.
            await held.give_back()
        if result is None:
            return None
        # An answer no consumer could store (too large, too deep, NUL text …) is an errored
        # record naming the limit, decided here, before anything is published.
        record, _ = storable(
            ProducedRecord(
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
                spans=result.spans,
            )
        )
        return record

    @staticmethod
    async def _until_stopped(run: ActiveRun, call: Awaitable[Execution]) -> Execution | None:
        """The call's result, or None when the run stopped first (the call is cut off)."""
        task = asyncio.ensure_future(call)
        assert run.stop_waiter is not None
        await asyncio.wait({task, run.stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            try:
                return task.result()
            except RunStopped:
                return None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None

    # -- the run's shared state --------------------------------------------------------------

    def _enter(self, plan: RunPlan) -> ActiveRun:
        run = self._runs.get(plan.id)
        if run is None:
            run = self._runs[plan.id] = ActiveRun(plan, plan.max_concurrency or self._default)
            run.stop_waiter = asyncio.create_task(run.stopped.wait())
            run.keeper = asyncio.create_task(self._keep(run))
        run.chunks += 1
        return run

    def _leave(self, run: ActiveRun) -> None:
        run.chunks -= 1
        if run.chunks == 0:
            # The keeper gives the lease back; a chunk arriving meanwhile starts a new holder.
            if self._runs.get(run.plan.id) is run:
                del self._runs[run.plan.id]
            run.nudge.set()

    async def _keep(self, run: ActiveRun) -> None:
        """Renew the run's lease and watch its status until no chunk of it is left here."""
        run_id = run.plan.id
        failing = False
        try:
            while run.chunks > 0:
                # Cleared before the state is read: a nudge during the renewal (a chunk that just
                # queued its calls) is seen at once, not after poll_s.
                run.nudge.clear()
                try:
                    status = await self._repo.run_status(run_id)
                    if status not in EXECUTABLE:
                        log.info("run no longer executable; stopping its calls", extra={"run_id": str(run_id)})
                        run.stopped.set()
                        await run.slots.wake()
                        return
                    wanted = min(self._global_limit, run.outstanding)
                    # Until the grant is applied, calls may still start up to the capacity.
                    holding = max(run.slots.capacity, run.slots.in_use)
                    granted = await self._leases.renew(run_id, run.holder_id, run.limit, wanted, holding)
                    await run.slots.resize(granted.slots)
                    run.rate_share = 1 / granted.holders
                    if run.claims:
                        await self._claims.renew(run_id, list(run.claims))
                    failing = False
                except Exception:
                    # The database is unreachable: keep the slots held (their lease lapses if
                    # this lasts) and try again at the next tick.
                    if not failing:
                        log.warning("could not renew the run's execution lease", exc_info=True)
                    failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.nudge.wait(), self._poll_s)
        finally:
            if run.stop_waiter is not None:
                run.stop_waiter.cancel()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leases.release(run_id, run.holder_id))


class _Held:
    """The slots one call holds: one of its run's and one of this process's. They are given back
    while the call waits between attempts (a retry's backoff, seconds long), so the run's other
    calls go on meanwhile: ``max_concurrency`` bounds the calls the system is answering, not
    those waiting to try again."""

    def __init__(self, run: ActiveRun, process: asyncio.Semaphore, busy: _Busy) -> None:
        self._run = run
        self._process = process
        self._busy = busy
        self._held = False

    async def take(self) -> bool:
        """Wait for both slots; False (holding none) once the run stopped."""
        if not await self._run.slots.acquire(self._run.stopped):
            return False
        try:
            await self._process.acquire()
        except BaseException:
            await self._run.slots.release()
            raise
        self._held = True
        return True

    async def give_back(self) -> None:
        if self._held:
            self._held = False
            self._process.release()
            await self._run.slots.release()

    async def idle(self, seconds: float) -> None:
        """Wait ``seconds`` holding no slot, then take them again (RunStopped if the run stopped)."""
        await self.give_back()
        self._busy.down()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._busy.up()
        if not await self.take():
            raise RunStopped


class _Busy:
    """How many calls of a chunk wait for a slot or are in flight. When none is — every call left
    waits to try again, seconds long — the chunk lets its pull loop fetch another chunk meanwhile
    (transport.fetch_next), so a run's chunks do not all wait on their retries at once."""

    def __init__(self, calls: int) -> None:
        self._calls = calls

    def down(self) -> None:
        self._calls -= 1
        if self._calls == 0:
            fetch_next()

    def up(self) -> None:
        self._calls += 1
