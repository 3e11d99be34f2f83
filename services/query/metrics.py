"""Metrics named in a read (by id or by name), resolved within the project."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from shared.db.pool import Connection
from shared.edge.errors import invalid


@dataclass(frozen=True)
class MetricRef:
    id: uuid.UUID
    name: str
    # Every version of the metric; a run pins one of them.
    version_ids: tuple[uuid.UUID, ...]


async def resolve(conn: Connection, project_id: uuid.UUID, refs: Sequence[str], field: str) -> dict[str, MetricRef]:
    """Each metric id or name of ``refs`` to its metric; INVALID_ARGUMENT naming an unknown or
    ambiguous one."""
    if not refs:
        return {}
    ids = []
    for ref in refs:
        with contextlib.suppress(ValueError):
            ids.append(uuid.UUID(ref))
    rows = await conn.fetch(
        "SELECT m.id, m.name, array_agg(v.id ORDER BY v.version) AS version_ids"
        " FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
        " WHERE m.project_id = $1 AND (m.id = ANY($2::uuid[]) OR m.name = ANY($3::text[]))"
        " GROUP BY m.id, m.name",
        project_id,
        ids,
        list(refs),
    )
    found = [MetricRef(r["id"], r["name"], tuple(r["version_ids"])) for r in rows]
    resolved = {}
    for ref in refs:
        matches = [m for m in found if str(m.id) == ref.lower() or m.name == ref]
        if not matches:
            raise invalid(f"{field}: unknown metric {ref!r} in project {project_id}")
        if len(matches) > 1:
            raise invalid(f"{field}: the metric name {ref!r} is ambiguous in project {project_id}; use its id")
        resolved[ref] = matches[0]
    return resolved
