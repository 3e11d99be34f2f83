"""The records filters of the run page and the Records page: query parameters ⇄ ListRecords.

Score conditions are built with controls (metric, test, value), one row each, and become the API's
compact ``where`` conditions ("<metric id>:failed", "<metric id>:lt:0.5"); what a record used is
bounded by "above" and "below" boxes per measure, the API's ``usage`` ("latency_ms:gt:2000"); the
steps a record's call took are typed in the API's syntax ("retrieve:failed"), as the run's steps
across the run link to them, and so is the search box; the rest is chosen with controls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from shared.spans import MAX_STEP_CONDITIONS, step_condition

# test → (label, needs a value)
CONDITION_OPS: dict[str, tuple[str, bool]] = {
    "passed": ("passed", False),
    "failed": ("failed", False),
    "errored": ("errored", False),
    "unstable": ("unstable across trials", False),
    "lt": ("value <", True),
    "gt": ("value >", True),
    "eq": ("value =", True),
}
RECORD_STATUSES = ("completed", "errored", "pending")
ORDERS = {
    "created_at desc": "Newest first",
    "created_at": "Oldest first",
    "latency_ms desc": "Slowest first",
    "latency_ms": "Fastest first",
    "tokens desc": "Most tokens first",
    "cost_usd desc": "Costliest first",
    "cost_usd": "Cheapest first",
}
# What a record used (ListRecords' usage) → its label; each has an "above" and a "below" box, the
# query parameters <measure>_gt and <measure>_lt.
USAGE_MEASURES = {"latency_ms": "Latency (ms)", "tokens": "Tokens", "cost_usd": "Cost (USD)"}
USAGE_OPS = {"gt": "above", "lt": "below"}


class FilterError(ValueError):
    """A filter the visitor set that cannot be read (a value that is not a number)."""


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    value: str = ""

    def where(self) -> str:
        if CONDITION_OPS[self.op][1]:
            try:
                number = float(self.value)
            except ValueError:
                raise FilterError(f"{self.value!r} is not a number") from None
            return f"{self.metric}:{self.op}:{number:g}"
        return f"{self.metric}:{self.op}"


@dataclass(frozen=True)
class UsageBound:
    """ "Latency above 2000": a bound on what a record used, as the API's "latency_ms:gt:2000"."""

    measure: str
    op: str
    value: str

    @property
    def param(self) -> str:
        return f"{self.measure}_{self.op}"

    def usage(self) -> str:
        try:
            number = float(self.value)
        except ValueError:
            raise FilterError(f"{self.value!r} is not a number") from None
        if not math.isfinite(number):
            raise FilterError(f"{self.value!r} is not a finite number")
        return f"{self.measure}:{self.op}:{number:.15g}"


def _readable(read: Callable[[], str], named: str, errors: list[str]) -> bool:
    """Whether a filter the visitor set reads as the API's; if not, why is added to ``errors``."""
    try:
        read()
    except FilterError as exc:
        errors.append(f"{named} ignored: {exc}.")
        return False
    return True


# What a field filter starts with (ListRecords' fields).
FIELD_ROOTS = ("metadata.", "inputs.", "expected.")


@dataclass(frozen=True)
class RecordFilters:
    """What the visitor chose; ``params()`` gives it back as a query string."""

    search: str = ""
    statuses: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    run_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # "metadata.topic=math": a testcase field's value (a run's breakdown links to them).
    fields: tuple[str, ...] = ()
    usage: tuple[UsageBound, ...] = ()
    # "retrieve:failed": the steps a record's call took (the run's steps across the run link to them).
    steps: tuple[str, ...] = ()
    order_by: str = "created_at desc"
    token: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: QueryParams, metric_ids: set[str] | None = None) -> RecordFilters:
        conditions = []
        errors: list[str] = []
        # A condition without a value (a hand-made address) is the same as one with an empty value.
        for metric, op, value in zip_longest(
            params.getlist("cond_metric"), params.getlist("cond_op"), params.getlist("cond_value"), fillvalue=""
        ):
            if not metric or op not in CONDITION_OPS:
                continue
            condition = Condition(metric, op, value.strip())
            if _readable(condition.where, "Score condition", errors):
                conditions.append(condition)
        order = params.get("order", "created_at desc")
        allowed_orders = set(ORDERS) | {f"score.{m}{d}" for m in (metric_ids or set()) for d in ("", " desc")}
        tags = tuple(t.strip() for raw in params.getlist("tags") for t in raw.split(",") if t.strip())
        fields = []
        for text in (f.strip() for f in params.getlist("field")):
            if text and ("=" not in text or not text.startswith(FIELD_ROOTS)):
                shown = text[:100]
                errors.append(f"Field filter ignored: {shown!r} is not metadata.<key>=<value> (inputs., expected.)")
            elif text:
                fields.append(text)
        usage = []
        for measure, label in USAGE_MEASURES.items():
            for op, said in USAGE_OPS.items():
                bound = UsageBound(measure, op, params.get(f"{measure}_{op}", "").strip())
                if bound.value and _readable(bound.usage, f"{label} {said}", errors):
                    usage.append(bound)
        steps: list[str] = []
        for text in dict.fromkeys(t.strip() for t in params.getlist("step") if t.strip()):
            try:
                step_condition(text)
            except ValueError as exc:
                errors.append(f"Step filter ignored: {str(exc).removeprefix('steps condition ')}.")
                continue
            if len(steps) == MAX_STEP_CONDITIONS:
                errors.append(f"Step filter ignored: {text[:100]!r}, past the {MAX_STEP_CONDITIONS} a list takes.")
                continue
            steps.append(text)
        return cls(
            search=params.get("search", "").strip(),
            statuses=tuple(s for s in params.getlist("status") if s in RECORD_STATUSES),
            conditions=tuple(conditions),
            run_ids=tuple(r for r in params.getlist("run") if r),
            tags=tags,
            fields=tuple(fields),
            usage=tuple(usage),
            steps=tuple(steps),
            order_by=order if order in allowed_orders else "created_at desc",
            token=params.get("token", ""),
            errors=errors,
        )

    def request_fields(self) -> dict[str, object]:
        return {
            "search": self.search,
            "statuses": list(self.statuses),
            "where": [c.where() for c in self.conditions],
            "run_ids": list(self.run_ids),
            "tags": list(self.tags),
            "fields": list(self.fields),
            "usage": [u.usage() for u in self.usage],
            "steps": list(self.steps),
            "order_by": self.order_by,
            "page_token": self.token,
        }

    def params(self, *, token: str = "") -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if self.search:
            items.append(("search", self.search))
        items += [("status", s) for s in self.statuses]
        items += [("run", r) for r in self.run_ids]
        if self.tags:
            items.append(("tags", ",".join(self.tags)))
        items += [("field", f) for f in self.fields]
        items += [(u.param, u.value) for u in self.usage]
        items += [("step", t) for t in self.steps]
        for c in self.conditions:
            items += [("cond_metric", c.metric), ("cond_op", c.op), ("cond_value", c.value)]
        if self.order_by != "created_at desc":
            items.append(("order", self.order_by))
        if token:
            items.append(("token", token))
        return items

    def query(self, *, token: str = "") -> str:
        return urlencode(self.params(token=token))

    @property
    def active(self) -> bool:
        return bool(
            self.search
            or self.statuses
            or self.conditions
            or self.run_ids
            or self.tags
            or self.fields
            or self.usage
            or self.steps
        )

    def bound(self, measure: str, op: str) -> str:
        """The value of one usage box as the visitor typed it ("" when empty)."""
        return next((u.value for u in self.usage if (u.measure, u.op) == (measure, op)), "")

    def without(self, param: str, text: str) -> str:
        """This query string without one of its field or step filters (``param``: field, step)."""
        return urlencode([(k, v) for k, v in self.params() if (k, v) != (param, text)])


@dataclass(frozen=True)
class Used:
    """The usage columns a page of records shows: tokens and cost, when a record on it reported them."""

    tokens: bool
    cost: bool


def used(records: Sequence[Any]) -> Used:
    """Of RecordViews."""
    return Used(
        tokens=any(r.prompt_tokens or r.completion_tokens for r in records),
        cost=any(r.HasField("cost_usd") for r in records),
    )


# What the filters' form draws with, on the run page and the Records page alike.
FORM_CONTEXT = {
    "ops": CONDITION_OPS,
    "orders": ORDERS,
    "usage_measures": USAGE_MEASURES,
    "usage_ops": USAGE_OPS,
    "record_statuses": RECORD_STATUSES,
}
