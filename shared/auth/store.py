"""Verifying API keys: a lookup by the key's public prefix, then a constant-time hash compare.

Verified keys are cached per process, so a call pays a SHA-256 and a dict lookup. A revocation
reaches every replica's cache at once through PostgreSQL's LISTEN/NOTIFY (a trigger on
``api_keys``); while that connection is down, cached keys are re-checked every ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from datetime import UTC, datetime
from functools import partial

import asyncpg

from shared.auth import keys
from shared.auth.access import Principal, Role
from shared.db.pool import Connection, unavailable
from shared.edge.errors import ApiError, Code

log = logging.getLogger(__name__)

CHANNEL = "api_keys_changed"
MISSING = "an API key is required: send it as 'Authorization: Bearer <key>'"
NOT_VALID = "the API key is not valid"
REVOKED = "the API key was revoked"
# Keys live at most this long (CreateApiKey's expires_in_days).
MAX_EXPIRY_DAYS = 3650


def expired(expires_at: datetime) -> str:
    at = f"{expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return f"the API key expired at {at}; ask the project's admin for a new one"


def _unauthenticated(message: str) -> ApiError:
    return ApiError(Code.UNAUTHENTICATED, message)


async def insert_key(
    conn: asyncpg.Pool | Connection, project_id: uuid.UUID | None, name: str, role: str, expires_in_days: int = 0
) -> tuple[uuid.UUID, str]:
    """Store a new key (its hash), expiring ``expires_in_days`` from now (0: never); returns its id
    and the key itself, which exists nowhere else."""
    while True:
        secret, prefix = keys.generate()
        key_id = await conn.fetchval(
            "INSERT INTO api_keys (id, project_id, name, role, prefix, secret_hash, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 > 0 THEN now() + make_interval(days => $7) END)"
            " ON CONFLICT (prefix) DO NOTHING RETURNING id",
            uuid.uuid4(),
            project_id,
            name,
            role,
            prefix,
            keys.digest(secret),
            expires_in_days,
        )
        if key_id is not None:  # else a prefix collision (1 in 2^48): draw again
            return key_id, secret


def _set(event: asyncio.Event, *_: object) -> None:
    event.set()


class KeyStore:
    """Who a key is; the instance admin key from the environment needs no row."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        service: str,
        admin_key: str = "",
        *,
        ttl_s: float = 10.0,
        usage_interval_s: float = 60.0,
    ) -> None:
        self._pool = pool
        self._service = service
        self._admin_digest = keys.digest(admin_key) if admin_key else None
        self._ttl_s = ttl_s
        self._usage_interval_s = usage_interval_s
        self._cache: dict[bytes, tuple[Principal, float]] = {}
        self._recorded: dict[uuid.UUID, float] = {}  # key → when its use was last queued
        self._pending: dict[uuid.UUID, datetime] = {}  # uses not yet written

    async def authenticate(self, key: str | None) -> Principal:
        """The key's principal; UNAUTHENTICATED for no, unknown, revoked or expired keys."""
        if not key:
            raise _unauthenticated(MISSING)
        digest = keys.digest(key)
        if self._admin_digest is not None and hmac.compare_digest(digest, self._admin_digest):
            return Principal(None, None, Role.INSTANCE_ADMIN, "SCOREKEEPER_ADMIN_KEY", "SCOREKEEPER_ADMIN_KEY")
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            principal = cached[0]
        else:
            principal = await self._lookup(key, digest)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (principal, now + self._ttl_s)
        if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
            raise _unauthenticated(expired(principal.expires_at))
        self._used(principal, now)
        return principal

    async def _lookup(self, key: str, digest: bytes) -> Principal:
        prefix = keys.prefix_of(key)
        if prefix is None:
            raise _unauthenticated(NOT_VALID)
        try:
            row = await self._pool.fetchrow(
                "SELECT id, project_id, role, name, secret_hash, revoked_at, expires_at FROM api_keys"
                " WHERE prefix = $1",
                prefix,
            )
        except Exception as exc:
            if unavailable(exc):
                raise ApiError(Code.UNAVAILABLE, "the database is unavailable; try again shortly") from exc
            raise
        if row is None or not hmac.compare_digest(digest, bytes(row["secret_hash"])):
            raise _unauthenticated(NOT_VALID)
        if row["revoked_at"] is not None:
            raise _unauthenticated(REVOKED)
        role = Role.INSTANCE_ADMIN if row["role"] == "instance_admin" else Role.parse(row["role"])
        return Principal(row["id"], row["project_id"], role, prefix, row["name"], row["expires_at"])

    def _used(self, principal: Principal, now: float) -> None:
        if principal.key_id is None:
            return
        if now - self._recorded.get(principal.key_id, -1e9) >= self._usage_interval_s:
            self._recorded[principal.key_id] = now
            self._pending[principal.key_id] = datetime.now(UTC)

    def forget(self, prefix: str) -> None:
        """Drop a key from the cache (it was revoked or changed)."""
        for digest, (principal, _) in list(self._cache.items()):
            if principal.prefix == prefix:
                self._cache.pop(digest, None)

    async def run(self) -> None:
        """Background work: listen for revocations and write when keys were used."""
        await asyncio.gather(self._listen(), self._write_usage())

    async def _listen(self) -> None:
        def changed(_conn: object, _pid: int, _channel: str, prefix: object) -> None:
            self.forget(str(prefix))

        while True:
            try:
                async with self._pool.acquire() as conn:
                    closed = asyncio.Event()
                    conn.add_termination_listener(partial(_set, closed))
                    await conn.add_listener(CHANNEL, changed)
                    # A revocation may have happened while nobody listened.
                    self._cache.clear()
                    try:
                        while not closed.is_set() and not conn.is_closed():
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(closed.wait(), 5.0)
                            await conn.execute("SELECT 1")
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(CHANNEL, changed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listening for API key revocations failed; retrying", exc_info=True)
            await asyncio.sleep(1.0)

    async def _write_usage(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            if not self._pending:
                continue
            pending, self._pending = self._pending, {}
            try:
                await self._pool.executemany(
                    "INSERT INTO api_key_usage (key_id, service, last_used_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (key_id, service) DO UPDATE SET last_used_at ="
                    " greatest(api_key_usage.last_used_at, EXCLUDED.last_used_at)",
                    [(key_id, self._service, at) for key_id, at in pending.items()],
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not record API key use", exc_info=True)
                for key_id, at in pending.items():
                    self._pending.setdefault(key_id, at)
