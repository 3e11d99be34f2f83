"""What every plan is: a read of a page's rows (Read), with what earlier reads learned (Learned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import asyncpg

from services.query import search_keys
from services.query.records.choose import Plan
from services.query.records.query import RecordQuery
from services.query.records.spread import SpreadCache
from shared.db.pool import Connection


@dataclass
class Learned:
    """What this process's earlier reads learned, to size windows of time: how records spread
    over created_at, and the rates at which filters held (search_keys.Rates). Never changes rows."""

    spread: SpreadCache = field(default_factory=SpreadCache)
    rates: search_keys.Rates = field(default_factory=search_keys.Rates)


class Read(Protocol):
    """A way of reading a page: up to ``query.size + 1`` rows (one more tells that a next page
    exists), the record's columns (clauses.RECORD_COLUMNS) and its ``sort_key``, in the page's
    order, after ``query.after``. Every way returns the same rows for the same query."""

    async def __call__(
        self, conn: Connection, query: RecordQuery, plan: Plan, learned: Learned
    ) -> list[asyncpg.Record]: ...
