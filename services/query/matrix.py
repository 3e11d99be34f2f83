"""CompareRunMatrix: 2..8 runs of one testset side by side, per testcase and metric.

A run's value on a testcase and metric is what CompareRuns uses: the mean of its trials' completed
scores of the version the run pins (booleans as 0 / 1). The runs part on a testcase when, on some
compared metric, their values differ (by more than 1e-9) or one run has a value and another none.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import metrics
from services.query.db import Reader, Where, work_mem
from services.query.pinned_scores import pinned_scores
from services.query.records.clauses import testcase_tests
from services.query.usage import runs_usage
from shared.db.pool import Connection
from shared.edge import page_tokens
from shared.edge.convert import dict_to_struct, parse_uuid, timestamp
from shared.edge.errors import invalid, not_found

MAX_RUNS = 8
DEFAULT_PAGE = 50
MAX_PAGE = 200
# Two runs of 100,000 testcases: their 600,000 scores grouped in memory (as CompareRuns').
MATRIX_WORK_MEM = "64MB"


def _values(scored: str) -> str:
    """Per run, testcase and metric: the value (``scored``: pinned_scores' CTEs)."""
    return f"WITH {scored} SELECT run_id, testcase_id, metric_id, avg(value) AS value FROM scored GROUP BY 1, 2, 3"


def _counted_page(scored: str, where: Where, after: uuid.UUID, differing_only: bool, limit: int) -> str:
    """The counts over every testcase, each run's mean per metric, and the page, from one reading of
    the scores (a row with the counts and no testcase when the page is empty). $1 the runs, $2 the
    compared metrics, $3 the number of runs. Per testcase, whether the runs part on it: on some
    metric, a value in some runs and not all, or values further apart than 1e-9."""
    return (
        f"WITH {scored},"
        " side AS MATERIALIZED (SELECT run_id, testcase_id, metric_id, avg(value) AS value FROM scored"
        "   GROUP BY 1, 2, 3),"
        " spread AS (SELECT t.testcase_id, count(s.value) AS n, max(s.value) - min(s.value) AS width"
        "   FROM (SELECT DISTINCT testcase_id FROM rec) t CROSS JOIN unnest($2::uuid[]) AS m(metric_id)"
        "   LEFT JOIN side s ON s.testcase_id = t.testcase_id AND s.metric_id = m.metric_id"
        "   GROUP BY t.testcase_id, m.metric_id),"
        " parting AS MATERIALIZED (SELECT testcase_id, bool_or(n > 0 AND n < $3 OR width > 1e-9) AS differs"
        "   FROM spread GROUP BY testcase_id),"
        " means AS (SELECT run_id, metric_id, avg(value) AS mean FROM side GROUP BY 1, 2)"
        " SELECT c.compared, c.differing, mm.runs, mm.metrics, mm.means, p.testcase_id, p.differs FROM"
        " (SELECT count(*)::int AS compared, (count(*) FILTER (WHERE differs))::int AS differing FROM parting) c"
        " CROSS JOIN (SELECT array_agg(run_id) AS runs, array_agg(metric_id) AS metrics, array_agg(mean) AS means"
        "   FROM means) mm"
        f" LEFT JOIN LATERAL (SELECT testcase_id, differs FROM parting WHERE testcase_id > {where.param(after)}"
        f"   AND (NOT {where.param(differing_only)} OR differs) ORDER BY testcase_id LIMIT {where.param(limit)}) p"
        " ON true"
    )


_RUNS = (
    "SELECT r.id, r.project_id, r.testset_id, r.testset_version, r.status, r.created_at, r.notes,"
    " sy.name AS system_name, sv.name AS system_version_name FROM runs r"
    " LEFT JOIN system_versions sv ON sv.id = r.system_version_id LEFT JOIN systems sy ON sy.id = sv.system_id"
    " WHERE r.id = ANY($1::uuid[])"
)


class MatrixReads:
    """CompareRunMatrix."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def compare_run_matrix(self, request: pb.CompareRunMatrixRequest) -> pb.CompareRunMatrixResponse:
        run_ids = _run_ids(request.run_ids)
        size = request.page_size or DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            raise invalid(f"page_size must be within 1..{MAX_PAGE}, got {request.page_size}")
        after = uuid.UUID(int=0)
        if request.page_token:
            after = page_tokens.uuid_of(page_tokens.decode(request.page_token, ("tc",), request)["tc"])
        async with self._reader.snapshot() as conn:
            runs = await _runs(conn, run_ids)
            pins = await metrics.pinned(conn, run_ids)
            compared = await _metrics(conn, request, runs, run_ids, pins)
            ids = list(compared)
            where = Where(run_ids, ids, len(run_ids))
            scored = pinned_scores(where, "$1::uuid[]", pins, ids)
            await work_mem(conn, MATRIX_WORK_MEM)
            counted = await conn.fetch(
                _counted_page(scored, where, after, request.differing_only, size + 1), *where.args
            )
            counts = counted[0]
            page = [r for r in counted if r["testcase_id"] is not None]
            shown = [r["testcase_id"] for r in page[:size]]
            of_page = Where(run_ids)
            narrowed = " AND ".join(testcase_tests(of_page, shown)) or "false"
            values = await conn.fetch(_values(pinned_scores(of_page, "$1::uuid[]", pins, ids, narrowed)), *of_page.args)
            records = await conn.fetch(
                "SELECT id, run_id, testcase_id, inputs, expected, outputs, status, error FROM records"
                " WHERE run_id = ANY($1::uuid[]) AND testcase_id = ANY($2::uuid[]) ORDER BY trial, id",
                run_ids,
                shown,
            )
            usage = await runs_usage(conn, [str(r) for r in run_ids])
        column = {r: i for i, r in enumerate(run_ids)}
        rows = {r["testcase_id"]: _row(r, len(run_ids)) for r in page[:size]}
        for record in records:
            row = rows[record["testcase_id"]]
            cell = row.cells[column[record["run_id"]]]
            if not cell.record_ids:  # the first trial speaks for the cell
                cell.outputs.CopyFrom(dict_to_struct(record["outputs"]))
                cell.status, cell.error = record["status"], record["error"]
            cell.record_ids.append(str(record["id"]))
            if not row.HasField("inputs"):
                row.inputs.CopyFrom(dict_to_struct(record["inputs"]))
                row.expected.CopyFrom(dict_to_struct(record["expected"]))
        for v in values:
            rows[v["testcase_id"]].cells[column[v["run_id"]]].values[str(v["metric_id"])] = v["value"]
        columns = [_column(runs[r]) for r in run_ids]
        means = zip(counts["runs"] or [], counts["metrics"] or [], counts["means"] or [], strict=True)
        for run_id, metric_id, mean in means:
            columns[column[run_id]].means[str(metric_id)] = mean
        for col, used in zip(columns, usage, strict=True):
            col.usage.CopyFrom(used)
        return pb.CompareRunMatrixResponse(
            testset_id=str(runs[run_ids[0]]["testset_id"]),
            metrics=[
                pb.MatrixMetric(metric_id=str(m), name=p.name, output_type=p.output_type) for m, p in compared.items()
            ],
            runs=columns,
            testcases=list(rows.values()),
            next_page_token=page_tokens.encode({"tc": str(shown[-1])}, request) if len(page) > size else "",
            testcases_compared=counts["compared"],
            testcases_differing=counts["differing"],
        )


def _run_ids(given: Sequence[str]) -> list[uuid.UUID]:
    if not 2 <= len(given) <= MAX_RUNS:
        raise invalid(f"run_ids must name 2..{MAX_RUNS} runs, got {len(given)}")
    ids = [parse_uuid(r, "run_ids") for r in given]
    twice = next((r for i, r in enumerate(ids) if r in ids[:i]), None)
    if twice is not None:
        raise invalid(f"run_ids names run {twice} twice")
    return ids


async def _runs(conn: Connection, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """The runs by id; NOT_FOUND for one that does not exist, INVALID_ARGUMENT unless they are all of
    one project and one testset."""
    runs = {r["id"]: r for r in await conn.fetch(_RUNS, run_ids)}
    missing = next((r for r in run_ids if r not in runs), None)
    if missing is not None:
        raise not_found(f"run {missing} does not exist")
    first = runs[run_ids[0]]
    for run_id in run_ids:
        run = runs[run_id]
        if run["project_id"] != first["project_id"]:
            raise invalid(f"runs {first['id']} and {run_id} are in different projects")
        if run["testset_id"] is None:
            raise invalid(f"run {run_id} is a monitor's run: it has no testset to compare testcases on")
        if run["testset_id"] != first["testset_id"]:
            raise invalid(
                f"runs {first['id']} and {run_id} are on different testsets"
                f" ({first['testset_id']} and {run['testset_id']}); compare runs of the same testset"
            )
    return runs


async def _metrics(
    conn: Connection,
    request: pb.CompareRunMatrixRequest,
    runs: dict[uuid.UUID, asyncpg.Record],
    run_ids: list[uuid.UUID],
    pins: dict[uuid.UUID, dict[uuid.UUID, metrics.Pinned]],
) -> dict[uuid.UUID, metrics.Pinned]:
    """The compared metrics, in the order the first run pins them (or the request names them;
    ``pins``: each run's)."""
    first = pins[run_ids[0]]
    if not request.metrics:
        shared = {m: p for m, p in first.items() if all(m in pins[r] for r in run_ids)}
        if not shared:
            raise invalid("the runs share no metric to compare")
        return shared
    project_id = runs[run_ids[0]]["project_id"]
    chosen = {}
    for ref, metric in (await metrics.resolve(conn, project_id, list(request.metrics), "metrics")).items():
        for run_id in run_ids:
            if metric.id not in pins[run_id]:
                raise invalid(f"metrics: run {run_id} was not scored with metric {ref!r}")
        chosen[metric.id] = pins[run_ids[0]][metric.id]
    return chosen


def _row(row: asyncpg.Record, runs: int) -> pb.MatrixRow:
    return pb.MatrixRow(
        testcase_id=str(row["testcase_id"]), differs=row["differs"], cells=[pb.MatrixCell() for _ in range(runs)]
    )


def _column(run: asyncpg.Record) -> pb.MatrixRun:
    return pb.MatrixRun(
        run_id=str(run["id"]),
        status=run["status"],
        created_at=timestamp(run["created_at"]),
        notes=run["notes"],
        system_name=run["system_name"] or "",
        system_version_name=run["system_version_name"] or "",
        testset_version=run["testset_version"],
    )
