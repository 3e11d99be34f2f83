"""The benchmark latency harness (tests/bench/latency.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.bench.latency import Timing, format_table, measure, percentile


def test_percentile_interpolates_like_numpy() -> None:
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 100) == 5.0
    assert percentile(samples, 95) == pytest.approx(4.8)
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 95) == 7.0
    # numpy.percentile(range(1, 101), 95) == 95.05
    assert percentile([float(x) for x in range(1, 101)], 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_timing_statistics() -> None:
    t = Timing((4.0, 1.0, 3.0, 2.0))
    assert (t.count, t.p50_ms, t.max_ms, t.mean_ms) == (4, 2.5, 4.0, 2.5)
    assert t.p95_ms == pytest.approx(3.85)


async def test_measure_runs_warmup_untimed_then_repeats() -> None:
    ticks = iter(float(x) for x in range(1000))
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1

    timing = await measure(call, warmup=3, repeats=5, clock=lambda: next(ticks))
    assert calls == 8
    # each timed call spans one tick of the fake clock: 1 s
    assert timing.samples_ms == (1000.0,) * 5


async def test_measure_times_real_awaits() -> None:
    timing = await measure(lambda: asyncio.sleep(0.01), warmup=1, repeats=5)
    assert timing.count == 5
    assert 9.0 <= timing.p50_ms < 200
    assert timing.max_ms >= timing.p95_ms >= timing.p50_ms


async def test_measure_rejects_nonsense() -> None:
    async def call() -> None:
        return None

    with pytest.raises(ValueError):
        await measure(call, warmup=0, repeats=0)


def test_table_names_figures_and_targets() -> None:
    rows = [("GetRun", Timing((1.0, 2.0, 3.0))), ("ListRecords", Timing((40.0, 60.0, 70.0)))]
    table = format_table(rows, targets={"GetRun": 10, "ListRecords": 50})
    lines = table.splitlines()
    assert lines[0].split() == ["call", "n", "p50", "ms", "p95", "ms", "max", "ms", "mean", "ms", "p95", "target"]
    assert lines[2].split() == ["GetRun", "3", "2.00", "2.90", "3.00", "2.00", "<=", "10", "ok"]
    assert lines[3].split()[-1] == "OVER"
    assert "target" not in format_table(rows)
