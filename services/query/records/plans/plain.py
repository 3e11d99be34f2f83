"""The plain statement: the records passing the filters, in the page's order, as PostgreSQL
plans it. One run's records (records_run_id), a project's in an order that an index serves
(records_created), or a search whose matches are few enough to sort."""

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
    where = Where()
    key = clauses.SORT_KEYS[query.order.key]
    tests = clauses.on_records(where, query, project=query.project_wide)
    if query.after is not None:
        tests.append(clauses.after(where, key, query.order, query.after))
    tests += clauses.score_tests(where, query, "r.id")
    joins = ""
    if query.conditions or query.order.metric:
        joins += " JOIN runs ru ON ru.id = r.run_id"
    if query.order.metric:
        joins += clauses.value_join(where, query.order_versions)
    nulls = " NULLS LAST" if query.order.nullable else ""
    direction = query.direction
    sql = (
        f"SELECT {clauses.RECORD_COLUMNS}, {key} AS sort_key FROM records r{joins}"
        f" WHERE {' AND '.join(tests) or 'true'}"
        f" ORDER BY {key} {direction}{nulls}, r.id {direction} LIMIT {where.param(limit)}"
    )
    return sql, where.args


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    sql, args = statement(query, query.size + 1)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows
