"""A run's result per metric, as monitor alerts and run webhooks tell it: its pass rate (a boolean
metric) or its mean (another), read from the run's metric aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db.pool import Connection


@dataclass(frozen=True)
class MetricResult:
    metric_id: uuid.UUID
    name: str
    output_type: str
    scored: int
    passed: int
    total: float
    # The metric version's passing threshold (None: none).
    threshold: float | None = None

    @property
    def value(self) -> float | None:
        """Pass rate of a boolean metric, mean of another; None when nothing was scored."""
        if self.scored == 0:
            return None
        return self.passed / self.scored if self.output_type == "boolean" else self.total / self.scored


async def metric_results(
    db: Connection | asyncpg.Pool, run_id: uuid.UUID, version_ids: list[uuid.UUID]
) -> list[MetricResult]:
    """The run's result for the metric of each of ``version_ids``, in that order (its shards summed)."""
    rows = await db.fetch(
        "SELECT v.metric_id, m.name, v.output_type, v.passing_threshold, coalesce(sum(a.scored), 0)::int AS scored,"
        " coalesce(sum(a.passed), 0)::int AS passed, coalesce(sum(a.sum), 0)::float8 AS total"
        " FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n) JOIN metric_versions v ON v.id = o.id"
        " JOIN metrics m ON m.id = v.metric_id"
        " LEFT JOIN run_metric_aggregates a ON a.run_id = $1 AND a.metric_version_id = v.id"
        " GROUP BY o.n, v.metric_id, m.name, v.output_type, v.passing_threshold ORDER BY o.n",
        run_id,
        version_ids,
    )
    return [
        MetricResult(
            r["metric_id"], r["name"], r["output_type"], r["scored"], r["passed"], r["total"], r["passing_threshold"]
        )
        for r in rows
    ]


async def runs_metric_results(
    db: Connection | asyncpg.Pool, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[MetricResult]]:
    """Each run's result for each metric it was scored with (runs.metric_version_ids, in order)."""
    rows = await db.fetch(
        "SELECT r.id AS run_id, v.metric_id, m.name, v.output_type, v.passing_threshold,"
        " coalesce(sum(a.scored), 0)::int AS scored, coalesce(sum(a.passed), 0)::int AS passed,"
        " coalesce(sum(a.sum), 0)::float8 AS total"
        " FROM runs r CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS o(id, n)"
        " JOIN metric_versions v ON v.id = o.id JOIN metrics m ON m.id = v.metric_id"
        " LEFT JOIN run_metric_aggregates a ON a.run_id = r.id AND a.metric_version_id = v.id"
        " WHERE r.id = ANY($1::uuid[])"
        " GROUP BY r.id, o.n, v.metric_id, m.name, v.output_type, v.passing_threshold ORDER BY r.id, o.n",
        run_ids,
    )
    results: dict[uuid.UUID, list[MetricResult]] = {}
    for r in rows:
        results.setdefault(r["run_id"], []).append(
            MetricResult(
                r["metric_id"],
                r["name"],
                r["output_type"],
                r["scored"],
                r["passed"],
                r["total"],
                r["passing_threshold"],
            )
        )
    return results


@dataclass(frozen=True)
class Threshold:
    """An alert's threshold of a metric's run value (a monitor's window, a webhook's run): below it fires."""

    metric_id: uuid.UUID
    below: float


def measured(results: list[MetricResult], thresholds: Sequence[Threshold], calls: int = 0) -> list[dict[str, Any]]:
    """Each thresholded metric's value, as an alert lists it. A metric with nothing scored is left
    out when there was nothing to score (no ``calls``: a window's calls, a run's records) and listed
    with ``value`` None otherwise (they all errored, or their scores did: nothing tells the metric
    is at or above its threshold)."""
    by_metric = {r.metric_id: r for r in results}
    found = []
    for t in thresholds:
        result = by_metric.get(t.metric_id)
        if result is None or (result.value is None and not calls):
            continue
        found.append(
            {
                "metric_id": str(t.metric_id),
                "name": result.name,
                "measure": "pass_rate" if result.output_type == "boolean" else "mean",
                "value": result.value,
                "below": t.below,
                "scored": result.scored,
            }
        )
    return found


def below_thresholds(results: list[MetricResult], thresholds: Sequence[Threshold], calls: int) -> list[dict[str, Any]]:
    """The metrics whose value is below their threshold (strictly), or who scored none of the
    ``calls``, as an alert lists them."""
    return [m for m in measured(results, thresholds, calls) if m["value"] is None or m["value"] < m["below"]]
