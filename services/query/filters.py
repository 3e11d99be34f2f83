"""Parsing and checking what a read asks for: pure functions; every problem is an
INVALID_ARGUMENT naming the field and the bad value."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from scorekeeper.v1 import query_pb2 as pb

from shared.edge.errors import invalid
from shared.record_fields import field_path, split_unquoted
from shared.run_status import ALL as RUN_STATUSES
from shared.run_status import SOURCES as RUN_SOURCES
from shared.spans import MAX_STEP_CONDITIONS, StepCondition, step_condition

DEFAULT_PAGE = 100
MAX_PAGE = 1000
RECORD_STATUSES = ("pending", "completed", "errored")

# Score condition operators; the first four need no value.
STATE_OPS = ("passed", "failed", "errored", "unstable")
VALUE_OPS = ("lt", "gt", "eq")
_OP_NAMES = {
    pb.ScoreCondition.PASSED: "passed",
    pb.ScoreCondition.FAILED: "failed",
    pb.ScoreCondition.ERRORED: "errored",
    pb.ScoreCondition.LT: "lt",
    pb.ScoreCondition.GT: "gt",
    pb.ScoreCondition.EQ: "eq",
    pb.ScoreCondition.UNSTABLE: "unstable",
}


@dataclass(frozen=True)
class Condition:
    """A score condition on one metric (a metric id or name, resolved against the project later)."""

    metric: str
    op: str
    value: float | None = None


@dataclass(frozen=True)
class Order:
    """The order of a list: of records, created_at, a usage measure or score (of ``metric``); of a
    comparison's testcases, testcase, delta (of ``metric``, or of every compared one) or latency_delta."""

    key: str
    descending: bool
    metric: str = ""

    @property
    def nullable(self) -> bool:
        """Whether some records have no sort key (no value of the metric, no cost): they come last."""
        return self.key in ("score", "cost_usd")

    @property
    def signature(self) -> str:
        """What a page token is bound to: a token is only valid with the order it was made for."""
        return f"{self.key}.{self.metric} {'desc' if self.descending else 'asc'}"


def page_size(value: int, field: str = "page_size") -> int:
    size = value or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise invalid(f"{field} must be within 1..{MAX_PAGE}, got {value}")
    return size


def optional_uuid(value: str, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid(f"{field} {value!r} is not a valid id") from None


def uuids(values: Iterable[str], field: str) -> list[uuid.UUID]:
    result = []
    for value in values:
        parsed = optional_uuid(value, field)
        if parsed is None:
            raise invalid(f"{field} must not contain an empty id")
        result.append(parsed)
    return result


def one_of(values: Sequence[str], allowed: Sequence[str], field: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise invalid(f"{field} must be any of {', '.join(allowed)}; got {value!r}")
    return list(dict.fromkeys(values))


def sources(values: Sequence[str]) -> list[str]:
    return one_of(values, RUN_SOURCES, "sources")


def run_statuses(values: Sequence[str]) -> list[str]:
    return one_of(values, RUN_STATUSES, "statuses")


def record_statuses(values: Sequence[str]) -> list[str]:
    return one_of(values, RECORD_STATUSES, "statuses")


def time_range(after: str, before: str, prefix: str = "created") -> tuple[datetime | None, datetime | None]:
    """<prefix>_after <= t < <prefix>_before, each an RFC 3339 time with its offset (or Z)."""
    start, end = _time(after, f"{prefix}_after"), _time(before, f"{prefix}_before")
    if start is not None and end is not None and start >= end:
        raise invalid(f"{prefix}_after ({after}) must be before {prefix}_before ({before})")
    return start, end


def _time(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"{field} {value!r} is not an RFC 3339 time such as 2025-01-31T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise invalid(f"{field} {value!r} has no UTC offset; add Z or +hh:mm")
    return parsed


def condition(text: str) -> Condition:
    """The compact form: "<metric>:passed|failed|errored|unstable" or "<metric>:lt|gt|eq:<number>".
    The metric (an id or a name) may itself contain colons: operators are read from the end."""
    parts = text.rsplit(":", 2)
    if len(parts) >= 2 and parts[-1].strip().lower() in STATE_OPS:
        metric = text.rsplit(":", 1)[0]
        return _checked(Condition(metric.strip(), parts[-1].strip().lower()), repr(text))
    if len(parts) == 3 and parts[1].strip().lower() in VALUE_OPS:
        return _checked(
            Condition(parts[0].strip(), parts[1].strip().lower(), _number(parts[2], f"score condition {text!r}")),
            repr(text),
        )
    raise invalid(
        f"score condition {text!r} is malformed; write <metric>:passed, <metric>:failed, <metric>:errored,"
        " <metric>:unstable, or <metric>:lt|gt|eq:<number>"
    )


def condition_from_pb(message: pb.ScoreCondition) -> Condition:
    op = _OP_NAMES.get(message.op)
    shown = f"{{metric: {message.metric!r}, op: {pb.ScoreCondition.Op.Name(message.op)}}}"
    if op is None:
        raise invalid(f"score condition {shown} needs an op: PASSED, FAILED, ERRORED, UNSTABLE, LT, GT or EQ")
    value = message.value if op in VALUE_OPS else None
    if value is not None and not math.isfinite(value):
        raise invalid(f"score condition {shown} needs a finite value, got {value}")
    return _checked(Condition(message.metric.strip(), op, value), shown)


def conditions(messages: Iterable[pb.ScoreCondition], compact: Iterable[str]) -> list[Condition]:
    return [*(condition_from_pb(m) for m in messages), *(condition(c) for c in compact)]


def _checked(parsed: Condition, shown: str) -> Condition:
    if not parsed.metric:
        raise invalid(f"score condition {shown} names no metric")
    return parsed


def _number(raw: str, named: str) -> float:
    """A condition's finite number; ``named``: the condition as its errors name it."""
    try:
        value = float(raw)
    except ValueError:
        raise invalid(f"{named}: {raw.strip()[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise invalid(f"{named}: the value must be a finite number")
    return value


MAX_FIELD_FILTERS = 10


@dataclass(frozen=True)
class FieldFilter:
    """ "metadata.topic=math": the record's ``root`` column holds ``value`` at ``path``."""

    root: str
    path: tuple[str, ...]
    value: str


def field_filters(texts: Sequence[str]) -> list[FieldFilter]:
    """ListRecords' ``fields``: "field=value" each, split at the first = outside double quotes."""
    if len(texts) > MAX_FIELD_FILTERS:
        raise invalid(f"fields may hold at most {MAX_FIELD_FILTERS} filters, got {len(texts)}")
    found = []
    for text in texts:
        parts, closed = split_unquoted(text, "=")
        if len(parts) < 2:
            unclosed = "" if closed else ": a double quote is not closed"
            raise invalid(f"fields filter {text[:100]!r} must be field=value, as metadata.topic=math{unclosed}")
        found.append(FieldFilter(*field_path(parts[0]), "=".join(parts[1:])))
    return found


# A record's usage measures (ListRecords' ``usage`` and its orders beside created_at).
USAGE_MEASURES = ("latency_ms", "tokens", "cost_usd")
USAGE_OPS = ("lt", "gt")
MAX_USAGE_FILTERS = 10


@dataclass(frozen=True)
class UsageFilter:
    """ "latency_ms:gt:2000": the record's ``measure`` is above (gt) or below (lt) ``value``."""

    measure: str
    op: str
    value: float


def usage_filters(texts: Sequence[str]) -> list[UsageFilter]:
    """ListRecords' ``usage``: "<measure>:gt|lt:<number>" each."""
    if len(texts) > MAX_USAGE_FILTERS:
        raise invalid(f"usage may hold at most {MAX_USAGE_FILTERS} conditions, got {len(texts)}")
    found = []
    for text in texts:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) != 3 or parts[0] not in USAGE_MEASURES or parts[1].lower() not in USAGE_OPS:
            raise invalid(
                f"usage condition {text[:100]!r} is malformed; write <measure>:gt:<number> or <measure>:lt:<number>,"
                f" the measure one of {', '.join(USAGE_MEASURES)}"
            )
        value = _number(parts[2], f"usage condition {text[:100]!r}")
        found.append(UsageFilter(parts[0], parts[1].lower(), value))
    return found


def step_filters(texts: Sequence[str]) -> list[StepCondition]:
    """ListRecords' ``steps``: "<name>", "<name>:failed", "<name>:gt:<ms>" or "<name>:lt:<ms>" each."""
    if len(texts) > MAX_STEP_CONDITIONS:
        raise invalid(f"steps may hold at most {MAX_STEP_CONDITIONS} conditions, got {len(texts)}")
    try:
        return [step_condition(text) for text in texts]
    except ValueError as exc:
        raise invalid(str(exc)) from None


_ORDER = re.compile(r"^(?P<key>.+?)(?:\s+(?P<dir>asc|desc))?$", re.IGNORECASE)


def _key_and_direction(text: str) -> tuple[str, bool]:
    """An order's "<key> [asc|desc]": the key, and whether it is descending (asc by default)."""
    match = _ORDER.match(text.strip())
    assert match is not None  # the pattern matches any non-empty text
    return match["key"].strip(), (match["dir"] or "asc").lower() == "desc"


def _metric_of(key: str, prefix: str) -> str:
    """The metric a "<prefix>.<metric>" key names; "" for any other key."""
    return key[len(prefix) + 1 :].strip() if key.startswith(f"{prefix}.") else ""


def order(text: str) -> Order:
    """order_by: "" (created_at desc), "created_at", a usage measure (latency_ms, tokens, cost_usd)
    or "score.<metric>", each with an optional "asc" (the default when a key is given) or "desc"."""
    if not text.strip():
        return Order("created_at", descending=True)
    key, descending = _key_and_direction(text)
    if key == "created_at" or key in USAGE_MEASURES:
        return Order(key, descending)
    if metric := _metric_of(key, "score"):
        return Order("score", descending, metric)
    raise invalid(
        f"order_by {text!r} is not supported; use created_at, {', '.join(USAGE_MEASURES)} or score.<metric>,"
        " then asc or desc"
    )


def comparison_order(text: str) -> Order:
    """A comparison's order_by: "" or "testcase" (by testcase id), "delta" (every compared metric's),
    "delta.<metric>" or "latency_delta", each with an optional "asc" (the default) or "desc"."""
    key, descending = _key_and_direction(text.strip() or "testcase")
    if key == "testcase" and descending:
        raise invalid("order_by 'testcase desc' is not supported: testcases are listed by id, ascending")
    if key in ("testcase", "delta", "latency_delta"):
        return Order(key, descending)
    if metric := _metric_of(key, "delta"):
        return Order("delta", descending, metric)
    raise invalid(
        f"order_by {text[:100]!r} is not supported; use testcase, delta, delta.<metric> or latency_delta,"
        " then asc or desc"
    )
