"""Matches first (matches_first.py) for a search with many matches: the newest (oldest) 40% of
the records after the page's start first, the rest only when the page is not full.

A window's matches are the search's GIN bitmap AND-ed with the window's pages in the BRIN index
records_created_brin (0007, 4 pages per range, so the GIN bitmap goes first and the AND stays
exact), so the heap is read only for the window's matches. The windows tile the time line, each
in the page's order (the bound belongs to the first), so the two parts are the page in its order.
Without a histogram of records.created_at, or with too little ahead to split, one statement.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.query.records.choose import Plan
from services.query.records.plans import matches_first
from services.query.records.plans.base import Learned
from services.query.records.query import RecordQuery
from services.query.records.spread import Spread
from shared.db.pool import Connection

# The first window: this share of the records, from the page's start.
FIRST_WINDOW = 0.4
# No window when less than this share of the records lies beyond the first one.
MIN_REST = 0.1


def first_bound(spread: Spread, descending: bool, start: datetime | None) -> datetime | None:
    """Where the first window of a page starting at ``start`` (None: at the newest, or oldest,
    record) ends; None when what lies ahead is too little to split."""
    if descending:
        ahead = spread.below(start) if start is not None else 1.0
        end = ahead - FIRST_WINDOW
        return spread.at(end) if end >= MIN_REST else None
    behind = spread.below(start) if start is not None else 0.0
    end = behind + FIRST_WINDOW
    return spread.at(end) if end <= 1.0 - MIN_REST else None


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    spread = await learned.spread.get(conn)
    bound = None
    if spread is not None:
        bound = first_bound(spread, query.order.descending, query.after[0] if query.after is not None else None)
    if bound is None:
        return await matches_first.read(conn, query, plan, learned)
    size = query.size
    within, past = (">=", "<") if query.order.descending else ("<=", ">")
    sql, args = matches_first.statement(query, size + 1, [(within, bound)])
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    if len(rows) <= size:
        sql, args = matches_first.statement(query, size + 1 - len(rows), [(past, bound)])
        rows += await conn.fetch(sql, *args)
    return rows
