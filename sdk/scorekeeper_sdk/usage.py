"""What runs used, measure by measure — mean and 95th percentile latency, tokens, the system calls'
and the judges' cost per record — said one way everywhere: over runs (`runs history --usage`, the
runs page's charts), side by side (`runs matrix`, the matrix page) and against a baseline with how
much each changed (`runs compare`, the summary `eval --baseline` writes for a pull request, the
compare page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scorekeeper_sdk.tracing import step_time
from scorekeeper_sdk.views import RunUsage


@dataclass(frozen=True)
class Measure:
    """One measure of a run's usage; ``key``: as a command names it (``--fail-above latency=800``);
    ``unit``: ms, tokens or usd."""

    key: str
    name: str
    unit: str
    of: Callable[[RunUsage], float | None]


MEASURES = (
    Measure("latency", "latency", "ms", lambda u: u.latency_ms_mean),
    Measure("p95-latency", "p95 latency", "ms", lambda u: u.latency_p95_ms),
    Measure("tokens", "tokens per record", "tokens", lambda u: u.tokens_per_record),
    # Over the records that reported a cost.
    Measure("cost", "cost per record", "usd", lambda u: u.cost_per_record),
    Measure("judge-cost", "judge cost per record", "usd", lambda u: u.judge_cost_per_record),
)
BY_KEY = {m.key: m for m in MEASURES}


def amount(value: float | None, unit: str) -> str:
    """A value as said: "350 ms" ("0.38 ms", "2.5 ms" below 10 ms, as steps' times are), "1,204",
    "4.8" (tokens), "$0.0125"; "–" when unknown."""
    if value is None:
        return "–"
    if unit == "usd":
        return f"${value:.4f}" if value < 100 else f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 10 else step_time(value)
    return f"{value:,.1f}".removesuffix(".0")


def share(change: float) -> str:
    """A change as said: "+100%", "-25%"; "+0%" under half a percent either way (never "-0%")."""
    return f"{round(change * 100):+d}%"


def told(measure: Measure, runs: list[RunUsage]) -> bool:
    """Whether any of the runs has the measure (no cost reported, no judge, no latency: none)."""
    return any((measure.of(u) or 0) > 0 for u in runs)


@dataclass(frozen=True)
class UsageChange:
    """One measure of the baseline's (A) and the run's (B) usage; ``unit``: ms, tokens or usd."""

    name: str
    baseline: float | None
    value: float | None
    unit: str

    @property
    def change(self) -> float | None:
        """B against A as a share (+1.0: twice as much); None when either is unknown or A is 0."""
        if self.baseline is None or self.value is None or self.baseline == 0:
            return None
        return self.value / self.baseline - 1

    def amount(self, value: float | None) -> str:
        return amount(value, self.unit)

    @property
    def moved(self) -> str:
        """The change as said: "+100%", "-25%"; "n/a" when it cannot be told."""
        change = self.change
        return "n/a" if change is None else share(change)

    @property
    def shown(self) -> str:
        """ "latency 350 ms → 700 ms (+100%)"."""
        moved = f" ({self.moved})" if self.change is not None else ""
        return f"{self.name} {self.amount(self.baseline)} → {self.amount(self.value)}{moved}"


def usage_changes(baseline: RunUsage, run: RunUsage) -> list[UsageChange]:
    """Each measure either run has, A against B."""
    return [UsageChange(m.name, m.of(baseline), m.of(run), m.unit) for m in MEASURES if told(m, [baseline, run])]
