"""A project-wide search with score conditions, newest (oldest) first, that is an AND of words and
phrases or an OR of words: read by its keys in records_search_keys (0010, 0011), in windows of
time from the page's start outward until the page is full (search_keys.py).

A window's candidates are the records holding the search's words and word pairs (``@>``, or
``&&`` the words of an OR) AND-ed with the buckets covering the window (``&&``), from one GIN
scan; each window is then read as matches_first.py reads a search's matches. Every other test is
written so that no other index can serve it (``ts_match_vq`` for the search, ``created_at +
interval '0'`` for times), so the bitmap is that index's alone and exact; when the keys are the
search itself the vector is not tested at all.

The first window is sized to hold ~search_keys.WINDOW_MATCHES matches, or what the page needs at
the rate the other filters last held (search_keys.first_step, Rates); each next one to what the
page still needs at the rate the windows so far gave rows (search_keys.next_step); the last is
unbounded. The windows tile the time line and each is read in the page's order, so the rows are
the page. A window's buckets cover it up to the oldest (newest) record of this snapshot, so every
match within it is in the bitmap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.query import search_keys
from services.query.db import Where
from services.query.records import clauses
from services.query.records.choose import Plan
from services.query.records.plans import matches_first
from services.query.records.plans.base import Learned
from services.query.records.query import RecordQuery
from shared.db.pool import Connection

# No further window when less than this share of the records lies beyond it.
MIN_STEP = 0.02
# The created_at a window tests: an expression, so that records_created cannot serve it.
CREATED = "r.created_at + interval '0'"
# The search tested on the vector without records_search serving it.
SEARCH_CHECKED = "ts_match_vq(r.search, {})"


def statement(
    query: RecordQuery,
    limit: int,
    window: Sequence[tuple[str, datetime]],
    terms: search_keys.Terms,
    buckets: list[str] | None,
) -> tuple[str, list[Any]]:
    """The page's matches within ``window`` ((operator, time) tests of created_at), found by the
    search's ``terms`` and the window's ``buckets`` (None: every bucket) in records_search_keys."""
    where = Where()
    tests = clauses.on_records(where, query, project=False, search=None if terms.exact else SEARCH_CHECKED)
    if terms.keys:
        tests.append(f"{clauses.SEARCH_KEYS} @> {where.param(terms.keys)}::text[]")
    if terms.any:
        tests.append(f"{clauses.SEARCH_KEYS} && {where.param(terms.any)}::text[]")
    if buckets is not None:
        tests.append(f"{clauses.SEARCH_KEYS} && {where.param(buckets)}::text[]")
    if query.after is not None:
        tests.append(clauses.after(where, f"({CREATED})", query.order, query.after))
    tests += [f"{CREATED} {op} {where.param(bound)}" for op, bound in window]
    return matches_first.select(where, tests, query, limit), where.args


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    estimate = plan.estimate
    if estimate is None:
        raise ValueError("key windows are sized by the search's estimate")
    # PostgreSQL cannot estimate a window's time tests and expects a few of its matches where
    # there are thousands, so it may pick a nested loop over every run of the project: without
    # sequential scans the runs are read by primary key. No workers either, for so little work.
    await conn.execute(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
    )
    ends = await conn.fetchrow("SELECT min(created_at) AS oldest, max(created_at) AS newest FROM records")
    assert ends is not None
    if ends["oldest"] is None:
        return []
    descending, size = query.order.descending, query.size
    start = query.after[0] if query.after is not None else None
    near = start or (ends["newest"] if descending else ends["oldest"])
    far = ends["oldest"] if descending else ends["newest"]
    inside, outside = (">=", "<") if descending else ("<=", ">")
    spread = await learned.spread.get(conn)
    matches = estimate.share * estimate.records
    others = query.other_filters
    first = step = search_keys.first_step(matches, size + 1, learned.rates.get(others, time.monotonic()))
    # where the page starts, as the share of the records older than that
    edge = 1.0 if descending else 0.0
    if spread is not None and start is not None:
        edge = spread.below(start)
    near_bound: datetime | None = None
    rows: list[asyncpg.Record] = []
    covered, covered_rows = 0.0, 0  # the share of the records whole windows covered, and their rows
    while True:
        edge = edge - step if descending else edge + step
        bound = None  # the last window: everything beyond the previous one
        if spread is not None and (edge if descending else 1.0 - edge) >= MIN_STEP:
            bound = spread.at(edge)
        window = [(outside, near_bound)] if near_bound is not None else []
        if bound is not None:
            window.append((inside, bound))
        buckets = search_keys.buckets(near, bound or far)
        sql, args = statement(query, size + 1 - len(rows), window, estimate.terms, buckets)
        found = await conn.fetch(sql, *args)
        rows += found
        if len(rows) > size or bound is None:
            # A window that filled the page was read only in part: its rows say nothing of a rate.
            learned.rates.note(others, covered_rows, covered * matches, time.monotonic())
            return rows
        covered, covered_rows = covered + step, covered_rows + len(found)
        step = search_keys.next_step(step, size + 1 - len(rows), len(found), first)
        near = near_bound = bound
