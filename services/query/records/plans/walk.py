"""A search so frequent that walking records_created in the page's order, testing each record,
fills the page soonest: the plain statement (plain.py) with bitmap scans off. PostgreSQL, misled by
its estimate of the score conditions, would otherwise fetch and sort every match."""

from __future__ import annotations

import asyncpg

from services.query.records.choose import Plan
from services.query.records.plans import plain
from services.query.records.plans.base import Learned
from services.query.records.query import RecordQuery
from shared.db.pool import Connection


async def read(conn: Connection, query: RecordQuery, plan: Plan, learned: Learned) -> list[asyncpg.Record]:
    await conn.execute("SELECT set_config('enable_bitmapscan', 'off', true)")
    return await plain.read(conn, query, plan, learned)
