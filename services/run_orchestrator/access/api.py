"""AccessService (proto/scorekeeper/v1/access.proto): who am I, and a project's API keys."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from scorekeeper.v1 import access_pb2 as pb

from services.run_orchestrator.access.audit import AuditRepository, check_actions, event_pb
from services.run_orchestrator.access.repository import KeyRepository
from services.run_orchestrator.catalog import rules
from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.testsets.messages import page_size
from shared.auth.access import Role, caller
from shared.auth.store import MAX_EXPIRY_DAYS
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid, timestamp
from shared.edge.errors import invalid, not_found
from shared.edge.validation import checked

# How long a rotated key keeps working at most (RotateApiKey's grace_hours).
MAX_GRACE_HOURS = 720


def _check_expiry(days: int) -> None:
    if not 0 <= days <= MAX_EXPIRY_DAYS:
        raise invalid(f"expires_in_days must be 1..{MAX_EXPIRY_DAYS} (0: never expires), got {days}")


def key_pb(row: asyncpg.Record) -> pb.ApiKey:
    return pb.ApiKey(
        id=str(row["id"]),
        project_id=str(row["project_id"] or ""),
        name=row["name"],
        role=row["role"],
        prefix=row["prefix"],
        created_at=timestamp(row["created_at"]),
        last_used_at=timestamp(row["last_used_at"]),
        revoked_at=timestamp(row["revoked_at"]),
        expires_at=timestamp(row["expires_at"]),
    )


class AccessApi:
    """WhoAmI and the keys of a project. The guard has already checked the caller's role and that
    every id the request names is of the caller's project."""

    def __init__(
        self, keys: KeyRepository, catalog_api: CatalogApi, audit: AuditRepository, actions: frozenset[str]
    ) -> None:
        self._keys = keys
        self._catalog_api = catalog_api
        self._audit = audit
        # The audited RPCs (ListAuditEvents' action filter picks among them).
        self._actions = actions

    async def who_am_i(self, request: pb.WhoAmIRequest) -> pb.WhoAmIResponse:
        principal = caller()
        if principal.key_id is None:  # SCOREKEEPER_ADMIN_KEY, from the environment
            return pb.WhoAmIResponse(key=pb.ApiKey(name=principal.name, role=Role.INSTANCE_ADMIN.label))
        row = await self._keys.get(principal.key_id)
        if row is None:
            raise not_found("this key no longer exists")
        return pb.WhoAmIResponse(key=key_pb(row))

    async def create_api_key(self, request: pb.CreateApiKeyRequest) -> pb.CreateApiKeyResponse:
        project_id = await self._catalog_api.project(request.project_id)
        name = checked(rules.require_name, request.name)
        role = checked(Role.parse, request.role)
        _check_expiry(request.expires_in_days)
        row, secret = await self._keys.create(project_id, name, role.label, request.expires_in_days)
        return pb.CreateApiKeyResponse(key=key_pb(row), secret=secret)

    async def list_api_keys(self, request: pb.ListApiKeysRequest) -> pb.ListApiKeysResponse:
        project_id = await self._catalog_api.project(request.project_id)
        return pb.ListApiKeysResponse(keys=[key_pb(r) for r in await self._keys.of_project(project_id)])

    async def rotate_api_key(self, request: pb.RotateApiKeyRequest) -> pb.RotateApiKeyResponse:
        key_id = parse_uuid(request.key_id, "key_id")
        if not 0 <= request.grace_hours <= MAX_GRACE_HOURS:
            raise invalid(
                f"grace_hours must be 0..{MAX_GRACE_HOURS} (0: the old key is revoked now), got {request.grace_hours}"
            )
        days = request.expires_in_days if request.HasField("expires_in_days") else None
        if days is not None:
            _check_expiry(days)
        rotated = await self._keys.rotate(key_id, timedelta(hours=request.grace_hours), days)
        if rotated is None:
            raise not_found(f"API key {request.key_id} does not exist")
        new, secret, old = rotated
        return pb.RotateApiKeyResponse(key=key_pb(new), secret=secret, replaced=key_pb(old))

    async def revoke_api_key(self, request: pb.RevokeApiKeyRequest) -> pb.ApiKey:
        row = await self._keys.revoke(parse_uuid(request.key_id, "key_id"))
        if row is None:
            raise not_found(f"API key {request.key_id} does not exist")
        return key_pb(row)

    async def list_audit_events(self, request: pb.ListAuditEventsRequest) -> pb.ListAuditEventsResponse:
        project_id = await self._catalog_api.project(request.project_id)
        actions = check_actions(list(request.actions), self._actions)
        key_id = parse_uuid(request.key_id, "key_id") if request.key_id else None
        limit = page_size(request.page_size, 50, 500)
        rows = await self._audit.events(
            project_id, actions, key_id, request.failed_only, page_tokens.newest_first_after(request), limit + 1
        )
        return pb.ListAuditEventsResponse(
            events=[event_pb(r) for r in rows[:limit]],
            next_page_token=page_tokens.newest_first_token(rows, limit, request),
            known_actions=sorted(self._actions),
        )
