"""Pass/fail checks of how the system ran rather than what it answered: latency and cost."""

from __future__ import annotations

from pydantic import Field

from shared.scoring.heuristics.base import HeuristicError, Params, Verdict, num
from shared.scoring.record import ScoringInput


class LatencyUnderParams(Params):
    """The record's latency is at most ``max_ms`` milliseconds."""

    max_ms: float = Field(gt=0, allow_inf_nan=False)


class CostUnderParams(Params):
    """The record's cost is at most ``max_usd`` US dollars; a record with no known cost cannot be scored."""

    max_usd: float = Field(ge=0, allow_inf_nan=False)


def latency_under(p: LatencyUnderParams, record: ScoringInput) -> Verdict:
    latency = record.latency_ms
    if latency <= p.max_ms:
        return Verdict(True, f"latency {num(latency)} ms is within the {num(p.max_ms)} ms limit")
    return Verdict(False, f"latency {num(latency)} ms is over the {num(p.max_ms)} ms limit")


def cost_under(p: CostUnderParams, record: ScoringInput) -> Verdict:
    cost = record.cost_usd
    if cost is None:
        raise HeuristicError("the record does not say what it cost")
    if cost <= p.max_usd:
        return Verdict(True, f"cost ${num(cost)} is within the ${num(p.max_usd)} limit")
    return Verdict(False, f"cost ${num(cost)} is over the ${num(p.max_usd)} limit")
