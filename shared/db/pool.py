"""The asyncpg pool: JSON codecs registered once for every connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

# What handlers pass around: a plain connection or one borrowed from the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@asynccontextmanager
async def create_pool(dsn: str, *, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, init=_init_connection)
    try:
        yield pool
    finally:
        await pool.close()


async def fetch_one(conn: asyncpg.Pool | Connection, query: str, *args: Any) -> asyncpg.Record:
    """A query that always yields one row (INSERT … RETURNING, aggregates)."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise LookupError(f"no row returned by: {query[:80]}")
    return row


async def database_reachable(pool: asyncpg.Pool) -> bool:
    try:
        return bool(await pool.fetchval("SELECT 1", timeout=1.0))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
