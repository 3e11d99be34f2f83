"""What a ListRecords call asks for, parsed and resolved: the input of every plan."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from services.query import filters
from shared.spans import StepCondition


@dataclass(frozen=True)
class Condition:
    """A score condition with its metric resolved: every version of that metric (a record's run
    pins one of them)."""

    asked: filters.Condition
    version_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class RecordQuery:
    """The records a page holds (one run's, some runs', or a project's, and the filters), their
    order, the page's size and where it starts (``after``: the last row's sort key and id). Every
    plan reads the same rows for it; only how differs."""

    project_id: uuid.UUID
    order: filters.Order
    size: int
    run_id: uuid.UUID | None = None
    run_ids: tuple[uuid.UUID, ...] = ()
    testcase_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    search: str | None = None
    # "metadata.topic=math": the testcase field's value, as text.
    fields: tuple[filters.FieldFilter, ...] = ()
    # "latency_ms:gt:2000": what the record used.
    usage: tuple[filters.UsageFilter, ...] = ()
    # "retrieve:failed": the steps the record's call took.
    steps: tuple[StepCondition, ...] = ()
    conditions: tuple[Condition, ...] = ()
    # In an order by a metric's value: every version of that metric.
    order_versions: tuple[uuid.UUID, ...] = ()
    after: tuple[Any, uuid.UUID] | None = None

    @property
    def project_wide(self) -> bool:
        """Across the project (the Records page), not within chosen runs."""
        return self.run_id is None and not self.run_ids

    @property
    def direction(self) -> str:
        return "DESC" if self.order.descending else "ASC"

    @property
    def other_filters(self) -> Hashable:
        """The filters but the search (search_keys.Rates keeps the rate they held at, by them)."""
        return (
            self.project_id,
            tuple(c.asked for c in self.conditions),
            self.statuses,
            self.tags,
            self.fields,
            self.usage,
            self.steps,
        )
