"""Being polite to a remote endpoint: a token bucket on the rate of requests, and how long a
server asks us to wait (``Retry-After``). Shared by the LLM gateway and the system executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; waiters are served in arrival order.

    ``pause_until`` holds every taker back until a moment (a server's Retry-After), so one 429
    slows the whole endpoint rather than each caller finding out for itself.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: one waiter at a time owns the next token

    def set_rate(self, rate: float, burst: int) -> None:
        """Change the rate (e.g. this process's share of a limit over several processes); tokens
        saved so far are kept, up to the new burst."""
        if rate == self._rate and burst == self._burst:
            return
        now = time.monotonic()
        self._tokens = min(float(burst), self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._rate = rate
        self._burst = float(burst)

    def pause_until(self, moment: float) -> None:
        """No token before ``moment`` (``time.monotonic()`` clock)."""
        self._paused_until = max(self._paused_until, moment)

    async def take(self) -> float:
        """Wait for a token; returns the seconds waited."""
        started = time.monotonic()
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    break
                await asyncio.sleep((1 - self._tokens) / self._rate)
        return time.monotonic() - started


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, else ``retry-after`` as seconds or an
    HTTP date; None when absent or unreadable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
