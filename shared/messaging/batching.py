"""Deliveries of one topic gathered into batches, so that a handler does one transaction and one
publish per batch instead of per message.

Each delivery still gets its own decision (shared/messaging/policy.py): the batcher hands every
submitter the outcome of the batch its event went into. When a batch fails for a reason other
than an outage, its events are handled again one by one, so that a poison message is retried or
dead-lettered alone while the rest of the batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.messaging.policy import Decision

E = TypeVar("E")

# Handles a batch: the decision for each of its events, in order.
HandleBatch = Callable[[list[E]], Awaitable[list[Decision]]]


@dataclass
class _Pending(Generic[E]):
    events: list[E] = field(default_factory=list)
    futures: list[asyncio.Future[Decision]] = field(default_factory=list)


class Batcher(Generic[E]):
    """Submitted events wait at most ``linger_s`` for others; a batch holds at most ``max_batch``.

    A batch is handed over as soon as it is full, or when the wait is over; batches run
    concurrently (the transport bounds how many deliveries are in flight)."""

    def __init__(self, handle: HandleBatch[E], *, max_batch: int, linger_s: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._handle = handle
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._pending: _Pending[E] = _Pending()
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, event: E) -> Decision:
        """The decision for ``event``, once the batch it went into was handled."""
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending.events.append(event)
        self._pending.futures.append(future)
        if len(self._pending.events) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, _Pending()
        if not batch.events:
            return
        task = asyncio.create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: _Pending[E]) -> None:
        try:
            decisions = await self._handle(batch.events)
        except BaseException as exc:  # the handler wrapper decides everything; this is a bug
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for future, decision in zip(batch.futures, decisions, strict=True):
            if not future.done():
                future.set_result(decision)

    async def close(self) -> None:
        """Hand over what is waiting and wait for every batch to be handled."""
        self._flush()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._running, return_exceptions=True)
