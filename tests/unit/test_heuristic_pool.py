"""Heuristics in worker processes: scored off the event loop, each within a CPU-time bound."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.scorer.heuristic_pool import HeuristicPool
from shared.scoring.metric import MetricVersion, ScoreOutcome
from shared.scoring.record import ScoringInput

WORDS = " ".join(f"w{i % 97}" for i in range(1_400))
# ROUGE-L of 1,400 words against four references as long (each within the limit of pairs): 0.25 s
# of CPU a reference on a fast core, ~1 s in all, well past the pool's bound of 0.3 s.
SLOW = ScoringInput(outputs={"response": WORDS}, expected={"answer": [WORDS[::-1]] * 4})


def metric(kind: str, params: dict[str, Any], name: str = "m") -> MetricVersion:
    return MetricVersion(
        uuid.uuid4(), uuid.uuid4(), name, "heuristic", "boolean", None, {"kind": kind, "params": params}
    )


def record(answer: str, expected: str = "") -> ScoringInput:
    return ScoringInput(outputs={"response": answer}, expected={"answer": expected})


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[HeuristicPool]:
    heuristics = HeuristicPool(workers=2, cpu_s=0.3, trip_after=2, pause_s=30)
    await heuristics.warm()
    try:
        yield heuristics
    finally:
        heuristics.close()


async def test_a_heuristic_is_scored_in_a_worker(pool: HeuristicPool) -> None:
    outcome = await pool.score(metric("token_f1", {"expected_field": "answer"}), record("Paris", "Paris"))
    assert (outcome.status, outcome.value, outcome.passed) == ("completed", True, True)


async def test_linear_heuristics_on_small_records_are_scored_here_and_the_rest_in_workers(
    pool: HeuristicPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    schedule = pool._pool.schedule

    def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        batch = kwargs.get("args", args[0] if args else ())[0]
        sent.append(len(batch) if isinstance(batch, list) else 1)
        return schedule(function, *args, **kwargs)

    monkeypatch.setattr(pool._pool, "schedule", counted)
    exact = metric("exact_match", {"expected_field": "answer"})
    small, large = record("Paris", "Paris"), record("Paris " * 1_000, "Paris")
    nested = ScoringInput(outputs={"response": {"city": "Paris"}}, expected={"answer": "Paris"})
    regex = metric("regex", {"pattern": "P.*"})

    outcomes = await pool.score_many([(exact, small), (exact, large), (exact, nested), (regex, small)])

    assert [(o.status, o.passed) for o in outcomes] == [
        ("completed", True),
        ("completed", False),
        ("completed", False),
        ("completed", True),
    ]
    assert sent == [3]  # one round trip, for the large record, the nested one and the regex
    sent.clear()
    assert (await pool.score(exact, small)).passed is True
    assert sent == []


async def test_a_catastrophic_regex_errors_quickly_naming_the_pattern(pool: HeuristicPool) -> None:
    started = time.monotonic()
    outcome = await pool.score(metric("regex", {"pattern": "(a|aa)+$"}), record("a" * 60 + "b"))
    assert outcome.status == "errored"
    assert "CPU bound" in outcome.error or "(a|aa)+$" in outcome.error
    assert time.monotonic() - started < 3
    fast = await pool.score(metric("regex", {"pattern": "(a+)+$"}), record("a" * 30 + "b"))
    assert (fast.status, fast.passed) == ("completed", False)


async def test_a_slow_heuristic_is_cut_at_its_cpu_bound_while_the_loop_keeps_going(pool: HeuristicPool) -> None:
    slow = metric("rouge_l", {"expected_field": "answer"}, name="rouge on novels")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    outcome: ScoreOutcome = await pool.score(slow, SLOW)
    elapsed = time.monotonic() - started
    ticker.cancel()
    assert (outcome.status, outcome.error) == (
        "errored",
        "the heuristic used more than its 0.3 s CPU bound on this record",
    )
    assert ticks >= elapsed / 0.01 * 0.25  # the event loop ran all along (a blocked one would tick ~0)


async def test_a_metric_that_keeps_exceeding_its_bound_is_paused_and_others_go_on(pool: HeuristicPool) -> None:
    slow = metric("rouge_l", {"expected_field": "answer"}, name="slow")
    strikes = [await pool.score(slow, SLOW) for _ in range(2)]
    assert [s.error for s in strikes] == ["the heuristic used more than its 0.3 s CPU bound on this record"] * 2
    started = time.monotonic()
    paused = await pool.score(slow, SLOW)
    assert paused.status == "errored"
    assert paused.error.startswith("not scored: metric 'slow' exceeded its 0.3 s CPU bound on 2 records in a row")
    assert time.monotonic() - started < 0.1
    other = await pool.score(metric("contains", {"value": "x"}), record("xyz"))
    assert other.status == "completed"
