"""The orchestrator (which logs calls and closes windows) SIGKILLed twice while 20,000 calls are
logged through the SDK and windows close: afterwards every call is stored once, and the windows'
runs hold exactly the sampled calls, each once, all scored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from scorekeeper_sdk import AsyncScorekeeper, CallIn, LogOptions
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.support.monitors import calls_of, is_sampled, settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

CALLS = 20_000
# About 2,000 samples: ~40 windows (GetMonitor lists the latest 50).
WINDOW = 50


@pytest.fixture(scope="module")
async def crash_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, nats_url: str
) -> AsyncIterator[Stack]:
    # A window whose closer died before requesting its scores is taken over after 3 s.
    env = {"SCOREKEEPER_MONITOR_STALE_S": "3", "SCOREKEEPER_MONITOR_TICK_S": "0.2"}
    async with running_stack(tmp_path_factory, pg_server, template_database, nats_url, env=env) as stack:
        yield stack


async def kill_orchestrator_twice(stack: Stack, sk: AsyncScorekeeper, monitor_id: str) -> list[float]:
    """SIGKILL mid-window (calls sampled into the open window, more being logged), restart, twice;
    how long the orchestrator was down each time (s). The logging waits for both kills before its
    last calls, so however slow a restart is they happen while calls are logged; a window that
    just closed is waited on for up to 10 s (not for ever: the logging may be waiting on this)."""
    down = []
    for _ in range(2):
        await asyncio.sleep(2)
        deadline = time.monotonic() + 10
        while (await sk.get_monitor(monitor_id)).monitor.pending_calls == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert 0 < sk.log_stats().logged < CALLS
        victim = next(p for p in stack.processes if p.name == "run-orchestrator" and p.running())
        killed_at = time.perf_counter()
        victim.kill()
        await stack.restart(victim)
        down.append(time.perf_counter() - killed_at)
    return down


async def test_killing_the_orchestrator_mid_window_loses_and_duplicates_nothing(crash_stack: Stack) -> None:
    stack = crash_stack
    async with AsyncScorekeeper(
        f"grpc://{stack.orchestrator_grpc}",
        stack.admin_key,
        query_url=f"grpc://{stack.query_grpc}",
        log_options=LogOptions(max_buffer=CALLS, batch_size=500, flush_interval_s=0.2),
    ) as sk:
        project = await sk.create_project("crash")
        metric = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        monitor = await sk.create_monitor(project.id, "crash", [metric.id], sample_rate=10, window_calls=WINDOW)

        killed = asyncio.Event()

        slowest_log = 0.0

        async def log_steadily() -> list[str]:
            nonlocal slowest_log
            ids = []
            for i in range(CALLS):
                if i == CALLS - 2_000:
                    await killed.wait()  # both kills happen while calls are still logged
                started = time.perf_counter()
                ids.append(sk.log({"i": i}, {"response": "please" if i % 3 else "no"}, project_id=project.id))
                slowest_log = max(slowest_log, time.perf_counter() - started)
                if i % 100 == 99:
                    await asyncio.sleep(0.15)  # ~600 calls a second: 30 s of logging
            return ids

        async def kill() -> list[float]:
            down = await kill_orchestrator_twice(stack, sk, monitor.id)
            killed.set()
            return down

        ids, down = await asyncio.gather(log_steadily(), kill())
        # Logging never waits for the server: no call took a fraction of the time it was down
        # (a busy machine may hold a call a few tenths of a second; a restart takes seconds).
        assert slowest_log < min(down) / 2, (slowest_log, down)
        assert await sk.flush(240), sk.log_stats()
        stats = sk.log_stats()
        assert (stats.logged, stats.sent, stats.dropped, stats.pending) == (CALLS, CALLS, 0, 0)

        expected = {c for c in ids if is_sampled(c, 10)}
        full = len(expected) // WINDOW
        detail = await settled(sk, monitor.id, full, timeout_s=400)
        assert detail.monitor.windows == full
        assert detail.monitor.pending_calls == len(expected) % WINDOW
        in_runs: list[str] = []
        for window in detail.windows:
            run = await sk.get_run(window.run_id)
            assert (run.status, run.records, window.calls) == ("completed", WINDOW, WINDOW)
            assert run.metric("polite").scored == WINDOW
            in_runs += await calls_of(sk, run.id)
        assert len(in_runs) == len(set(in_runs)) == full * WINDOW
        assert set(in_runs) <= expected
        # Every call is stored once: logging them all again stores none and samples none.
        again = [
            await sk.log_calls(project.id, [CallIn(call_id=c) for c in ids[i : i + 1000]])
            for i in range(0, CALLS, 1000)
        ]
        assert sum(r.duplicates for r in again) == CALLS and sum(r.stored + r.sampled for r in again) == 0
