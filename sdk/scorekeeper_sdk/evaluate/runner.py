"""Executes a system over a run's testcases × trials and uploads the records as they come.

Memory stays flat however large the testset: testcases are read a page at a time, at most
``max_concurrency`` calls are in flight, and finished records wait in a bounded queue for the
uploader, which sends them in batches of at most 1,000 (or whatever has waited a second). A slow
upload holds the calls back instead of piling records up.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from scorekeeper_sdk.api.runs import MAX_INGEST, RecordIn, ScoreIn
from scorekeeper_sdk.clients import AsyncScorekeeper
from scorekeeper_sdk.evaluate.outputs import completed, errored
from scorekeeper_sdk.evaluate.progress import Tracker
from scorekeeper_sdk.evaluate.scoring import Scorers, is_async
from scorekeeper_sdk.models import Testcase
from scorekeeper_sdk.tracing import Span, trace
from scorekeeper_sdk.views import Run

log = logging.getLogger("scorekeeper_sdk")

# A system: called with a testcase's inputs, returns its answer (sync or async).
System = Callable[[dict[str, Any]], Any]
Pair = tuple[str, int]

_END = object()
_PAGE = 500


@dataclass
class Tally:
    """What this process did: calls made, how many errored, records uploaded (and refused by the
    server's storage limits: kept as errored records)."""

    calls: int = 0
    errored: int = 0
    uploaded: int = 0
    refused: int = 0


class Runner:
    """Calls one system for the testcase × trial pairs of one run that have no record yet."""

    def __init__(
        self,
        client: AsyncScorekeeper,
        run: Run,
        system: System,
        *,
        max_concurrency: int,
        tracker: Tracker,
        batch_size: int = MAX_INGEST,
        flush_s: float = 1.0,
        scorers: Scorers | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self._client = client
        self._run = run
        self._system = system
        self._async = is_async(system)
        self._limit = max_concurrency
        self._tracker = tracker
        self._batch_size = min(batch_size, MAX_INGEST)
        self._flush_s = flush_s
        self._scorers = scorers
        self._failure: BaseException | None = None
        self.tally = Tally()

    async def execute(self, done: Collection[Pair]) -> Tally:
        """Every pair not in ``done``; on cancellation (Ctrl-C) or failure, what finished is still
        uploaded (best effort) before the exception goes on."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=2 * self._batch_size)
        uploader = asyncio.create_task(self._upload(queue))
        slots = asyncio.Semaphore(self._limit)
        inflight: set[asyncio.Task[None]] = set()
        pool = None if self._async else ThreadPoolExecutor(self._limit, thread_name_prefix="scorekeeper-system")
        try:
            async for testcase in self._client.list_testcases(
                self._run.testset_id, self._run.testset_version, page_size=_PAGE, run_id=self._run.id
            ):
                for trial in range(self._run.trials):
                    if (testcase.id, trial) in done:
                        continue
                    await slots.acquire()
                    if self._failure is not None:
                        slots.release()
                        raise self._failure
                    task = asyncio.create_task(self._one(testcase, trial, queue, slots, pool))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
            await asyncio.gather(*inflight)
            await queue.put(_END)
            await uploader
            if self._failure is not None:
                raise self._failure
            return self.tally
        except BaseException:
            for task in list(inflight):
                task.cancel()
            if not uploader.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._finish(queue, uploader), timeout=30)
            raise
        finally:
            if pool is not None:
                # Threads still inside the system cannot be stopped; they are not waited for.
                pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    async def _finish(queue: asyncio.Queue[object], uploader: asyncio.Task[None]) -> None:
        await queue.put(_END)
        await uploader

    async def _one(
        self,
        testcase: Testcase,
        trial: int,
        queue: asyncio.Queue[object],
        slots: asyncio.Semaphore,
        pool: ThreadPoolExecutor | None,
    ) -> None:
        try:
            record = await self._call(testcase, trial, pool)
            if self._scorers and record.status == "completed":
                record = replace(record, scores=await self._scored(testcase, record, pool))
            self.tally.calls += 1
            self.tally.errored += record.status == "errored"
            self._tracker.called(record.status == "errored")
            await queue.put(record)
        finally:
            slots.release()

    async def _call(self, testcase: Testcase, trial: int, pool: ThreadPoolExecutor | None) -> RecordIn:
        inputs = dict(testcase.inputs)
        started = time.perf_counter()
        steps: list[Span] = []  # the call's steps (scorekeeper_sdk.span), collected where it runs
        try:
            if pool is None:
                with trace() as collected:  # this task's own context: calls in flight never mix steps
                    steps = collected.spans
                    result = await self._system(inputs)
            else:
                # Timed inside the thread: the wait for a free thread is not the system's latency.
                timed = await asyncio.get_running_loop().run_in_executor(pool, self._timed, inputs)
                result, started, steps = timed
                if inspect.isawaitable(result):
                    result = await result
        except _Raised as raised:
            latency_ms = (time.perf_counter() - raised.started) * 1000
            return errored(testcase.id, trial, raised.exc, latency_ms, raised.spans)
        except Exception as exc:
            return errored(testcase.id, trial, exc, (time.perf_counter() - started) * 1000, steps)
        return completed(testcase.id, trial, result, (time.perf_counter() - started) * 1000, steps)

    async def _scored(
        self, testcase: Testcase, record: RecordIn, pool: ThreadPoolExecutor | None
    ) -> dict[str, ScoreIn]:
        """Your scorers' scores of the record: sync ones in the system's threads (inline beside an
        async system), async ones here."""
        assert self._scorers is not None
        outputs = record.outputs or {}
        if pool is None:
            scores = self._scorers.score(testcase, outputs)
        else:
            scores = await asyncio.get_running_loop().run_in_executor(pool, self._scorers.score, testcase, outputs)
        return scores | await self._scorers.ascore(testcase, outputs)

    def _timed(self, inputs: dict[str, Any]) -> tuple[Any, float, list[Span]]:
        started = time.perf_counter()
        with trace() as collected:
            try:
                return self._system(inputs), started, collected.spans
            except Exception as exc:
                raise _Raised(exc, started, collected.spans) from exc

    async def _upload(self, queue: asyncio.Queue[object]) -> None:
        batch: list[RecordIn] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if batch else None
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                item = None
            if item is _END:
                if batch and self._failure is None:
                    await self._send(batch)
                return
            if self._failure is not None:
                continue  # drain, so no call waits forever on a full queue
            if isinstance(item, RecordIn):
                if not batch:
                    deadline = time.monotonic() + self._flush_s
                batch.append(item)
            if batch and (len(batch) >= self._batch_size or item is None):
                try:
                    await self._send(batch)
                except Exception as exc:
                    self._failure = exc
                batch = []

    async def _send(self, batch: list[RecordIn]) -> None:
        result = await self._client.ingest_records(self._run.id, batch)
        self.tally.uploaded += len(batch)
        self._tracker.uploaded(len(batch))
        if result.refused:
            # The server kept them as errored records: the run completes, the outputs are lost.
            self.tally.refused += len(result.refused)
            first = result.refused[0]
            log.warning(
                "%d records' outputs were refused by the server and stored as errored (testcase %s trial %d: %s)",
                len(result.refused),
                first.record.testcase_id,
                first.record.trial,
                first.reason,
            )


class _Raised(Exception):
    """A system's exception carried out of its thread with the time the call started and the
    steps it took."""

    def __init__(self, exc: Exception, started: float, spans: list[Span]) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.started = started
        self.spans = spans
