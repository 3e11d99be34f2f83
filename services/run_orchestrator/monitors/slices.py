"""Monitor alerts per slice: a window's metric thresholds judged also within each value of a record
field — "metadata.lang" judges the French calls alone, so a drop confined to one kind of traffic
fires even while the whole window's value, carried by the rest, stays above. Pure functions (the
SQL reading a window's slices is ``WindowRepository.slice_results``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.run_orchestrator.runs.results import MetricResult, Threshold
from shared.edge.errors import ApiError
from shared.record_fields import field_path, field_text

MAX_SLICE_FIELDS = 3
# A slice is judged on a metric once this many of its calls were scored with it (unless set):
# with fewer, one unlucky call would make it "below".
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


def checked_fields(fields: Sequence[str], min_calls: int, thresholded: bool) -> tuple[str, ...]:
    """MonitorAlert's slice_fields, each as field_text writes it (ValueError names the field);
    ``thresholded``: the alert has metric thresholds, which the slices are judged on."""
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
    if names and not thresholded:
        raise ValueError(
            "alert.slice_fields judge the alert.thresholds within each slice: give at least one alert.thresholds entry"
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


def named(slices: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first SLICES_SAID slices below as an alert's text lists metrics: "polite where
    metadata.lang=fr (30 scored)" (the caller counts the rest)."""
    return [
        {**m, "name": f"{m['name']} where {m['field']}={m['field_value']} ({m['scored']:,} scored)"}
        for m in slices[:SLICES_SAID]
    ]
