"""Which metric versions a run (or a monitor) pins: the latest version of each metric named, then
of the named group's other metrics."""

from __future__ import annotations

import uuid

import asyncpg

from services.run_orchestrator.catalog.repository import CatalogRepository
from shared.edge.errors import invalid, not_found


async def pin_metrics(
    catalog: CatalogRepository,
    project_id: uuid.UUID,
    metric_ids: list[uuid.UUID],
    metric_group_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """The latest version of each metric, in the order given; NOT_FOUND names what is not in the
    project, INVALID_ARGUMENT a metric named twice."""
    if len(set(metric_ids)) != len(metric_ids):
        raise invalid("metric_ids lists a metric twice")
    metric_ids = list(metric_ids)
    if metric_group_id is not None:
        group = await catalog.metric_group(metric_group_id)
        if group is None or group["project_id"] != project_id:
            raise not_found(f"metric group {metric_group_id} does not exist in project {project_id}")
        metric_ids += [m for m in group["metric_ids"] if m not in metric_ids]
    found = {r["metric_id"]: r for r in await catalog.latest_metric_versions(project_id, metric_ids)}
    missing = [str(m) for m in metric_ids if m not in found]
    if missing:
        raise not_found(f"metric(s) {', '.join(missing)} do not exist in project {project_id}")
    return [found[m] for m in metric_ids]
