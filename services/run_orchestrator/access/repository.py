"""The SQL of API keys (the orchestrator writes ``api_keys``; each edge writes its own usage rows)."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import asyncpg

from shared.auth.store import insert_key
from shared.db.pool import fetch_one

_COLUMNS = (
    "k.id, k.project_id, k.name, k.role, k.prefix, k.created_at, k.revoked_at, k.expires_at,"
    " (SELECT max(u.last_used_at) FROM api_key_usage u WHERE u.key_id = k.id) AS last_used_at"
)


class KeyRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, project_id: uuid.UUID | None, name: str, role: str, expires_in_days: int = 0
    ) -> tuple[asyncpg.Record, str]:
        """A new key and its secret (the only time the secret exists outside the caller)."""
        key_id, secret = await insert_key(self._pool, project_id, name, role, expires_in_days)
        return await self._one(key_id), secret

    async def get(self, key_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM api_keys k WHERE k.id = $1", key_id)

    async def _one(self, key_id: uuid.UUID) -> asyncpg.Record:
        return await fetch_one(self._pool, f"SELECT {_COLUMNS} FROM api_keys k WHERE k.id = $1", key_id)

    async def of_project(self, project_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM api_keys k WHERE k.project_id = $1 ORDER BY k.created_at DESC, k.id", project_id
        )

    async def rotate(
        self, key_id: uuid.UUID, grace: timedelta, expires_in_days: int | None
    ) -> tuple[asyncpg.Record, str, asyncpg.Record] | None:
        """A new key of the old one's project, name and role, and the old one working no longer
        than ``grace`` (revoked now for none), in one transaction: (new, its secret, old as it is
        now); None when there is no such key."""
        async with self._pool.acquire() as conn, conn.transaction():
            old = await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1 FOR UPDATE", key_id)
            if old is None:
                return None
            if expires_in_days is None:  # as long a life as the old key had
                life = old["expires_at"] - old["created_at"] if old["expires_at"] else None
                expires_in_days = math.ceil(life / timedelta(days=1)) if life else 0
            new_id, secret = await insert_key(conn, old["project_id"], old["name"], old["role"], expires_in_days)
            if grace:
                await conn.execute(
                    "UPDATE api_keys SET expires_at = least(expires_at, now() + $2::interval) WHERE id = $1",
                    key_id,
                    grace,
                )
            else:
                await conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", key_id)
        return await self._one(new_id), secret, await self._one(key_id)

    async def revoke(self, key_id: uuid.UUID) -> asyncpg.Record | None:
        """The key, revoked now (or when it was revoked before); None when there is no such key."""
        await self._pool.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id)
        return await self.get(key_id)
