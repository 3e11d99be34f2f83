"""``client.log(…)``: production calls batched and sent in the background.

Logging sits on your application's request path, so it never waits and never raises: ``log()``
appends the call to a bounded buffer (a lock held for an append) and returns its call id. A sender
task on the client's event loop sends the buffer in batches of up to 1,000 calls (LogCalls) as
soon as a batch is full or ``flush_interval_s`` has passed. While the server is away (unreachable,
503, a deadline) the batch in hand is retried with backoff, and once the buffer holds
``max_buffer`` calls new ones are dropped and counted (``stats().dropped``). A batch the server
refuses for good (a bad key, a project that does not exist) is dropped and counted too, with the
error in ``stats().last_error``. Calls carry their id, so a batch sent twice is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scorekeeper_sdk.api.monitors import MAX_CALLS, CallIn
from scorekeeper_sdk.errors import DeadlineExceeded, ScorekeeperError, ServerError, Unavailable

log = logging.getLogger("scorekeeper_sdk.call_log")

# Sends one batch of calls of one project; raises the SDK's errors.
Send = Callable[[str, list[CallIn]], Awaitable[object]]
# The project calls without one of their own are logged to (resolved once, on the loop).
ResolveProject = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class LogOptions:
    """How ``client.log`` buffers and sends."""

    max_buffer: int = 10_000
    batch_size: int = MAX_CALLS
    flush_interval_s: float = 1.0
    # The longest wait between two tries of a batch while the server is away.
    max_backoff_s: float = 30.0
    # close() waits this long for the buffer to be sent; what is left then is dropped (counted).
    close_timeout_s: float = 5.0


@dataclass(frozen=True)
class LogStats:
    """Counts since the client was made: calls logged (taken into the buffer), sent (the server
    answered for them), dropped (buffer full, refused, or left at close) and pending now."""

    logged: int
    sent: int
    dropped: int
    pending: int
    last_error: str


class CallLog:
    """The buffer and its sender (one per client)."""

    def __init__(self, send: Send, project: ResolveProject, options: LogOptions | None = None) -> None:
        self._send = send
        self._resolve_project = project
        self.options = options or LogOptions()
        self._lock = threading.Lock()
        self._buffer: deque[tuple[str, CallIn]] = deque()
        self._in_flight = 0
        self._logged = self._sent = self._dropped = 0
        self._last_error = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._closed = False
        self._project: str | None = None

    # -- any thread ------------------------------------------------------------------------------

    def add(self, call: CallIn, loop: asyncio.AbstractEventLoop, project_id: str = "") -> bool:
        """Take the call into the buffer (False: dropped, the buffer being full or the log closed)."""
        with self._lock:
            if self._closed or len(self._buffer) >= self.options.max_buffer:
                self._dropped += 1
                return False
            self._buffer.append((project_id, call))
            self._logged += 1
            full = len(self._buffer) == self.options.batch_size
            start = self._loop is None
            if start:
                self._loop = loop
        if start:
            loop.call_soon_threadsafe(self._start)
        elif full:
            self._poke()
        return True

    def refuse(self, reason: str) -> None:
        """A call that could not be taken (no loop to send it from): dropped, with the reason."""
        with self._lock:
            self._dropped += 1
            self._last_error = reason

    def stats(self) -> LogStats:
        with self._lock:
            pending = len(self._buffer) + self._in_flight
            return LogStats(self._logged, self._sent, self._dropped, pending, self._last_error)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # -- the loop --------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None:
            self._wake, self._idle = asyncio.Event(), asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="scorekeeper-call-log")

    async def _run(self) -> None:
        assert self._wake is not None and self._idle is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.flush_interval_s)
            self._wake.clear()
            await self._drain()

    def _take(self) -> list[tuple[str, CallIn]]:
        with self._lock:
            batch = [self._buffer.popleft() for _ in range(min(self.options.batch_size, len(self._buffer)))]
            self._in_flight = len(batch)
            if not batch and self._idle is not None:
                self._idle.set()
            return batch

    async def _drain(self) -> None:
        while batch := self._take():
            assert self._idle is not None
            self._idle.clear()
            by_project: dict[str, list[CallIn]] = {}
            for project, call in batch:
                by_project.setdefault(project, []).append(call)
            for project, calls in by_project.items():
                await self._deliver(project, calls)
            with self._lock:
                self._in_flight = 0

    async def _deliver(self, project: str, calls: list[CallIn]) -> None:
        """Send until the server answers; drop (and count) what it refuses for good."""
        attempt = 0
        while True:
            try:
                await self._send(project or await self._default_project(), calls)
            except (Unavailable, DeadlineExceeded, ServerError) as exc:
                self._note(exc)
                attempt += 1
                await asyncio.sleep(random.uniform(0, min(self.options.max_backoff_s, 0.5 * 2**attempt)))
                continue
            except (ScorekeeperError, ValueError) as exc:
                self._note(exc)
                log.warning("scorekeeper: %d logged calls dropped: %s", len(calls), exc)
                with self._lock:
                    self._dropped += len(calls)
                return
            with self._lock:
                self._sent += len(calls)
            return

    def _note(self, exc: Exception) -> None:
        with self._lock:
            self._last_error = f"{type(exc).__name__}: {exc}"

    async def _default_project(self) -> str:
        if self._project is None:
            self._project = await self._resolve_project()
        return self._project

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Send what is buffered now; True once nothing is pending, False at the timeout (call it on
        the client's loop)."""
        if self._loop is not None:
            self._start()  # the scheduled start may not have run yet
        if self._task is None or self._idle is None or self._wake is None:
            return self.stats().pending == 0
        self._idle.clear()
        self._wake.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Flush (for ``close_timeout_s`` at most), stop the sender, and count what is left as dropped."""
        await self.flush(self.options.close_timeout_s)
        with self._lock:
            self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with self._lock:
            self._dropped += len(self._buffer) + self._in_flight
            self._buffer.clear()
            self._in_flight = 0
