"""CompareRuns: a run (B) against a baseline (A) on the same testset, per testcase and metric.

Per testcase and metric, a run's value is the mean of its trials' completed scores of the pinned
metric version (booleans as 0 / 1). Higher is better: B below A is a regression, above an
improvement, equal (within 1e-9) unchanged; without a value on either side, incomparable. The
classification is written once, in SQL (_compared), for both the counts and the pages; a slice
(`fields`) narrows both to its testcases. Per metric, whether B differs from A beyond chance
(shared/scoring/stats.paired_difference).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters, metrics
from services.query.db import Reader, Where, work_mem
from services.query.pinned_scores import pinned_scores
from services.query.records.clauses import field_tests, testcase_tests
from services.query.usage import runs_usage
from shared.db.pool import Connection
from shared.edge import page_tokens
from shared.edge.convert import dict_to_struct, parse_uuid
from shared.edge.errors import invalid, not_found
from shared.scoring.stats import paired_difference

# CompareRuns' testcase_ids: at most this many.
MAX_TESTCASES = 100
# Two runs of 100,000 testcases join 200,000 records to 600,000 scores: in memory, 1.2 → 1.0 s.
COMPARE_WORK_MEM = "64MB"


def _compared(scored: str, narrowed: str, sliced: str | None) -> str:
    """Per testcase of either run and compared metric: both runs' values and the change. $1 the run
    (B), $2 the baseline (A), $3 the compared metrics; ``scored``: their records meeting
    ``narrowed`` and their scores (pinned_scores). The testcases compared are those whose records
    meet ``sliced`` too (a slice: its testcases' values are still of every record of theirs). Both
    runs' values are aggregated in one pass."""
    testcases = "SELECT DISTINCT testcase_id FROM rec"
    if sliced is not None:
        testcases = (
            "SELECT DISTINCT r.testcase_id FROM records r"
            f" WHERE r.run_id = ANY(ARRAY[$1, $2]::uuid[]) AND {narrowed} AND {sliced}"
        )
    return (
        f"WITH {scored},"
        f" testcases AS MATERIALIZED ({testcases}),"
        " side AS (SELECT testcase_id, metric_id,"
        "     avg(value) FILTER (WHERE run_id = $2) AS baseline_value, avg(value) FILTER (WHERE run_id = $1) AS value"
        "   FROM scored"
        + ("" if sliced is None else " WHERE testcase_id IN (SELECT testcase_id FROM testcases)")
        + "   GROUP BY 1, 2),"
        " compared AS MATERIALIZED (SELECT t.testcase_id, m.metric_id, side.baseline_value, side.value,"
        "   CASE WHEN side.baseline_value IS NULL OR side.value IS NULL THEN 'incomparable'"
        "     WHEN side.value < side.baseline_value - 1e-9 THEN 'regression'"
        "     WHEN side.value > side.baseline_value + 1e-9 THEN 'improvement' ELSE 'unchanged' END AS change"
        "   FROM testcases t CROSS JOIN unnest($3::uuid[]) AS m(metric_id)"
        "   LEFT JOIN side ON side.testcase_id = t.testcase_id AND side.metric_id = m.metric_id)"
    )


# Per compared metric, its counts and the paired differences' moments: the rows of the response whose
# testcase_id is NULL.
_COUNTS = (
    ", counts AS (SELECT metric_id, count(*) FILTER (WHERE change = 'regression')::int AS regressions,"
    " count(*) FILTER (WHERE change = 'improvement')::int AS improvements,"
    " count(*) FILTER (WHERE change = 'unchanged')::int AS unchanged,"
    " count(*) FILTER (WHERE change = 'incomparable')::int AS incomparable,"
    " count(*)::int AS testcases, avg(baseline_value) AS baseline_mean, avg(value) AS mean,"
    " count(value - baseline_value)::int AS pairs, avg(value - baseline_value) AS mean_delta,"
    " stddev_samp(value - baseline_value) AS sd_delta"
    " FROM compared GROUP BY metric_id)"
)
# What a page row holds in the counts' columns (and the neighbours' and the listing's).
_NO_COUNTS = ", ".join(
    ["NULL::int"] * 5
    + ["NULL::float8"] * 2
    + ["NULL::int"]
    + ["NULL::float8"] * 2
    + ["NULL::uuid"] * 2
    + ["NULL::int"]
    + ["NULL::float8"]
    + ["NULL::int"] * 2
)
# The neighbours of a testcase (around_testcase_id) among the testcases listed (keyed), in the
# page's order, with the previous one's key (a page starting with it continues after that one): on
# every counts row, beside how many are listed and how many come before the page (listing).
_AROUND = (
    ", around AS (SELECT x.prev, x.next, x.pos, x.prev_k FROM (SELECT 1) one"
    "   LEFT JOIN (SELECT testcase_id, lag(testcase_id) OVER w AS prev, lead(testcase_id) OVER w AS next,"
    "     row_number() OVER w::int AS pos, lag(k) OVER w AS prev_k FROM keyed"
    "     WINDOW w AS (ORDER BY k NULLS LAST, testcase_id)) x"
    "   ON x.testcase_id = {testcase})"
)
_NO_AROUND = ", around AS (SELECT NULL::uuid AS prev, NULL::uuid AS next, NULL::int AS pos, NULL::float8 AS prev_k)"
# The fields of a CompareRunsRequest that do not change what it lists, nor in which order: its page
# tokens hold whether or not they differ (the compare page, with its usage, continues from where a
# testcase side by side stands).
_NOT_LISTING = ("around_testcase_id", "with_usage")
# Each testcase's latency change (B - A of the means over its records that reported one, as the
# page's baseline_latency_ms and latency_ms are counted), for the latency order.
_LATENCY = (
    ", lat AS (SELECT testcase_id, avg(latency_ms) FILTER (WHERE run_id = $1 AND latency_ms > 0)"
    "   - avg(latency_ms) FILTER (WHERE run_id = $2 AND latency_ms > 0) AS d"
    "   FROM rec GROUP BY testcase_id)"
)


def _sort_key(order: filters.Order, metric: str) -> str:
    """Per testcase (its rows of `compared`, with its latency change lat.d): the order's key,
    ascending, NULL when it has none (incomparable), rounded so that pages compare it exactly;
    ``metric`` the parameter holding delta.<metric>'s id."""
    if order.key == "testcase":
        return "NULL::float8"
    if order.key == "latency_delta":
        value = "min(lat.d)"
    elif order.metric:
        value = f"min(value - baseline_value) FILTER (WHERE metric_id = {metric}::uuid)"
    else:
        value = f"{'max' if order.descending else 'min'}(value - baseline_value)"
    return f"{'-' if order.descending else ''}round(({value})::numeric, 9)::float8"


def _page(
    order: filters.Order,
    metric_id: uuid.UUID | None,
    where: Where,
    position: dict[str, Any],
    regressions_only: bool,
    limit: int,
    around: uuid.UUID | None,
) -> str:
    """The page's testcases, each row with its sort_key: after ``position`` (the last one's testcase
    id and key), in ``order`` (of the metric ``metric_id``), regressed ones only when asked; the
    counts' rows with where ``around`` stands."""
    key = _sort_key(order, where.param(metric_id) if metric_id else "")
    after = "true"
    if position:
        testcase = where.param(position["tc"])
        if position["k"] is None:
            after = f"k IS NULL AND testcase_id > {testcase}"
        else:
            k = where.param(position["k"])
            after = f"(k > {k} OR (k = {k} AND testcase_id > {testcase}) OR k IS NULL)"
    return (
        _COUNTS
        + (_LATENCY if order.key == "latency_delta" else "")
        + f", keyed AS (SELECT testcase_id, {key} AS k FROM compared"
        + (" LEFT JOIN lat USING (testcase_id)" if order.key == "latency_delta" else "")
        + f"   GROUP BY testcase_id HAVING NOT {where.param(regressions_only)} OR bool_or(change = 'regression')),"
        f" page AS (SELECT testcase_id, k FROM keyed WHERE {after} ORDER BY k NULLS LAST, testcase_id"
        f"   LIMIT {where.param(limit)}),"
        f" listing AS (SELECT count(*)::int AS all_listed, count(*) FILTER (WHERE NOT ({after}))::int AS before"
        "   FROM keyed)"
        + (_AROUND.format(testcase=where.param(around)) if around else _NO_AROUND)
        + " SELECT * FROM (SELECT counts.*, around.*, listing.*, NULL::uuid AS testcase_id,"
        "   NULL::float8 AS baseline_value, NULL::float8 AS value, NULL::text AS change, NULL::float8 AS sort_key"
        "   FROM counts CROSS JOIN around CROSS JOIN listing"
        " UNION ALL"
        f" SELECT c.metric_id, {_NO_COUNTS}, c.testcase_id, c.baseline_value, c.value, c.change, p.k"
        "   FROM compared c JOIN page p USING (testcase_id)) u"
        " ORDER BY testcase_id IS NOT NULL, sort_key NULLS LAST, testcase_id"
    )


def _position(request: pb.CompareRunsRequest) -> dict[str, Any]:
    """Where the page token says the last page ended: its testcase id and key (none on the first)."""
    if not request.page_token:
        return {}
    position = page_tokens.decode(request.page_token, ("tc", "k"), request, ignore=_NOT_LISTING)
    return {"tc": page_tokens.uuid_of(position["tc"]), "k": page_tokens.number(position["k"], nullable=True)}


class CompareReads:
    """CompareRuns."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def compare_runs(self, request: pb.CompareRunsRequest) -> pb.CompareRunsResponse:
        run_id = parse_uuid(request.run_id, "run_id")
        baseline_id = parse_uuid(request.baseline_run_id, "baseline_run_id")
        size = filters.page_size(request.page_size)
        sliced = filters.field_filters(request.fields)
        order = filters.comparison_order(request.order_by)
        chosen = filters.uuids(request.testcase_ids, "testcase_ids")
        if len(chosen) > MAX_TESTCASES:
            raise invalid(f"testcase_ids may hold at most {MAX_TESTCASES} ids, got {len(chosen)}")
        position = _position(request)
        around = parse_uuid(request.around_testcase_id, "around_testcase_id") if request.around_testcase_id else None
        async with self._reader.snapshot() as conn:
            run, baseline = await _run(conn, run_id), await _run(conn, baseline_id)
            if run["project_id"] != baseline["project_id"]:
                raise invalid(f"runs {run_id} and {baseline_id} are in different projects")
            for side in (run, baseline):
                if side["testset_id"] is None:
                    raise invalid(f"run {side['id']} is a monitor's run: it has no testset to compare testcases on")
            if run["testset_id"] != baseline["testset_id"]:
                raise invalid(
                    f"runs {run_id} and {baseline_id} are on different testsets"
                    f" ({run['testset_id']} and {baseline['testset_id']}); compare runs of the same testset"
                )
            pins = await metrics.pinned(conn, [run_id, baseline_id])
            names = await self._metrics(conn, request, run, baseline, pins)
            ids = list(names)
            where = Where(run_id, baseline_id, ids)
            narrowed = " AND ".join(testcase_tests(where, chosen)) or "true"
            scored = pinned_scores(where, "ARRAY[$1, $2]::uuid[]", pins, ids, narrowed)
            compared = _compared(scored, narrowed, " AND ".join(field_tests(where, sliced)) or None)
            paging = _page(
                order, _ordered_metric(order, names), where, position, request.regressions_only, size + 1, around
            )
            await work_mem(conn, COMPARE_WORK_MEM)
            found = await conn.fetch(compared + paging, *where.args)
            counts = {r["metric_id"]: r for r in found if r["testcase_id"] is None}
            rows = [r for r in found if r["testcase_id"] is not None]
            keys = {r["testcase_id"]: r["sort_key"] for r in rows}
            testcase_ids = list(keys)
            page_ids = testcase_ids[:size]
            records = await conn.fetch(
                "SELECT id, run_id, testcase_id, inputs, latency_ms FROM records"
                " WHERE run_id = ANY(ARRAY[$1, $2]::uuid[]) AND testcase_id = ANY($3::uuid[]) ORDER BY trial",
                run_id,
                baseline_id,
                page_ids,
            )
            both = [str(baseline_id), str(run_id)]
            used = await runs_usage(conn, both, sliced, chosen) if request.with_usage else []
        testcases = {t: pb.TestcaseComparison(testcase_id=str(t)) for t in page_ids}
        timed: dict[tuple[uuid.UUID, bool], list[float]] = defaultdict(list)
        for r in records:
            testcase = testcases[r["testcase_id"]]
            (testcase.record_ids if r["run_id"] == run_id else testcase.baseline_record_ids).append(str(r["id"]))
            if not testcase.HasField("inputs"):
                testcase.inputs.CopyFrom(dict_to_struct(r["inputs"]))
            if r["latency_ms"] > 0:
                timed[r["testcase_id"], r["run_id"] == run_id].append(r["latency_ms"])
        for (testcase_id, of_run), latencies in timed.items():
            mean = sum(latencies) / len(latencies)
            if of_run:
                testcases[testcase_id].latency_ms = mean
            else:
                testcases[testcase_id].baseline_latency_ms = mean
        for row in rows:
            if row["testcase_id"] in testcases:
                testcases[row["testcase_id"]].changes.append(_change(row, names[row["metric_id"]].name))
        response = pb.CompareRunsResponse(
            run_id=str(run_id),
            baseline_run_id=str(baseline_id),
            testset_id=str(run["testset_id"]),
            metrics=[_metric(m, names[m], counts.get(m)) for m in ids],
            testcases=list(testcases.values()),
            next_page_token=_token(page_ids[-1], keys[page_ids[-1]], request) if len(testcase_ids) > size else "",
            testcases_compared=max((c["testcases"] for c in counts.values()), default=0),
            fields=request.fields,
        )
        if listing := next(iter(counts.values()), None):
            response.listed = listing["all_listed"]
            response.first_position = listing["before"] + 1 if page_ids else 0
        if around:
            response.around.CopyFrom(_neighbours(next(iter(counts.values()), None), request))
        if used:
            response.baseline_usage.CopyFrom(used[0])
            response.usage.CopyFrom(used[1])
        return response

    @staticmethod
    async def _metrics(
        conn: Connection,
        request: pb.CompareRunsRequest,
        run: asyncpg.Record,
        baseline: asyncpg.Record,
        pins: dict[uuid.UUID, dict[uuid.UUID, metrics.Pinned]],
    ) -> dict[uuid.UUID, metrics.Pinned]:
        """The compared metrics (id → name, output type and the run's version), in the order the run
        pins them (``pins``: each run's)."""
        ours, theirs = pins[run["id"]], pins[baseline["id"]]
        if not request.metrics:
            shared = {m: p for m, p in ours.items() if m in theirs}
            if not shared:
                raise invalid(f"runs {run['id']} and {baseline['id']} share no metric to compare")
            return shared
        chosen: dict[uuid.UUID, metrics.Pinned] = {}
        resolved = await metrics.resolve(conn, run["project_id"], list(request.metrics), "metrics")
        for ref, metric in resolved.items():
            for r, scored_with in ((run, ours), (baseline, theirs)):
                if metric.id not in scored_with:
                    raise invalid(f"metrics: run {r['id']} was not scored with metric {ref!r}")
            chosen[metric.id] = ours[metric.id]
        return chosen


def _ordered_metric(order: filters.Order, names: dict[uuid.UUID, metrics.Pinned]) -> uuid.UUID | None:
    """The compared metric whose change delta.<metric> orders by (its id or name)."""
    if not order.metric:
        return None
    for metric_id, pinned in names.items():
        if order.metric in (str(metric_id), pinned.name):
            return metric_id
    compared = ", ".join(p.name for p in names.values())
    raise invalid(f"order_by: metric {order.metric[:100]!r} is not one of the compared metrics ({compared})")


async def _run(conn: Connection, run_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT id, project_id, testset_id FROM runs WHERE id = $1", run_id)
    if row is None:
        raise not_found(f"run {run_id} does not exist")
    return row


def _token(testcase_id: uuid.UUID, key: float | None, request: pb.CompareRunsRequest) -> str:
    """The page token continuing after ``testcase_id`` (of sort key ``key``) in ``request``'s listing."""
    return page_tokens.encode({"tc": str(testcase_id), "k": key}, request, ignore=_NOT_LISTING)


def _neighbours(counts: asyncpg.Record | None, request: pb.CompareRunsRequest) -> pb.ComparedNeighbours:
    """Where around_testcase_id stands, from a counts row (None: the comparison lists nothing)."""
    if counts is None:
        return pb.ComparedNeighbours()
    return pb.ComparedNeighbours(
        previous_testcase_id=str(counts["prev"] or ""),
        next_testcase_id=str(counts["next"] or ""),
        position=counts["pos"] or 0,
        listed=counts["all_listed"],
        page_token=_token(counts["prev"], counts["prev_k"], request) if counts["prev"] else "",
    )


def _change(row: asyncpg.Record, name: str) -> pb.ScoreChange:
    change = pb.ScoreChange(metric_id=str(row["metric_id"]), metric_name=name, change=row["change"])
    if row["baseline_value"] is not None:
        change.baseline_value = row["baseline_value"]
    if row["value"] is not None:
        change.value = row["value"]
    if row["baseline_value"] is not None and row["value"] is not None:
        change.delta = row["value"] - row["baseline_value"]
    return change


def _metric(metric_id: uuid.UUID, pinned: metrics.Pinned, counts: asyncpg.Record | None) -> pb.MetricComparison:
    view = pb.MetricComparison(metric_id=str(metric_id), name=pinned.name)
    if counts is None:
        return view
    view.regressions, view.improvements = counts["regressions"], counts["improvements"]
    view.unchanged, view.incomparable = counts["unchanged"], counts["incomparable"]
    if counts["baseline_mean"] is not None:
        view.baseline_mean = counts["baseline_mean"]
    if counts["mean"] is not None:
        view.mean = counts["mean"]
    paired = paired_difference(
        pinned.output_type,
        counts["pairs"],
        counts["mean_delta"],
        counts["sd_delta"],
        counts["improvements"],
        counts["regressions"],
    )
    view.pairs = paired.pairs
    if paired.mean_delta is not None:
        view.mean_delta = paired.mean_delta
    if paired.ci_low is not None and paired.ci_high is not None:
        view.delta_ci_low, view.delta_ci_high = paired.ci_low, paired.ci_high
    if paired.p_value is not None:
        view.p_value = paired.p_value
    return view
