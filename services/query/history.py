"""GetRunHistory: per-metric time series over a project's runs, read from the aggregates the
scorer keeps per run × metric version (no scan of scores)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from scorekeeper.v1 import query_pb2 as pb

from services.query import filters, metrics
from services.query.db import Reader, Where
from shared.edge.convert import parse_uuid, timestamp
from shared.edge.errors import invalid, not_found

DEFAULT_RUNS = 100
MAX_RUNS = 1000
MAX_METRICS = 20


def point_value(output_type: str, scored: int, passed: int, total: float) -> float | None:
    """A boolean metric's pass rate in %, an int / float metric's mean; None while nothing is scored."""
    if scored == 0:
        return None
    return 100.0 * passed / scored if output_type == "boolean" else total / scored


class HistoryReads:
    """GetRunHistory."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_run_history(self, request: pb.GetRunHistoryRequest) -> pb.GetRunHistoryResponse:
        project_id = parse_uuid(request.project_id, "project_id")
        if not request.metrics:
            raise invalid("metrics is required: name at least one metric id or name")
        if len(request.metrics) > MAX_METRICS:
            raise invalid(f"metrics names {len(request.metrics)} metrics; at most {MAX_METRICS} per call")
        limit = request.limit or DEFAULT_RUNS
        if not 1 <= limit <= MAX_RUNS:
            raise invalid(f"limit must be within 1..{MAX_RUNS}, got {request.limit}")
        where = Where(project_id)  # $1
        if sources := filters.sources(request.sources):
            where.add(f"r.source = ANY({where.param(sources)}::text[])")
        if testset_id := filters.optional_uuid(request.testset_id, "testset_id"):
            where.add(f"r.testset_id = {where.param(testset_id)}")
        if system_version_id := filters.optional_uuid(request.system_version_id, "system_version_id"):
            where.add(f"r.system_version_id = {where.param(system_version_id)}")
        if system_id := filters.optional_uuid(request.system_id, "system_id"):
            where.add(
                f"r.system_version_id IN (SELECT id FROM system_versions WHERE system_id = {where.param(system_id)})"
            )
        after, before = filters.time_range(request.created_after, request.created_before)
        if after is not None:
            where.add(f"r.created_at >= {where.param(after)}")
        if before is not None:
            where.add(f"r.created_at < {where.param(before)}")
        refs = list(dict.fromkeys(request.metrics))

        async with self._reader.snapshot() as conn:
            if not await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id):
                raise not_found(f"project {request.project_id} does not exist")
            resolved = await metrics.resolve(conn, project_id, refs, "metrics")
            all_versions = [v for m in resolved.values() for v in m.version_ids]
            runs = await conn.fetch(
                "SELECT r.id, r.created_at, r.status, r.source, r.system_version_id, r.metric_version_ids FROM runs r"
                f" WHERE r.project_id = $1 AND r.metric_version_ids && {where.param(all_versions)}::uuid[]"
                f" AND {where.sql()} ORDER BY r.created_at DESC, r.id DESC LIMIT {where.param(limit)}",
                *where.args,
            )
            run_ids = [r["id"] for r in runs]
            # One grouped pass each over the aggregates and the record counts of the picked runs
            # (rows of a run sit together in the primary keys).
            aggregates = {
                (a["run_id"], a["metric_version_id"]): a
                for a in await conn.fetch(
                    "SELECT run_id, metric_version_id, sum(scored)::int AS scored, sum(passed)::int AS passed,"
                    " sum(errored)::int AS errored, sum(sum) AS sum FROM run_metric_aggregates"
                    " WHERE run_id = ANY($1::uuid[]) AND metric_version_id = ANY($2::uuid[])"
                    " GROUP BY run_id, metric_version_id",
                    run_ids,
                    all_versions,
                )
            }
            completed = {
                c["run_id"]: c["completed"]
                for c in await conn.fetch(
                    "SELECT run_id, sum(records - errored)::int AS completed FROM run_record_counts"
                    " WHERE run_id = ANY($1::uuid[]) GROUP BY run_id",
                    run_ids,
                )
            }
            output_types = {
                v["id"]: v["output_type"]
                for v in await conn.fetch(
                    "SELECT id, output_type FROM metric_versions WHERE id = ANY($1::uuid[])", all_versions
                )
            }
        version_metric = {v: m.id for m in resolved.values() for v in m.version_ids}
        points: dict[uuid.UUID, list[pb.HistoryPoint]] = defaultdict(list)
        for run in reversed(runs):  # oldest first
            for version in run["metric_version_ids"]:
                if version not in version_metric:
                    continue
                a = aggregates.get((run["id"], version))
                scored, passed, errored = (a["scored"], a["passed"], a["errored"]) if a else (0, 0, 0)
                point = pb.HistoryPoint(
                    run_id=str(run["id"]),
                    created_at=timestamp(run["created_at"]),
                    run_status=run["status"],
                    source=run["source"],
                    system_version_id=str(run["system_version_id"] or ""),
                    metric_version_id=str(version),
                    output_type=output_types[version],
                    scored=scored,
                    passed=passed,
                    errored=errored,
                    pending=max(completed.get(run["id"], 0) - scored - errored, 0),
                )
                value = point_value(output_types[version], scored, passed, a["sum"] if a else 0.0)
                if value is not None:
                    point.value = value
                points[version_metric[version]].append(point)
        return pb.GetRunHistoryResponse(
            series=[
                pb.MetricSeries(metric_id=str(m.id), name=m.name, points=points[m.id])
                for m in (resolved[ref] for ref in refs)
            ]
        )
