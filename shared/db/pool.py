"""The asyncpg pool: JSON codecs registered once for every connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg


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
