"""The one check every API call passes before its operation runs (both edges call it)."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from shared.auth import keys
from shared.auth.access import Principal, Role
from shared.auth.scope import Owners
from shared.auth.store import KeyStore
from shared.edge.errors import ApiError, Code


class Guard:
    """Who is calling (the key), whether the role allows the RPC, and whether every id the request
    names is of the key's project."""

    def __init__(self, keys_: KeyStore, owners: Owners) -> None:
        self.keys = keys_
        self._owners = owners

    @classmethod
    def over(cls, pool: asyncpg.Pool, service: str, admin_key: str) -> Guard:
        return cls(KeyStore(pool, service, admin_key), Owners(pool))

    async def authenticate(self, rpc: str, role: Role, authorization: str | None) -> Principal:
        """The caller's principal; UNAUTHENTICATED without a valid key, PERMISSION_DENIED when its
        role does not allow the RPC."""
        principal = await self.keys.authenticate(keys.bearer(authorization))
        if not principal.allows(role):
            raise ApiError(
                Code.PERMISSION_DENIED,
                f"{rpc} needs a key with the {role.label} role; this key has the {principal.role.label} role",
            )
        return principal

    async def check_scope(self, principal: Principal, request: Message) -> None:
        """NOT_FOUND for an id of another project, worded as for an id that does not exist."""
        if principal.project_id is not None:
            await self._owners.check(principal.project_id, request)
