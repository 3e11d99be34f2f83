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


@dataclass(frozen=True)
class Pinned:
    """A metric a run pins (at some version)."""

    name: str
    output_type: str
    version_id: uuid.UUID


async def pinned(conn: Connection, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, Pinned]]:
    """Per run, the metrics it pins (id → name, output type and version), in the run's order."""
    rows = await conn.fetch(
        "SELECT ru.id AS run_id, v.metric_id, m.name, v.output_type, v.id AS version_id FROM runs ru"
        " CROSS JOIN LATERAL unnest(ru.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
        " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
        " WHERE ru.id = ANY($1::uuid[]) ORDER BY ru.id, p.n",
        list(run_ids),
    )
    found: dict[uuid.UUID, dict[uuid.UUID, Pinned]] = {r: {} for r in run_ids}
    for r in rows:
        found[r["run_id"]][r["metric_id"]] = Pinned(r["name"], r["output_type"], r["version_id"])
    return found
