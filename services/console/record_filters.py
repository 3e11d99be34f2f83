"""The records filters of the run page and the Records page: query parameters ⇄ ListRecords.

Score conditions are built with controls (metric, test, value), one row each, and become the API's
compact ``where`` conditions ("<metric id>:failed", "<metric id>:lt:0.5"); nothing is typed in
the API's syntax except the search box, which takes the API's search syntax as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

# test → (label, needs a value)
CONDITION_OPS: dict[str, tuple[str, bool]] = {
    "passed": ("passed", False),
    "failed": ("failed", False),
    "errored": ("errored", False),
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
}


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
    order_by: str = "created_at desc"
    token: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: QueryParams, metric_ids: set[str] | None = None) -> RecordFilters:
        conditions = []
        errors = []
        # A condition without a value (a hand-made address) is the same as one with an empty value.
        for metric, op, value in zip_longest(
            params.getlist("cond_metric"), params.getlist("cond_op"), params.getlist("cond_value"), fillvalue=""
        ):
            if not metric or op not in CONDITION_OPS:
                continue
            condition = Condition(metric, op, value.strip())
            try:
                condition.where()
            except FilterError as exc:
                errors.append(f"Score condition ignored: {exc}.")
                continue
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
        return cls(
            search=params.get("search", "").strip(),
            statuses=tuple(s for s in params.getlist("status") if s in RECORD_STATUSES),
            conditions=tuple(conditions),
            run_ids=tuple(r for r in params.getlist("run") if r),
            tags=tags,
            fields=tuple(fields),
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
        return bool(self.search or self.statuses or self.conditions or self.run_ids or self.tags or self.fields)

    def without_field(self, text: str) -> str:
        """This query string without one field filter."""
        return urlencode([(k, v) for k, v in self.params() if (k, v) != ("field", text)])
