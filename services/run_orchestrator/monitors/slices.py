"""Monitor alerts per slice: a window's metric thresholds (and its share of errored calls, its 95th
percentile latency) judged also within each value of a record field — "metadata.lang" judges the
French calls alone, so a drop confined to one kind of traffic fires even while the whole window's
value, carried by the rest, stays on the right side. Pure functions (the SQL reading a window's
slices is ``WindowRepository``'s ``slice_results`` and ``slice_calls``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.run_orchestrator.runs.results import MetricResult, Threshold
from shared.edge.errors import ApiError
from shared.record_fields import field_path, field_text

MAX_SLICE_FIELDS = 3
# A slice is judged on a metric once this many of its calls were scored with it, on its errored
# calls once it has this many calls (unless set): with fewer, one unlucky call would decide it.
DEFAULT_MIN_SLICE_CALLS = 20
MAX_MIN_SLICE_CALLS = 10_000
# The slices below that an alert lists and a window keeps, worst first (the count says the rest).
MAX_SLICES_KEPT = 10
# The slices an alert's text names.
SLICES_SAID = 3


@dataclass(frozen=True)
class SliceResult:
    """A metric's result over the window's calls whose ``field`` holds ``value`` (as text)."""

    field: str
    value: str
    result: MetricResult


@dataclass(frozen=True)
class SliceCalls:
    """The window's calls whose ``field`` holds ``value``: how many of them were logged errored, how
    many with a latency (``timed``) and those latencies' 95th percentile (None: no call had one)."""

    field: str
    value: str
    calls: int
    errored: int
    timed: int = 0
    p95_ms: float | None = None


def checked_fields(fields: Sequence[str], min_calls: int, judged: bool) -> tuple[str, ...]:
    """MonitorAlert's slice_fields, each as field_text writes it (ValueError names the field);
    ``judged``: the alert has metric thresholds, a max_error_rate or a max_latency_ms, which the slices
    are judged on."""
    if len(fields) > MAX_SLICE_FIELDS:
        raise ValueError(f"alert.slice_fields may hold at most {MAX_SLICE_FIELDS} fields, got {len(fields)}")
    names: list[str] = []
    for i, text in enumerate(fields):
        try:
            name = field_text(*field_path(text.strip()))
        except ApiError as e:
            raise ValueError(f"alert.slice_fields[{i}]: {e.message}") from None
        if name in names:
            raise ValueError(f"alert.slice_fields[{i}] repeats {name}")
        names.append(name)
    if names and not judged:
        raise ValueError(
            "alert.slice_fields judge the alert.thresholds, alert.max_error_rate and alert.max_latency_ms"
            " within each slice: give one"
        )
    if not 1 <= min_calls <= MAX_MIN_SLICE_CALLS:
        raise ValueError(
            f"alert.min_slice_calls must be within 1..{MAX_MIN_SLICE_CALLS:,} (0: {DEFAULT_MIN_SLICE_CALLS}),"
            f" got {min_calls:,}"
        )
    return tuple(names)


def below(found: Sequence[SliceResult], thresholds: Sequence[Threshold], min_calls: int) -> list[dict[str, Any]]:
    """The slices whose value of a thresholded metric is below the threshold (strictly), judged
    with at least ``min_calls`` of their calls scored, worst first (the furthest below), as an alert
    lists them."""
    limits = {t.metric_id: t.below for t in thresholds}
    low = []
    for s in found:
        r, threshold = s.result, limits.get(s.result.metric_id)
        value = r.value
        if threshold is None or r.scored < min_calls or value is None or value >= threshold:
            continue
        low.append(
            {
                "field": s.field,
                "field_value": s.value,
                "metric_id": str(r.metric_id),
                "name": r.name,
                "measure": "pass_rate" if r.output_type == "boolean" else "mean",
                "value": value,
                "below": threshold,
                "scored": r.scored,
            }
        )
    return sorted(low, key=lambda m: (m["value"] - m["below"], m["field"], m["field_value"], m["name"]))


def erring(found: Sequence[SliceCalls], max_rate: float | None, min_calls: int) -> list[dict[str, Any]]:
    """The slices with more than ``max_rate`` of their calls errored (strictly), judged with at
    least ``min_calls`` calls, the highest share first, as an alert lists them; none without a
    max_rate."""
    if max_rate is None:
        return []
    high = [
        {
            "field": s.field,
            "field_value": s.value,
            "errored": s.errored,
            "calls": s.calls,
            "rate": s.errored / s.calls,
            "above": max_rate,
        }
        for s in found
        if s.calls >= min_calls and s.errored / s.calls > max_rate
    ]
    return sorted(high, key=lambda e: (-e["rate"], e["field"], e["field_value"]))


def slow(found: Sequence[SliceCalls], max_ms: float | None, min_calls: int) -> list[dict[str, Any]]:
    """The slices whose calls' 95th percentile latency is above ``max_ms`` (strictly), judged with at
    least ``min_calls`` calls that have a latency (``calls`` counts those), the slowest first, as an
    alert lists them; none without a max_ms."""
    if max_ms is None:
        return []
    high = [
        {"field": s.field, "field_value": s.value, "p95_ms": s.p95_ms, "calls": s.timed, "above": max_ms}
        for s in found
        if s.timed >= min_calls and s.p95_ms is not None and s.p95_ms > max_ms
    ]
    return sorted(high, key=lambda e: (-e["p95_ms"], e["field"], e["field_value"]))


def named(slices: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first SLICES_SAID slices below as an alert's text lists metrics: "polite where
    metadata.lang=fr (30 scored)" (the caller counts the rest)."""
    return [
        {**m, "name": f"{m['name']} where {m['field']}={m['field_value']} ({m['scored']:,} scored)"}
        for m in slices[:SLICES_SAID]
    ]
