"""Which metric versions a run (or a monitor) pins: the latest version of each metric named, then
of the named group's other metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg

from services.run_orchestrator.catalog.repository import CatalogRepository
from shared.edge.errors import ApiError, Code, invalid, not_found


def refuse_archived(versions: Iterable[asyncpg.Record]) -> None:
    """FAILED_PRECONDITION naming the first archived metric among ``versions``."""
    for v in versions:
        if v["archived_at"] is not None:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"metric {v['name']!r} ({v['metric_id']}) is archived: unarchive it to score with it",
            )


async def pin_metrics(
    catalog: CatalogRepository,
    project_id: uuid.UUID,
    metric_ids: list[uuid.UUID],
    metric_group_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """The latest version of each metric, in the order given, then of the group's other metrics
    that are not archived; NOT_FOUND names what is not in the project, INVALID_ARGUMENT a metric
    named twice, FAILED_PRECONDITION a metric named that is archived, or a group whose metrics all are."""
    if len(set(metric_ids)) != len(metric_ids):
        raise invalid("metric_ids lists a metric twice")
    named = list(metric_ids)
    metric_ids = list(metric_ids)
    group = None
    if metric_group_id is not None:
        group = await catalog.metric_group(metric_group_id)
        if group is None or group["project_id"] != project_id:
            raise not_found(f"metric group {metric_group_id} does not exist in project {project_id}")
        metric_ids += [m for m in group["metric_ids"] if m not in metric_ids]
    found = {r["metric_id"]: r for r in await catalog.latest_metric_versions(project_id, metric_ids)}
    missing = [str(m) for m in metric_ids if m not in found]
    if missing:
        raise not_found(f"metric(s) {', '.join(missing)} do not exist in project {project_id}")
    refuse_archived(found[m] for m in named)
    pinned = [found[m] for m in metric_ids if found[m]["archived_at"] is None]
    if group is not None and not pinned:
        raise ApiError(
            Code.FAILED_PRECONDITION, f"every metric of the group {group['name']!r} is archived: nothing to score with"
        )
    return pinned
