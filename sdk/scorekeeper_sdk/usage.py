"""What a run used against a baseline's: mean latency, tokens, the system calls' and the judges'
cost per record, and how much each changed — for `runs compare`, the summary `eval --baseline`
writes for a pull request, and the console's compare page."""

from __future__ import annotations

from dataclasses import dataclass

from scorekeeper_sdk.views import RunUsage


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
        """A value as said: "350 ms", "1,204", "$0.0125"; "–" when unknown."""
        if value is None:
            return "–"
        if self.unit == "usd":
            return f"${value:.4f}" if value < 100 else f"${value:,.2f}"
        return f"{value:,.0f} ms" if self.unit == "ms" else f"{value:,.0f}"

    @property
    def moved(self) -> str:
        """The change as said: "+100%", "-25%"; "n/a" when it cannot be told."""
        change = self.change
        return "n/a" if change is None else f"{change:+.0%}"

    @property
    def shown(self) -> str:
        """ "latency 350 ms → 700 ms (+100%)"."""
        moved = f" ({self.moved})" if self.change is not None else ""
        return f"{self.name} {self.amount(self.baseline)} → {self.amount(self.value)}{moved}"


def usage_changes(baseline: RunUsage, run: RunUsage) -> list[UsageChange]:
    """Each measure either run has: mean latency, tokens, the system calls' cost (over the records
    that reported one) and the judges' cost, per record."""
    measures = [
        UsageChange("latency", baseline.latency_ms_mean, run.latency_ms_mean, "ms"),
        UsageChange("tokens per record", baseline.tokens_per_record, run.tokens_per_record, "tokens"),
        UsageChange("cost per record", baseline.cost_per_record, run.cost_per_record, "usd"),
        UsageChange("judge cost per record", baseline.judge_cost_per_record, run.judge_cost_per_record, "usd"),
    ]
    # A measure neither run has (no cost reported, no judge, no latency) is left out.
    return [m for m in measures if (m.baseline or 0) > 0 or (m.value or 0) > 0]
