"""GetRunBreakdown: a run's records and scores per value of one of its testcases' fields — where
the system does well and where it fails (the slices an overall pass rate hides), in groups as
services/query/breakdown.py makes them."""

from __future__ import annotations

import uuid
from collections import defaultdict

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import breakdown as groups
from services.query import filters
from services.query.db import Reader
from services.query.distribution import PINNED
from shared import record_fields
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found

# The records whose keys `fields` lists, and how many fields at most.
FIELDS_SAMPLE = 1000
MAX_FIELDS = 200
# GetRunBreakdown's max_values: at most this many values one by one (a CI gate per value asks for all).
MAX_SHOWN = 1000

_COLUMNS = "r.status, r.latency_ms, r.cost_usd"
_SUMS = (
    "count(*)::int AS records, count(*) FILTER (WHERE g.status = 'errored')::int AS errored,"
    f" {groups.latency_sums('g.latency_ms')}, coalesce(sum(g.cost_usd), 0) AS cost_usd"
)
_SCORES = (
    "SELECT {kind} AS kind, {value} AS value, s.metric_version_id,"
    " count(*) FILTER (WHERE s.status = 'completed')::int AS scored,"
    " count(*) FILTER (WHERE s.status = 'completed' AND s.passed)::int AS passed,"
    " count(*) FILTER (WHERE s.status = 'errored')::int AS errored,"
    " count(*) FILTER (WHERE s.status = 'pending')::int AS pending,"
    " avg(s.value_num) FILTER (WHERE s.status = 'completed') AS mean"
    " FROM records r JOIN scores s ON s.record_id = r.id"
    " WHERE r.run_id = $1 AND s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[]) GROUP BY 1, 2, 3"
)
# The keys of the first records' metadata, inputs and expected values, and the keys of an object
# among them ("metadata.user.tier"), as fields.
_FIELDS = (
    "SELECT DISTINCT x.root, x.path FROM (SELECT r.metadata, r.inputs, r.expected FROM records r WHERE r.run_id = $1"
    f" LIMIT {FIELDS_SAMPLE}) r CROSS JOIN LATERAL ("
    + " UNION ALL ".join(
        f"SELECT '{root}', ARRAY[e.key] FROM jsonb_each(CASE WHEN jsonb_typeof(r.{root}) = 'object'"
        f" THEN r.{root} ELSE '{{}}'::jsonb END) AS e"
        f" UNION ALL SELECT '{root}', ARRAY[e.key, d.key] FROM jsonb_each(CASE WHEN jsonb_typeof(r.{root}) = 'object'"
        f" THEN r.{root} ELSE '{{}}'::jsonb END) AS e CROSS JOIN LATERAL jsonb_object_keys("
        " CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value ELSE '{}'::jsonb END) AS d(key)"
        for root in record_fields.FIELD_ROOTS
    )
    + f") AS x(root, path) ORDER BY 1, 2 LIMIT {MAX_FIELDS}"
)


def _metric(pinned: asyncpg.Record, row: asyncpg.Record | None) -> pb.GroupMetric:
    metric = pb.GroupMetric(metric_id=str(pinned["metric_id"]), name=pinned["name"], output_type=pinned["output_type"])
    if row is not None:
        metric.scored, metric.passed, metric.errored, metric.pending = (
            row["scored"],
            row["passed"],
            row["errored"],
            row["pending"],
        )
        if row["scored"]:
            metric.pass_rate = row["passed"] / row["scored"]
            metric.mean = row["mean"]
    return metric


def _key(group: pb.RunGroup) -> tuple[bool, bool, str]:
    return group.rest, group.no_value, group.value


async def _groups(
    conn: Connection,
    run_id: uuid.UUID,
    root: str,
    path: tuple[str, ...],
    top: list[str] | None = None,
    values: int = groups.MAX_VALUES,
) -> list[pb.RunGroup]:
    """The run's groups by the field at ``root`` / ``path``: the ``values`` values with the most
    records, or those of ``top`` (another run's)."""
    value = f"r.{root} #>> $2::text[]"
    args: list[object] = [run_id, list(path)]
    if top is None:
        sql = groups.grouped(value, "records r", "r.run_id = $1", _COLUMNS, _SUMS, values)
    else:
        sql = groups.grouped_as(value, "$3::text[]", "records r", "r.run_id = $1", _COLUMNS, _SUMS)
        args.append(top)
    rows = groups.in_order(await conn.fetch(sql, *args), "records")
    if not rows:
        return []
    pinned = await conn.fetch(PINNED, run_id)
    kind, shown = groups.in_groups(f"r.{root} #>> $3::text[]", "$4::text[]")
    scores: dict[tuple[str, str | None], dict[uuid.UUID, asyncpg.Record]] = defaultdict(dict)
    versions = [p["version_id"] for p in pinned]
    chosen = groups.shown(rows) if top is None else top
    for s in await conn.fetch(_SCORES.format(kind=kind, value=shown), run_id, versions, list(path), chosen):
        scores[(s["kind"], s["value"])][s["metric_version_id"]] = s
    return [
        pb.RunGroup(
            value=r["value"] or "",
            rest=r["kind"] == "rest",
            rest_values=groups.rest_values(r) if top is None else 0,
            no_value=r["kind"] == "none",
            records=r["records"],
            errored_records=r["errored"],
            latency_p50_ms=r["latency_p50"],
            latency_p95_ms=r["latency_p95"],
            cost_usd=r["cost_usd"],
            metrics=[_metric(p, scores[(r["kind"], r["value"])].get(p["version_id"])) for p in pinned],
        )
        for r in rows
    ]


class BreakdownReads:
    """GetRunBreakdown."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_run_breakdown(self, request: pb.GetRunBreakdownRequest) -> pb.RunBreakdown:
        run_id = parse_uuid(request.run_id, "run_id")
        baseline_id = filters.optional_uuid(request.baseline_run_id, "baseline_run_id")
        root, path = record_fields.field_path(request.field) if request.field else ("", ())
        values = request.max_values or groups.MAX_VALUES
        if not 1 <= values <= MAX_SHOWN:
            raise invalid(f"max_values must be within 1..{MAX_SHOWN}, got {request.max_values}")
        async with self._reader.snapshot() as conn:
            for run in (run_id, baseline_id):
                if run is not None and not await conn.fetchval("SELECT 1 FROM runs WHERE id = $1", run):
                    raise not_found(f"run {run} does not exist")
            found = await _groups(conn, run_id, root, path, values=values) if root else []
            if baseline_id is not None and found:
                shown = [g.value for g in found if not (g.rest or g.no_value)]
                theirs = {_key(g): g for g in await _groups(conn, baseline_id, root, path, shown)}
                for group in found:
                    if _key(group) in theirs:
                        group.baseline.CopyFrom(theirs[_key(group)])
            fields = [record_fields.field_text(r["root"], r["path"]) for r in await conn.fetch(_FIELDS, run_id)]
        return pb.RunBreakdown(run_id=str(run_id), field=request.field, groups=found, fields=fields)
