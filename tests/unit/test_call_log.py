"""client.log's buffer and sender against a scripted server: never waits, batches, retries while the
server is away, drops and counts when full or refused, sends what is left on flush and close."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from scorekeeper_sdk.api.monitors import CallIn
from scorekeeper_sdk.call_log import CallLog, LogOptions
from scorekeeper_sdk.errors import NotFound, Unavailable


class Server:
    """Answers LogCalls as scripted: ``down`` raises Unavailable, ``refuse`` raises NotFound."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.batches: list[tuple[str, list[str]]] = []

    async def send(self, project: str, calls: list[CallIn]) -> None:
        await asyncio.sleep(0.001)
        if self.down:
            raise Unavailable("cannot reach Scorekeeper")
        if self.refuse:
            raise NotFound("project p does not exist")
        self.batches.append((project, [c.call_id for c in calls]))


async def _project() -> str:
    return "default-project"


def _calls(n: int) -> list[CallIn]:
    return [CallIn(inputs={"i": i}) for i in range(n)]


async def test_calls_go_out_in_batches_of_at_most_the_batch_size_each_once() -> None:
    server = Server()
    log = CallLog(server.send, _project, LogOptions(batch_size=100, flush_interval_s=0.05))
    calls = _calls(1050)
    loop = asyncio.get_running_loop()
    for call in calls:
        assert log.add(call, loop)
    assert await log.flush(10)
    sent = [c for _, batch in server.batches for c in batch]
    assert sorted(sent) == sorted(c.call_id for c in calls)
    assert max(len(b) for _, b in server.batches) == 100
    assert {p for p, _ in server.batches} == {"default-project"}
    stats = log.stats()
    assert (stats.logged, stats.sent, stats.dropped, stats.pending) == (1050, 1050, 0, 0)
    await log.close()


async def test_a_call_for_another_project_goes_to_that_project() -> None:
    server = Server()
    log = CallLog(server.send, _project, LogOptions(flush_interval_s=0.05))
    loop = asyncio.get_running_loop()
    log.add(CallIn(), loop, "p2")
    log.add(CallIn(), loop)
    assert await log.flush(5)
    assert sorted(p for p, _ in server.batches) == ["default-project", "p2"]
    await log.close()


async def test_while_the_server_is_away_logging_never_waits_and_a_full_buffer_drops_and_counts() -> None:
    server = Server()
    server.down = True
    log = CallLog(server.send, _project, LogOptions(max_buffer=500, batch_size=100, flush_interval_s=0.05))
    loop = asyncio.get_running_loop()
    log.add(CallIn(), loop)
    await asyncio.sleep(0.2)  # the sender holds the first batch and retries it
    started = time.perf_counter()
    taken = sum(log.add(call, loop) for call in _calls(5000))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed  # ~10 µs a call; nothing waits for the server
    assert taken == 500
    stats = log.stats()
    assert stats.dropped == 4500 and stats.pending == 501 and stats.sent == 0
    assert "Unavailable" in stats.last_error
    assert not await log.flush(0.2)
    server.down = False  # the server is back: everything taken is sent
    assert await log.flush(30)
    assert log.stats().sent == 501 and len({c for _, b in server.batches for c in b}) == 501
    await log.close()


async def test_a_batch_the_server_refuses_for_good_is_dropped_and_counted() -> None:
    server = Server()
    server.refuse = True
    log = CallLog(server.send, _project, LogOptions(flush_interval_s=0.05))
    loop = asyncio.get_running_loop()
    for call in _calls(30):
        log.add(call, loop)
    assert await log.flush(5)
    stats = log.stats()
    assert (stats.sent, stats.dropped, stats.pending) == (0, 30, 0)
    assert "project p does not exist" in stats.last_error
    await log.close()


async def test_close_waits_its_timeout_then_counts_what_is_left_as_dropped() -> None:
    server = Server()
    server.down = True
    log = CallLog(server.send, _project, LogOptions(batch_size=10, flush_interval_s=0.05, close_timeout_s=0.3))
    loop = asyncio.get_running_loop()
    for call in _calls(25):
        log.add(call, loop)
    started = time.perf_counter()
    await log.close()
    assert time.perf_counter() - started < 2
    stats = log.stats()
    assert (stats.logged, stats.sent, stats.dropped, stats.pending) == (25, 0, 25, 0)
    assert not log.add(CallIn(), loop)  # closed: dropped
    assert log.stats().dropped == 26


async def test_logging_from_other_threads_is_safe() -> None:
    server = Server()
    log = CallLog(server.send, _project, LogOptions(max_buffer=100_000, flush_interval_s=0.05))
    loop = asyncio.get_running_loop()
    log.add(CallIn(), loop)

    def worker() -> None:
        for call in _calls(2000):
            log.add(call, loop)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join)
    assert await log.flush(30)
    assert log.stats().sent == 8001
    assert len({c for _, b in server.batches for c in b}) == 8001
    await log.close()


@pytest.mark.parametrize("n", [0, 1])
async def test_flush_with_nothing_logged_is_done_at_once(n: int) -> None:
    log = CallLog(Server().send, _project)
    loop = asyncio.get_running_loop()
    for call in _calls(n):
        log.add(call, loop)
    assert await log.flush(5)
    await log.close()
