"""Per-endpoint politeness: a cap on attempts in flight and a token bucket on their rate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shared.throttle import TokenBucket


class EndpointLimiter:
    """The concurrency cap and token bucket of one endpoint in this process."""

    def __init__(self, max_concurrency: int, rate: float, burst: int) -> None:
        self._slots = asyncio.Semaphore(max_concurrency)
        self.bucket = TokenBucket(rate, burst)

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[float]:
        """Hold a slot, then take a token (so the request goes out as soon as it has one); yields
        the seconds spent waiting for the token. The slot is not held while backing off."""
        async with self._slots:
            yield await self.bucket.take()
