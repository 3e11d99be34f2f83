"""Heuristics run off the event loop, each with a CPU-time bound.

A heuristic is a pure function of a record, but some records make some heuristics slow (a
backtracking regex, ROUGE over two novels). Scoring in this process would stop its event loop:
no heartbeats (the broker redelivers, the work is done twice), no /healthz, no other run's
scores. So each score is computed in a worker process (pebble), which:

- gets ``cpu_s`` of CPU time (ITIMER_PROF) — beyond it the score is errored, naming the bound,
  and the worker is replaced;
- is killed if it does not answer within ``4 × cpu_s`` of wall time (a C call that ignores the
  signal), and replaced;
- is never given more work for a metric version that exceeded its bound on ``trip_after`` records
  in a row, for ``pause_s``: its scores error at once, so other runs keep being scored.

Except where a worker costs more than it guards: a heuristic whose work grows only linearly with
the text it reads (``IN_PROCESS_KINDS``: comparisons, substring tests, lengths, a JSON parse,
numbers), on a record whose outputs and expected values are flat and small (``IN_PROCESS_MAX_CHARS``
in all), is scored here, in microseconds. Pickling the record to a worker and the outcome back
cost more than that (make bench: ~0.03 ms of CPU a score). Regexes, JSON Schema, similarity and
overlap measures (quadratic), and anything on a large or nested record always go to a worker.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from types import FrameType

import pebble

from shared.scoring import heuristics
from shared.scoring.metric import MetricVersion, ScoreOutcome, score_heuristic
from shared.scoring.record import ScoringInput

log = logging.getLogger(__name__)


class CpuBoundExceeded(BaseException):
    """Raised in a worker when its score used up its CPU time (a BaseException, so that no
    heuristic's own ``except Exception`` can swallow it)."""


def _exceeded(signum: int, frame: FrameType | None) -> None:
    raise CpuBoundExceeded


# A worker that ran out of CPU time exits with this: an exception raised from a signal handler
# may leave the interrupted library in any state, so the process is never used again.
EXIT_CPU_BOUND = 77


# Imported once in the fork server, so every worker starts with them. What a heuristic loads
# lazily (heuristics.prepare) is loaded before its CPU timer starts: an import interrupted
# half-way by the timer could leave a broken module behind.
PRELOAD = ["shared.scoring.metric", "shared.scoring.heuristics"]


def _score_in_worker(metric: MetricVersion, record: ScoringInput, cpu_s: float) -> ScoreOutcome:
    for module in PRELOAD:  # already there, unless the fork server was started before the pool
        importlib.import_module(module)
    heuristics.prepare(str(metric.config.get("kind")))
    signal.signal(signal.SIGPROF, _exceeded)
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    try:
        return score_heuristic(metric, record)
    except CpuBoundExceeded:
        os._exit(EXIT_CPU_BOUND)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _score_many_in_worker(items: list[tuple[MetricVersion, ScoringInput]], cpu_s: float) -> list[ScoreOutcome]:
    """Several scores in one round trip to the worker, each under its own CPU bound; a score that
    exceeds it ends the worker, and the caller scores that group one by one to find it."""
    return [_score_in_worker(metric, record, cpu_s) for metric, record in items]


# Heuristics scored in this process on small records (see the module's docstring).
IN_PROCESS_KINDS = frozenset(
    {
        "exact_match",
        "contains",
        "contains_all",
        "contains_any",
        "not_contains",
        "starts_with",
        "length_between",
        "json_valid",
        "numeric_close",
        "latency_under",
        "cost_under",
    }
)
IN_PROCESS_MAX_CHARS = 4096


def in_process(metric: MetricVersion, record: ScoringInput) -> bool:
    """Whether to score here: a linear heuristic on a record whose outputs and expected values are
    strings, numbers, booleans or nulls of at most ``IN_PROCESS_MAX_CHARS`` characters in all."""
    if metric.config.get("kind") not in IN_PROCESS_KINDS:
        return False
    chars = 0
    for values in (record.outputs, record.expected):
        for value in values.values():
            if isinstance(value, str):
                chars += len(value)
            elif value is None or isinstance(value, bool | int | float):
                chars += 32
            else:
                return False
    return chars <= IN_PROCESS_MAX_CHARS


def _warm() -> None:
    """Nothing: running it starts a worker before work arrives."""


class HeuristicPool:
    """Worker processes scoring heuristics; ``score`` never raises."""

    def __init__(self, workers: int, cpu_s: float, *, trip_after: int = 3, pause_s: float = 60.0) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self._pool = pebble.ProcessPool(max_workers=workers, context=context)
        self._workers = workers
        self._cpu_s = cpu_s
        self._trip_after = trip_after
        self._pause_s = pause_s
        self._strikes: dict[uuid.UUID, int] = {}
        self._paused_until: dict[uuid.UUID, float] = {}

    async def warm(self) -> None:
        """Start every worker now, so the first scores do not wait for them."""
        await asyncio.gather(*(asyncio.wrap_future(self._pool.schedule(_warm)) for _ in range(self._workers)))

    async def score_many(
        self, items: list[tuple[MetricVersion, ScoringInput]], *, group: int = 32
    ) -> list[ScoreOutcome]:
        """The scores of many (metric, record) pairs: groups of ``group`` go to the workers in one
        round trip each. A group whose worker died or overran is scored again one by one, so
        only the score that caused it is errored (and counted against its metric)."""
        outcomes: list[ScoreOutcome | None] = [None] * len(items)
        todo: list[int] = []
        for i, (metric, record) in enumerate(items):
            paused = self._paused(metric)
            if paused is not None:
                outcomes[i] = paused
            elif in_process(metric, record):
                outcomes[i] = score_heuristic(metric, record)
            else:
                todo.append(i)
        groups = [todo[i : i + group] for i in range(0, len(todo), group)]

        async def run(indexes: list[int]) -> None:
            batch = [items[i] for i in indexes]
            future = self._pool.schedule(
                _score_many_in_worker, args=(batch, self._cpu_s), timeout=self._cpu_s * (len(batch) + 3)
            )
            try:
                results = await asyncio.wrap_future(future)
            except (FutureTimeout, TimeoutError, pebble.ProcessExpired):
                results = [await self.score(metric, record) for metric, record in batch]
            else:
                for metric, _ in batch:
                    self._strikes.pop(metric.id, None)
            for i, outcome in zip(indexes, results, strict=True):
                outcomes[i] = outcome

        await asyncio.gather(*(run(g) for g in groups))
        return [o if o is not None else _errored("not scored") for o in outcomes]

    def _paused(self, metric: MetricVersion) -> ScoreOutcome | None:
        paused = self._paused_until.get(metric.id, 0.0) - time.monotonic()
        if paused <= 0:
            return None
        return _errored(
            f"not scored: metric {metric.name!r} exceeded its {self._cpu_s:g} s CPU bound on "
            f"{self._trip_after} records in a row; it is paused for another {paused:.0f} s"
        )

    async def score(self, metric: MetricVersion, record: ScoringInput) -> ScoreOutcome:
        if (paused := self._paused(metric)) is not None:
            return paused
        if in_process(metric, record):
            return score_heuristic(metric, record)
        future = self._pool.schedule(_score_in_worker, args=(metric, record, self._cpu_s), timeout=4 * self._cpu_s)
        outcome: ScoreOutcome | None
        try:
            outcome = await asyncio.wrap_future(future)
        except (FutureTimeout, TimeoutError):
            outcome = None
        except pebble.ProcessExpired as exc:
            if exc.exitcode != EXIT_CPU_BOUND:
                return _errored(f"the heuristic's worker process died ({exc}); re-score to try again")
            outcome = None
        if outcome is None:
            self._strike(metric)
            return _errored(f"the heuristic used more than its {self._cpu_s:g} s CPU bound on this record")
        self._strikes.pop(metric.id, None)
        return outcome

    def _strike(self, metric: MetricVersion) -> None:
        strikes = self._strikes.get(metric.id, 0) + 1
        self._strikes[metric.id] = strikes
        if strikes >= self._trip_after:
            self._strikes.pop(metric.id, None)
            self._paused_until[metric.id] = time.monotonic() + self._pause_s
            log.warning(
                "a heuristic metric keeps exceeding its CPU bound; pausing it",
                extra={"metric": metric.name, "metric_version_id": str(metric.id), "pause_s": self._pause_s},
            )

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=5)


def _errored(error: str) -> ScoreOutcome:
    return ScoreOutcome("errored", None, None, "", error)
