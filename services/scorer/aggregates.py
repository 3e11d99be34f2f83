"""What one score adds to its run's per-metric aggregates: a named delta, so that replacing a
score moves the aggregates by exactly the difference between the old row and the new one."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Contribution:
    """One score's share of the aggregates (the columns of ``run_metric_aggregates``)."""

    scored: int = 0
    passed: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    errored: int = 0
    pending: int = 0
    # Boolean metrics against the testcase's expected label.
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0
    true_neg: int = 0
    # The judge's usage.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __sub__(self, other: Contribution) -> Contribution:
        return Contribution(*(a - b for a, b in zip(self._row(), other._row(), strict=True)))

    def __add__(self, other: Contribution) -> Contribution:
        return Contribution(*(a + b for a, b in zip(self._row(), other._row(), strict=True)))

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def sql_types(cls) -> tuple[str, ...]:
        """The PostgreSQL type of each column's values."""
        return tuple("float8" if f.type in ("float", float) else "bigint" for f in fields(cls))

    def values(self) -> tuple[int | float, ...]:
        return self._row()

    def _row(self) -> tuple[Any, ...]:
        # Not dataclasses.astuple: it deep-copies each field, and a batch of scores adds thousands
        # of these (a quarter of the scorer's CPU in make bench).
        return tuple(getattr(self, name) for name in _COLUMNS)


_COLUMNS = Contribution.columns()
NOTHING = Contribution()


def contribution(
    status: str,
    value: float | None,
    passed: bool | None,
    label: bool | None,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float | None,
) -> Contribution:
    """What one score row adds: a completed one its value and verdict (and the confusion count
    against ``label``), an errored or pending one its count; every one the judge's usage. Built
    in one go: the scorer makes one per score (three per testcase in make bench)."""
    cost = cost_usd or 0.0
    if status != "completed":
        return Contribution(
            errored=int(status == "errored"),
            pending=int(status == "pending"),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
        )
    v = value or 0.0
    predicted = bool(passed)
    known = label is not None
    return Contribution(
        scored=1,
        passed=int(predicted),
        sum=v,
        sum_sq=v * v,
        true_pos=int(known and predicted and bool(label)),
        false_pos=int(known and predicted and not label),
        false_neg=int(known and not predicted and bool(label)),
        true_neg=int(known and not predicted and not label),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
    )


class Deltas:
    """Contributions summed per aggregate row (run, metric version, trial, shard), in place: a
    batch of scores adds thousands, and a new Contribution per addition cost the scorer a tenth
    of its CPU."""

    def __init__(self) -> None:
        self._sums: dict[tuple[Any, ...], list[int | float]] = {}

    def add(self, key: tuple[Any, ...], new: Contribution, old: Contribution = NOTHING) -> None:
        row = new.values() if old is NOTHING else (new - old).values()
        sums = self._sums.get(key)
        if sums is None:
            self._sums[key] = list(row)
        else:
            for i, value in enumerate(row):
                sums[i] += value

    def __bool__(self) -> bool:
        return bool(self._sums)

    def rows(self) -> list[tuple[tuple[Any, ...], list[int | float]]]:
        """(key, the columns' sums), sorted by key: every transaction then locks aggregate rows in
        the same order (no deadlocks)."""
        return sorted(self._sums.items(), key=lambda item: item[0])
