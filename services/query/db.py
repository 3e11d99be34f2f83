"""Read snapshots for the query service: one read-only transaction per request, bounded by the
caller's deadline, and a small builder for parameterised WHERE clauses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.db.pool import Connection
from shared.edge.api import request_deadline
from shared.edge.errors import ApiError, Code


def _deadline_exceeded() -> ApiError:
    return ApiError(Code.DEADLINE_EXCEEDED, "the query did not finish within the request's deadline")


async def work_mem(conn: Connection, size: str) -> None:
    """The memory each sort or hash of the transaction's statements may take before spilling to disk
    (PostgreSQL's default is 4 MB): for the reads that sort or join a whole large run."""
    await conn.execute("SELECT set_config('work_mem', $1, true)", size)


class Reader:
    """Consistent, read-only views of the database for one request each."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Connection]:
        """A repeatable-read, read-only transaction. With a gRPC deadline, PostgreSQL stops every
        statement when it passes (statement_timeout), and the caller gets DEADLINE_EXCEEDED."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await self._bound(conn)
            try:
                yield conn
            except asyncpg.QueryCanceledError as exc:
                raise _deadline_exceeded() from exc

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[Connection]:
        """A read-only transaction for a server-side cursor (exports), without a time bound: an
        export takes as long as the client reads."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield conn

    @staticmethod
    async def _bound(conn: Connection) -> None:
        deadline = request_deadline.get()
        timeout_ms = 0  # no limit
        if deadline is not None:
            timeout_ms = int((deadline - time.monotonic()) * 1000)
            if timeout_ms < 1:
                raise _deadline_exceeded()
        # Custom plans: the best plan for a search term or a score condition depends on its value.
        await conn.execute(
            "SELECT set_config('statement_timeout', $1, true),"
            " set_config('plan_cache_mode', 'force_custom_plan', true)",
            str(timeout_ms),
        )


class Where:
    """AND-ed SQL conditions written in code, with their values as numbered parameters."""

    def __init__(self, *args: Any) -> None:
        self.args: list[Any] = list(args)
        self._clauses: list[str] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self._clauses.append(clause)

    def sql(self) -> str:
        return " AND ".join(self._clauses) if self._clauses else "true"
