"""A chunk's records on their way to the bus: packed into record.produced batches
(shared/record_batches.py), published when a batch is full or ``linger_s`` after its first record,
so a slow system's records still show up promptly.

A publish that fails fails the chunk (``close`` raises it): the chunk is redelivered and its
records that never arrived are executed again — never acknowledged while records are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from shared.events import ProducedRecord, RecordsProduced
from shared.record_batches import RecordPacker

Publish = Callable[[RecordsProduced], Coroutine[Any, Any, None]]


class Outbox:
    def __init__(
        self, publish: Publish, run_id: uuid.UUID, correlation_id: str, *, max_records: int, linger_s: float
    ) -> None:
        self._publish = publish
        self._packer = RecordPacker(run_id, correlation_id, max_records=max_records)
        self._linger_s = linger_s
        self._timer: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    def add(self, record: ProducedRecord) -> None:
        """Queue a storable record; raises the failure of an earlier publish, if any."""
        if self._failure is not None:
            raise self._failure
        for event in self._packer.add(record):
            self._send(event)
        if len(self._packer) and self._timer is None:
            self._timer = asyncio.create_task(self._linger())

    async def close(self) -> None:
        """Publish what is left and wait for every publish; raises the first that failed."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if (event := self._packer.take()) is not None:
            self._send(event)
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._failure is not None:
            raise self._failure

    async def _linger(self) -> None:
        await asyncio.sleep(self._linger_s)
        self._timer = None
        if (event := self._packer.take()) is not None:
            self._send(event)

    def _send(self, event: RecordsProduced) -> None:
        task = asyncio.create_task(self._publish(event))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
