"""A project-wide search with score conditions, newest (oldest) first, whose matches are few but
whose conditions hold for few of them.

Walking records_created in the page's order would read every record until the page is full, and
a common pair of words with a rare condition meets the page only after 100,000s of records. So the
search's matches come first, from its GIN bitmap (records_search), as narrow rows (id, run, time)
sorted in the page's order (the sort key is an expression, so no index walk can serve it); the
score conditions are probed in that order only until the page is full, and the project is checked
on the run joined for them; only the page's records are read whole. The rows and their order are
the plain statement's. two_windows.py and key_windows.py read windows of time the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.query.db import Where
from services.query.records import clauses
from services.query.records.choose import Plan
from services.query.records.plans.base import Learned
from services.query.records.query import RecordQuery
from shared.db.pool import Connection


def select(where: Where, record_tests: list[str], query: RecordQuery, limit: int) -> str:
    """The page of the matches passing ``record_tests`` (on records r, ahead of the sort), at most
    ``limit`` rows."""
    direction = query.direction
    tests = clauses.score_tests(where, query, "m.id")
    return (
        f"SELECT {clauses.RECORD_COLUMNS}, p.k AS sort_key FROM ("
        " SELECT m.id, m.k FROM ("
        "  SELECT r.id, r.run_id, r.created_at + interval '0' AS k FROM records r"
        f"  WHERE {' AND '.join(record_tests)} ORDER BY 3 {direction}, 1 {direction} OFFSET 0"
        f" ) m JOIN runs ru ON ru.id = m.run_id AND ru.project_id = {where.param(query.project_id)}"
        " AND NOT ru.playground_try AND ru.archived_at IS NULL"
        f" WHERE {' AND '.join(tests)} ORDER BY m.k {direction}, m.id {direction} LIMIT {where.param(limit)}"
        f") p JOIN records r ON r.id = p.id ORDER BY p.k {direction}, p.id {direction}"
    )


def statement(query: RecordQuery, limit: int, window: Sequence[tuple[str, datetime]] = ()) -> tuple[str, list[Any]]:
    """The page's matches, within ``window`` ((operator, time) tests of created_at, which
    PostgreSQL ANDs from records_created_brin with the search's bitmap)."""
    where = Where()
    tests = clauses.on_records(where, query, project=False)
    if query.after is not None:
        tests.append(clauses.after(where, "r.created_at", query.order, query.after))
    tests += [f"r.created_at {op} {where.param(bound)}" for op, bound in window]
    return select(where, tests, query, limit), where.args


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    sql, args = statement(query, query.size + 1)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows
