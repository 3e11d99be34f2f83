"""Latency of repeated calls: p50 / p95 / max / mean in milliseconds, and a table of them.

    timing = await measure(lambda: client.get_run(run_id), warmup=20, repeats=200)
    print_table([("GetRun", timing)], targets={"GetRun": 10.0})

Calls run one after another (no concurrency), each timed with ``time.perf_counter``. Percentiles
interpolate linearly between the closest ranks (numpy's default), so p50 of an even count is the
mean of the two middle samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``samples``, linearly interpolated."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Timing:
    """Wall-clock durations of the measured calls, in milliseconds."""

    samples_ms: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    @property
    def p50_ms(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def max_ms(self) -> float:
        return max(self.samples_ms)

    @property
    def mean_ms(self) -> float:
        return sum(self.samples_ms) / len(self.samples_ms)


async def measure(
    call: Callable[[], Awaitable[object]],
    *,
    warmup: int,
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Await ``call()`` ``warmup`` times untimed, then ``repeats`` times timed by ``clock`` (seconds)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(repeats):
        started = clock()
        await call()
        samples.append((clock() - started) * 1000)
    return Timing(tuple(samples))


def format_table(rows: Sequence[tuple[str, Timing]], *, targets: Mapping[str, float] | None = None) -> str:
    """A fixed-width table, one line per named timing; with ``targets`` (p95 ceilings in ms by
    name) a target column and ok / OVER."""
    targets = targets or {}
    width = max([len("call"), *(len(name) for name, _ in rows)])
    header = f"{'call':<{width}}  {'n':>5}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}  {'mean ms':>8}"
    if targets:
        header += f"  {'p95 target':>10}"
    lines = [header, "-" * len(header)]
    for name, t in rows:
        line = f"{name:<{width}}  {t.count:>5}  {t.p50_ms:>8.2f}  {t.p95_ms:>8.2f}  {t.max_ms:>8.2f}  {t.mean_ms:>8.2f}"
        target = targets.get(name)
        if target is not None:
            line += f"  {f'<= {target:g}':>10}  {'ok' if t.p95_ms <= target else 'OVER'}"
        lines.append(line)
    return "\n".join(lines)


def print_table(rows: Sequence[tuple[str, Timing]], *, targets: Mapping[str, float] | None = None) -> None:
    print(format_table(rows, targets=targets))
