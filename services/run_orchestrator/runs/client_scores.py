"""Scores a client's own code gave the records it ingests (metrics of eval type ``code``): checked
field by field, then against the run's pinned metrics, before any record is published; stored for
the scorer, which turns each into the record's score for that metric."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from shared.scoring.eval_types import eval_type

MAX_REASONING_CHARS = 10_000
MAX_ERROR_CHARS = 10_000


@dataclass(frozen=True)
class ClientScore:
    value: bool | float | None  # None when the client's scorer raised (``error``)
    reasoning: str = ""
    error: str = ""


def _value(v: struct_pb2.Value) -> bool | float | None:
    kind = v.WhichOneof("kind")
    if kind == "bool_value":
        return v.bool_value
    if kind == "number_value":
        return v.number_value
    if kind is None or kind == "null_value":
        return None
    raise ValueError(f"must be true, false or a number, got a {kind.removesuffix('_value')}")


def parse(i: int, scores: Mapping[str, Any]) -> dict[uuid.UUID, ClientScore]:
    """IngestedRecord.scores of records[i]; ValueError naming records[i].scores[<metric id>]."""
    parsed: dict[uuid.UUID, ClientScore] = {}
    for key, score in scores.items():
        field = f"records[{i}].scores[{key[:40]!r}]"
        try:
            metric_id = uuid.UUID(key)
        except ValueError:
            raise ValueError(f"{field}: the key must be a metric id") from None
        try:
            value = _value(score.value) if score.HasField("value") else None
        except ValueError as exc:
            raise ValueError(f"{field}.value {exc}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{field}.value must be a finite number")
        if (value is None) == (not score.error):
            raise ValueError(f"{field}: give a value, or the error your scorer raised (not both)")
        if len(score.reasoning) > MAX_REASONING_CHARS or len(score.error) > MAX_ERROR_CHARS:
            raise ValueError(f"{field}: reasoning and error are at most {MAX_REASONING_CHARS:,} characters each")
        parsed[metric_id] = ClientScore(value, score.reasoning, score.error)
    return parsed


def check(i: int, scores: dict[uuid.UUID, ClientScore], errored: bool, pinned: Mapping[uuid.UUID, Any]) -> None:
    """Each score of records[i] is of a metric of eval type code that the run pins (``pinned``: its
    metric versions by metric id), within that metric's range; an errored record takes none."""
    if scores and errored:
        raise ValueError(f"records[{i}] errored: it takes no scores (its metrics are not scored)")
    for metric_id, score in scores.items():
        field = f"records[{i}].scores[{str(metric_id)!r}]"
        version = pinned.get(metric_id)
        if version is None:
            raise ValueError(f"{field}: metric {metric_id} is not one of the run's metrics")
        if not eval_type(version["eval_type"]).by_client:
            raise ValueError(
                f"{field}: {version['name']!r} is a {version['eval_type']} metric; the platform scores it"
                " (only metrics of eval type code take your scores)"
            )
        if score.value is not None:
            _in_range(field, version, score.value)


def _in_range(field: str, version: Any, value: bool | float) -> None:
    name, output = version["name"], version["output_type"]
    if output == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"{field}: {name!r} is a boolean metric: the value must be true or false, got {value:g}")
    elif isinstance(value, bool):
        raise ValueError(f"{field}: {name!r} is an {output} metric: the value must be a number, got {value}")
    elif output == "int" and not (value == int(value) and 1 <= value <= 5):
        raise ValueError(f"{field}: {name!r} is an int metric: the value must be a whole number 1..5, got {value:g}")
    elif output == "float" and not 0 <= value <= 1:
        raise ValueError(f"{field}: {name!r} is a float metric: the value must be within 0..1, got {value:g}")
