"""The audit log's reading side (ListAuditEvents) and its retention; the edge writes it
(shared/auth/audit.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import asyncpg
from google.protobuf.descriptor import ServiceDescriptor
from scorekeeper.v1 import access_pb2 as pb

from shared.auth.access import required_role
from shared.auth.audit import audited
from shared.edge.convert import timestamp
from shared.edge.errors import invalid

# The most actions one request may filter by.
MAX_ACTIONS = 50


def audited_actions(services: Iterable[ServiceDescriptor]) -> frozenset[str]:
    """The RPCs of these services whose calls the audit log holds."""
    return frozenset(m.name for s in services for m in s.methods if audited(m, required_role(m)))


def check_actions(actions: list[str], known: frozenset[str]) -> list[str]:
    """ListAuditEvents' action filter: each one an audited RPC (INVALID_ARGUMENT naming the first
    that is not, and the choices)."""
    if len(actions) > MAX_ACTIONS:
        raise invalid(f"actions may hold at most {MAX_ACTIONS} names, got {len(actions)}")
    for i, action in enumerate(actions):
        if action not in known:
            choices = ", ".join(sorted(known))
            raise invalid(f"actions[{i}] {action[:100]!r} is not an action the audit log holds; one of: {choices}")
    return actions


def event_pb(row: asyncpg.Record) -> pb.AuditEvent:
    return pb.AuditEvent(
        id=str(row["id"]),
        project_id=str(row["project_id"] or ""),
        at=timestamp(row["at"]),
        key_id=str(row["key_id"] or ""),
        key_name=row["key_name"],
        key_prefix=row["key_prefix"],
        key_role=row["key_role"],
        action=row["action"],
        edge=row["edge"],
        targets=[pb.AuditTarget(field=t["field"], ids=t["ids"], count=t["count"]) for t in row["targets"]],
        name=row["name"],
        outcome=row["outcome"],
        error=row["error"],
        client=row["client"],
    )


class AuditRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def events(
        self,
        project_id: uuid.UUID,
        actions: list[str],
        key_id: uuid.UUID | None,
        failed_only: bool,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        """The project's events, newest first, after the (at, id) of a previous page's last."""
        return await self._pool.fetch(
            "SELECT *, at AS created_at FROM audit_events WHERE project_id = $1"
            " AND (cardinality($2::text[]) = 0 OR action = ANY($2::text[]))"
            " AND ($3::uuid IS NULL OR key_id = $3) AND (NOT $4 OR outcome <> 'OK')"
            " AND ($5::timestamptz IS NULL OR (at, id) < ($5, $6::uuid))"
            " ORDER BY at DESC, id DESC LIMIT $7",
            project_id,
            actions,
            key_id,
            failed_only,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
