"""The one check every API call passes before its operation runs (both edges call it)."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from shared.auth import keys
from shared.auth.access import Principal, Role
from shared.auth.audit import AuditLog
from shared.auth.scope import Owners
from shared.auth.store import KeyStore
from shared.edge.errors import ApiError, Code


class Guard:
    """Who is calling (the key), whether the role allows the RPC, and whether every id the request
    names is of the key's project."""

    def __init__(self, keys_: KeyStore, owners: Owners, audit: AuditLog | None = None) -> None:
        self.keys = keys_
        self._owners = owners
        # Where the calls of audited RPCs are recorded (None: a service that records none).
        self.audit = audit

    @classmethod
    def over(cls, pool: asyncpg.Pool, service: str, admin_key: str, audit: bool = False) -> Guard:
        owners = Owners(pool)
        return cls(KeyStore(pool, service, admin_key), owners, AuditLog(pool, owners) if audit else None)

    async def identify(self, authorization: str | None) -> Principal:
        """The caller's principal; UNAUTHENTICATED without a valid key."""
        return await self.keys.authenticate(keys.bearer(authorization))

    def authorize(self, principal: Principal, rpc: str, role: Role) -> None:
        """PERMISSION_DENIED when the principal's role does not allow the RPC."""
        if not principal.allows(role):
            raise ApiError(
                Code.PERMISSION_DENIED,
                f"{rpc} needs a key with the {role.label} role; this key has the {principal.role.label} role",
            )

    async def check_scope(self, principal: Principal, request: Message) -> None:
        """NOT_FOUND for an id of another project, worded as for an id that does not exist."""
        if principal.project_id is not None:
            await self._owners.check(principal.project_id, request)
