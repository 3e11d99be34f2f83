"""What a run request must be: pure checks, a ValueError naming the field."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from shared.edge.convert import value_to_python
from shared.run_status import EXECUTABLE, RETRYABLE, SOURCES

MAX_TRIALS = 100
MAX_NOTES = 100_000
MAX_INGEST = 1000
MAX_ERROR_CHARS = 10_000


def validate_run(source: str, trials: int, max_concurrency: int) -> tuple[str, int]:
    """The source (default api) and trials (default 1) of a new run."""
    source = source or "api"
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    trials = trials or 1
    if not 1 <= trials <= MAX_TRIALS:
        raise ValueError(f"trials must be within 1..{MAX_TRIALS}, got {trials}")
    if max_concurrency < 0:
        raise ValueError(f"max_concurrency must not be negative, got {max_concurrency}")
    return source, trials


def human_value(output_type: str, raw: Any) -> bool | int | float:
    """A reviewer's value checked against the metric's output type."""
    if output_type == "boolean":
        if not isinstance(raw, bool):
            raise ValueError(f"value must be true or false for a boolean metric, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        article = "an" if output_type == "int" else "a"
        raise ValueError(f"value must be a number for {article} {output_type} metric, got {raw!r}")
    if output_type == "int":
        if raw != int(raw) or not 1 <= raw <= 5:
            raise ValueError(f"value must be a whole number within 1..5 for an int metric, got {raw!r}")
        return int(raw)
    if not 0 <= raw <= 1:
        raise ValueError(f"value must be within 0..1 for a float metric, got {raw!r}")
    return float(raw)


def verdict_value(output_type: str, value: struct_pb2.Value) -> bool | int | float:
    """A reviewer's value as the API carries it, checked against the metric's output type; a
    number JSON cannot hold (inf, NaN) is refused as such rather than failing to be read."""
    try:
        raw = value_to_python(value)
    except ValueError:
        raise ValueError("value must be true / false or a finite number") from None
    return human_value(output_type, raw)


MAX_RUN_TAGS = 20


def check_notes(notes: str) -> str:
    if len(notes) > MAX_NOTES:
        raise ValueError(f"notes must be at most {MAX_NOTES} characters, got {len(notes)}")
    return notes


def check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not tag.strip() or len(tag) > 100:
            raise ValueError(f"tags must be 1..100 characters, got {tag!r}")
    return tags


def run_tags(current: list[str], add: list[str], remove: list[str]) -> list[str]:
    """A run's tags after adding and removing some (in the order they were added, each once);
    ValueError for a malformed tag, one both added and removed, or more than MAX_RUN_TAGS."""
    check_tags([*add, *remove])
    both = set(add) & set(remove)
    if both:
        raise ValueError(f"tag {sorted(both)[0]!r} is both added and removed")
    tags = [t for t in dict.fromkeys([*current, *add]) if t not in remove]
    if len(tags) > MAX_RUN_TAGS:
        raise ValueError(f"a run has at most {MAX_RUN_TAGS} tags, this would make {len(tags)}")
    return tags


def retry_refusal(run_id: object, status: str, errored: int) -> str | None:
    """Why the run's errored records cannot be executed again now, or None when they can."""
    if status in EXECUTABLE:
        return f"run {run_id} is {status}: it is still executing, and retries only what errored once it has finished"
    if status not in RETRYABLE:
        if status in ("failed", "cancelled"):
            return f"run {run_id} is {status}; only a run that finished executing can retry its errored records"
        return f"run {run_id} is {status}: it is still scoring, and retries only what errored once it has finished"
    if errored == 0:
        return f"run {run_id} has no errored records to retry"
    return None
