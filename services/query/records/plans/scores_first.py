"""A project's records in the order of a metric's value (ties by id), the records without a value
last, by id.

Sorting every record of a project by its score takes seconds on a large project. Instead each
version of the metric is walked in value order in scores_by_value (0009), the walks are merged (a
Merge Append), a score counts only if its run pins its version and is in the project, and the
record's own filters and score conditions are tested on each until the page is full; only the
page's records are read. The records without a value (no score, errored, pending, or a value that
is no number) follow, by id (the tail). The rows and their order are the plain statement's.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.query.db import Where
from services.query.records import clauses
from services.query.records.choose import Plan
from services.query.records.plans.base import Learned
from services.query.records.query import RecordQuery
from shared.db.pool import Connection


def statement(query: RecordQuery, limit: int) -> tuple[str, list[Any]]:
    """The records with a value, in value order, after ``query.after``."""
    where = Where()
    tests = clauses.on_records(where, query, project=False)
    tests += clauses.score_tests(where, query, "w.record_id")
    direction = query.direction
    keyset = ""
    if query.after is not None:
        op = "<" if query.order.descending else ">"
        value, last_id = query.after
        keyset = f" AND (s.value_num, s.record_id) {op} ({where.param(value)}::float8, {where.param(last_id)})"
    walks = " UNION ALL ".join(
        "(SELECT s.record_id, s.value_num, s.run_id, s.metric_version_id FROM scores s"
        f" WHERE s.metric_version_id = {where.param(v)} AND s.status = 'completed' AND s.value_num IS NOT NULL{keyset}"
        f" ORDER BY s.value_num {direction}, s.record_id {direction})"
        for v in query.order_versions
    )
    tested = f" WHERE {' AND '.join(tests)}" if tests else ""
    sql = (
        f"SELECT {clauses.RECORD_COLUMNS}, w.value_num AS sort_key FROM ({walks}) w"
        f" JOIN runs ru ON ru.id = w.run_id AND ru.project_id = {where.param(query.project_id)}"
        " AND w.metric_version_id = ANY(ru.metric_version_ids) AND NOT ru.playground_try AND ru.archived_at IS NULL"
        f" JOIN records r ON r.id = w.record_id{tested}"
        f" ORDER BY w.value_num {direction}, w.record_id {direction} LIMIT {where.param(limit)}"
    )
    return sql, where.args


def tail(query: RecordQuery, limit: int) -> tuple[str, list[Any]]:
    """The records without a value, by id, after ``query.after`` when it is one of them."""
    where = Where()
    tests = clauses.on_records(where, query, project=query.project_wide)
    tests.append("sv.value_num IS NULL")
    if query.after is not None and query.after[0] is None:  # else the page starts with the tail
        tests.append(f"r.id {'<' if query.order.descending else '>'} {where.param(query.after[1])}")
    tests += clauses.score_tests(where, query, "r.id")
    joins = " JOIN runs ru ON ru.id = r.run_id" + clauses.value_join(where, query.order_versions)
    direction = query.direction
    sql = (
        f"SELECT {clauses.RECORD_COLUMNS}, sv.value_num AS sort_key FROM records r{joins}"
        f" WHERE {' AND '.join(tests)} ORDER BY r.id {direction} LIMIT {where.param(limit)}"
    )
    return sql, where.args


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    size = query.size
    rows: list[asyncpg.Record] = []
    if query.after is None or query.after[0] is not None:
        sql, args = statement(query, size + 1)
        rows = await conn.fetch(sql, *args)
    if len(rows) <= size:
        sql, args = tail(query, size + 1 - len(rows))
        rows += await conn.fetch(sql, *args)
    return rows
