"""The asyncpg pool: JSON codecs registered once for every connection."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import orjson

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

# What handlers pass around: a plain connection or one borrowed from the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


async def _init_connection(conn: asyncpg.Connection, decoder: Callable[[str], Any] = json.loads) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=decoder, schema="pg_catalog")


# A run of 19 digits: an integer orjson might read beyond 64 bits (as a float, rounded).
_LONG_INTEGER = re.compile(r"\d{19}")


def read_json(text: str) -> Any:
    """JSON from PostgreSQL for the reads: orjson, ~3x faster than json, except for a document
    holding an integer beyond 64 bits, which orjson would round and json keeps exact."""
    if _LONG_INTEGER.search(text):
        return json.loads(text)
    return orjson.loads(text)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with. asyncpg's default reset sends a statement on
    every release (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): a round trip
    and ~0.06 ms of PostgreSQL's CPU, once per transaction or two. Nothing here leaves session
    state behind — settings are ``set_config(…, true)`` (the transaction's), advisory locks
    ``pg_advisory_xact_lock``, the one LISTEN (the key store's) is removed before its connection
    goes back, and cursors live in transactions — so nothing is sent. asyncpg still rolls back
    a transaction left open and drops listeners."""


@asynccontextmanager
async def create_pool(
    dsn: str, *, max_size: int = 10, json_decoder: Callable[[str], Any] = json.loads
) -> AsyncIterator[asyncpg.Pool]:
    init = partial(_init_connection, decoder=json_decoder)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, init=init, reset=_keep_session)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, conn: Connection | None = None) -> AsyncIterator[Connection]:
    """``conn`` when the caller's transaction is open on it (its writes then commit or roll back
    with the caller's others); otherwise a connection of the pool, in a transaction of its own."""
    if conn is not None:
        yield conn
        return
    async with pool.acquire() as own, own.transaction():
        yield own


async def fetch_one(conn: asyncpg.Pool | Connection, query: str, *args: Any) -> asyncpg.Record:
    """A query that always yields one row (INSERT … RETURNING, aggregates)."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise LookupError(f"no row returned by: {query[:80]}")
    return row


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached, is restarting or is out of connections: a failure of
    the infrastructure, never of the request or message that met it (a cancelled statement is
    not one: that is a deadline)."""
    if isinstance(exc, asyncpg.QueryCanceledError):
        return False
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError
        | asyncpg.InterfaceError,
    )


async def database_reachable(pool: asyncpg.Pool) -> bool:
    try:
        return bool(await pool.fetchval("SELECT 1", timeout=1.0))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
