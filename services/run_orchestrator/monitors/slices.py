"""Monitor alerts per slice: a window's metric thresholds (and its users' feedback, its share of
errored calls, its 95th percentile latency) judged also within each value of a record field —
"metadata.lang" judges the French calls alone, so a drop confined to one kind of traffic fires even
while the whole window's value, carried by the rest, stays on the right side. Pure functions (the
SQL reading a window's slices is ``WindowRepository``'s ``slice_results``,
``feedback_slice_results`` and ``slice_calls``)."""

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
    ``judged``: the alert has metric or feedback thresholds, a max_error_rate or a max_latency_ms,
    which the slices are judged on."""
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
            "alert.slice_fields judge the alert.thresholds, alert.feedback_thresholds, alert.max_error_rate"
            " and alert.max_latency_ms within each slice: give one"
        )
    if not 1 <= min_calls <= MAX_MIN_SLICE_CALLS:
        raise ValueError(
            f"alert.min_slice_calls must be within 1..{MAX_MIN_SLICE_CALLS:,} (0: {DEFAULT_MIN_SLICE_CALLS}),"
            f" got {min_calls:,}"
        )
    return tuple(names)


def worst_first(m: dict[str, Any]) -> tuple[float, str, str, str]:
    """The order of slices below: the furthest under its threshold first."""
    return (m["value"] - m["below"], m["field"], m["field_value"], m["name"])


def below(
    found: Sequence[SliceResult], thresholds: Sequence[Threshold], min_calls: int, feedback: bool = False
) -> list[dict[str, Any]]:
    """The slices whose value of a thresholded metric is below the threshold (strictly), judged
    with at least ``min_calls`` of their calls scored, worst first (the furthest below), as an alert
    lists them; ``feedback``: ``found`` are the users' verdicts (an entry says ``source`` feedback
    and ``given``, the verdicts, as the window's own feedback entries do)."""
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
                **({"source": "feedback", "given": r.scored} if feedback else {}),
            }
        )
    return sorted(low, key=worst_first)


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
    metadata.lang=fr (30 scored)", "users' thumbs where metadata.lang=fr (25 given)" (the caller
    counts the rest)."""
    told = []
    for m in slices[:SLICES_SAID]:
        where = f"where {m['field']}={m['field_value']}"
        if m.get("source") == "feedback":
            rest = {k: v for k, v in m.items() if k != "source"}
            told.append({**rest, "name": f"users' {m['name']} {where} ({m['given']:,} given)"})
        else:
            told.append({**m, "name": f"{m['name']} {where} ({m['scored']:,} scored)"})
    return told
