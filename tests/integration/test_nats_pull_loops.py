"""Pull loops on a real NATS JetStream: a long handler that calls transport.fetch_next lets its
loop fetch the next message while it goes on, up to twice the loops in all, and still settles its
own message (acknowledged once, never delivered again)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from shared.events import RunCreated
from shared.messaging.bus import Bus
from shared.messaging.transport import fetch_next

pytestmark = [pytest.mark.asyncio, pytest.mark.nats]


async def test_a_handler_that_frees_its_loop_lets_it_fetch_more_up_to_a_bound(nats_url: str, topic_prefix: str) -> None:
    handling: Counter[uuid.UUID] = Counter()
    running = 0
    most_running = 0
    release = asyncio.Event()

    async def handle(event: RunCreated) -> None:
        nonlocal running, most_running
        handling[event.run_id] += 1
        running += 1
        most_running = max(most_running, running)
        try:
            fetch_next()  # nothing to do for a while: let the loop fetch another
            await release.wait()
        finally:
            running -= 1

    bus = Bus(nats_url, service="executor", topic_prefix=topic_prefix, ack_wait_s=30)
    bus.subscribe(RunCreated, handle, concurrency=1, prefetch=False)
    publisher = Bus(nats_url, service="orchestrator", topic_prefix=topic_prefix)
    await bus.start()
    await publisher.start()
    try:
        runs = [uuid.uuid4() for _ in range(5)]
        for run in runs:
            await publisher.publish(RunCreated(run_id=run, project_id=uuid.uuid4()))
        # One loop: the message it holds plus two that freed it.
        async with asyncio.timeout(10):
            while running < 3:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert (running, bus.inflight) == (3, 3)

        release.set()
        async with asyncio.timeout(10):
            while sum(handling.values()) < 5 or bus.inflight:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        assert handling == Counter({run: 1 for run in runs})
        assert most_running == 3
    finally:
        await bus.drain(5)
        await publisher.drain(5)
