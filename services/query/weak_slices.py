"""GetWeakSlices: the slices of a run that fail most, found without choosing a field.

The fields looked at are the keys of the records' metadata, inputs and expected values — top-level,
and one level into an object (metadata.user.tier) — whose values repeat among the run's first
``FIELDS_SAMPLE`` records (a question of its own per testcase names no slice). Every value of those
fields (a string, number or boolean of at most ``MAX_VALUE`` characters) that at least
``min_records`` scored records hold is a slice; per metric, its pass rate is compared with the rest
of the run's by Fisher's exact test (one-sided), and the slices below the rest are listed, the least
likely to be chance first. With many slices tested, some fall below by chance alone: each carries
its Benjamini–Hochberg q-value over every slice tested (shared/scoring/stats.py). A 100,000-record
run takes about a second (make bench-query).

With a baseline run, each slice is compared with the baseline's same slice (the same field, value
and metric) instead of the rest of the run: the slices that regressed, whatever the whole did. Two
runs of one testset hold the same testcases, so a slice is then compared testcase by testcase: how
many got worse against how many got better, by a sign test (the compare page's test per metric,
slice by slice) — two runs' pass rates as independent samples would ignore that each testcase is
as hard in both."""

from __future__ import annotations

import uuid
from typing import NamedTuple

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters, metrics
from services.query.db import Reader
from services.query.distribution import PINNED
from services.query.run_breakdown import FIELDS_SAMPLE
from shared import record_fields
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.scoring.stats import below_the_rest, worse_beyond_chance

DEFAULT_MIN_RECORDS = 5
MAX_MIN_RECORDS = 10_000
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
# A longer value (a question, a document) names no slice.
MAX_VALUE = 200

# How many fields at most (looked at in the run's first FIELDS_SAMPLE records, as GetRunBreakdown's).
MAX_FIELDS = 50
_SCALAR = "('string', 'number', 'boolean')"

# The fields to slice by: the keys of the run's first records — top-level, and one level into an
# object ("metadata.user.tier") — whose scalar values repeat there (half as many values as testcases
# holding the key, or fewer; a question or an id of its own per testcase names no slice, however
# many trials repeat it), as (root, path).
_FIELDS = (
    "SELECT x.root, x.path FROM (SELECT r.testcase_id, r.metadata, r.inputs, r.expected FROM records r"
    " WHERE r.run_id = $1"
    f" LIMIT {FIELDS_SAMPLE}) r CROSS JOIN LATERAL ("
    + " UNION ALL ".join(
        f"SELECT '{root}', CASE WHEN d.key IS NULL THEN ARRAY[e.key] ELSE ARRAY[e.key, d.key] END,"
        " coalesce(d.value, e.value) #>> '{}'"
        f" FROM jsonb_each(CASE WHEN jsonb_typeof(r.{root}) = 'object' THEN r.{root} ELSE '{{}}'::jsonb END) AS e"
        " LEFT JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value ELSE '{}'::jsonb END)"
        " AS d ON true"
        f" WHERE jsonb_typeof(coalesce(d.value, e.value)) IN {_SCALAR}"
        for root in record_fields.FIELD_ROOTS
    )
    + f") AS x(root, path, value) WHERE length(x.value) <= {MAX_VALUE}"
    " GROUP BY 1, 2 HAVING count(DISTINCT x.value) * 2 <= count(DISTINCT r.testcase_id)"
    f" ORDER BY 1, 2 LIMIT {MAX_FIELDS}"
)


def _values(fields: list[tuple[str, list[str]]], first: int) -> str:
    """Each field's value in records r as (i, the value as text or null); the i-th's path is the
    parameter ${first + i}."""
    return ", ".join(
        f"({i}, CASE WHEN jsonb_typeof(r.{root} #> ${first + i}::text[]) IN {_SCALAR}"
        f" THEN r.{root} #>> ${first + i}::text[] END)"
        for i, (root, _) in enumerate(fields)
    )


def _slices(fields: list[tuple[str, list[str]]]) -> str:
    """Run $1's verdicts of the versions $2 per value of each field (the i-th's path is ${i + 4}),
    for the values at least $3 of them hold."""
    values = _values(fields, 4)
    return (
        "SELECT f.i, f.value, s.metric_version_id, count(*)::int AS scored,"
        " count(*) FILTER (WHERE s.passed)::int AS passed"
        f" FROM records r JOIN scores s ON s.record_id = r.id CROSS JOIN LATERAL (VALUES {values}) AS f(i, value)"
        " WHERE r.run_id = $1 AND s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[])"
        " AND s.status = 'completed' AND s.passed IS NOT NULL"
        f" AND f.value IS NOT NULL AND length(f.value) <= {MAX_VALUE} GROUP BY 1, 2, 3 HAVING count(*) >= $3"
    )


def _changes(fields: list[tuple[str, list[str]]]) -> str:
    """Per value of each field in run $1 (its path ${i + 5}) and version of $2: its testcases whose
    pass rate over their trials is lower (worse) or higher (better) than in run $3 of the version
    at the same place in $4 — the rates compared as fractions (passes × the other's verdicts). The
    testcases are compared first and only those that changed are read again for their fields
    (grouping every testcase by every value of every field took 3.5x as long)."""
    rates = (
        "SELECT r.testcase_id, s.metric_version_id AS version, count(*) FILTER (WHERE s.passed) AS passed,"
        " count(*) AS scored FROM records r JOIN scores s ON s.record_id = r.id WHERE r.run_id = {run}"
        " AND s.run_id = {run} AND s.metric_version_id = ANY({versions}::uuid[]) AND s.status = 'completed'"
        " AND s.passed IS NOT NULL GROUP BY 1, 2"
    )
    return (
        f"WITH mine AS ({rates.format(run='$1', versions='$2')}),"
        f" theirs AS ({rates.format(run='$3', versions='$4')}),"
        " changed AS MATERIALIZED (SELECT m.testcase_id, m.version,"
        "   sign(m.passed * t.scored - t.passed * m.scored) AS change"
        "   FROM mine m JOIN unnest($2::uuid[], $4::uuid[]) AS p(mine, theirs) ON p.mine = m.version"
        "   JOIN theirs t ON t.version = p.theirs AND t.testcase_id = m.testcase_id"
        "   WHERE m.passed * t.scored <> t.passed * m.scored),"
        " fields AS (SELECT DISTINCT ON (r.testcase_id) r.testcase_id, r.metadata, r.inputs, r.expected FROM records r"
        "   WHERE r.run_id = $1 AND r.testcase_id = ANY(ARRAY(SELECT testcase_id FROM changed)) ORDER BY r.testcase_id)"
        " SELECT f.i, f.value, c.version, count(*) FILTER (WHERE c.change < 0)::int AS worse,"
        " count(*) FILTER (WHERE c.change > 0)::int AS better"
        " FROM changed c JOIN fields r ON r.testcase_id = c.testcase_id"
        f" CROSS JOIN LATERAL (VALUES {_values(fields, 5)}) AS f(i, value)"
        f" WHERE f.value IS NOT NULL AND length(f.value) <= {MAX_VALUE} GROUP BY 1, 2, 3"
    )


# The run's verdicts per version.
_TOTALS = (
    "SELECT s.metric_version_id, count(*)::int AS scored, count(*) FILTER (WHERE s.passed)::int AS passed"
    " FROM scores s WHERE s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[])"
    " AND s.status = 'completed' AND s.passed IS NOT NULL GROUP BY 1"
)


def _bounded(value: int, default: int, top: int, field: str) -> int:
    chosen = value or default
    if not 1 <= chosen <= top:
        raise invalid(f"{field} must be within 1..{top:,}, got {value}")
    return chosen


async def _versions(conn: Connection, run: asyncpg.Record, ref: str) -> dict[uuid.UUID, asyncpg.Record]:
    """The pinned versions to judge: all, or the one of the metric ``ref`` names."""
    pinned = {p["version_id"]: p for p in await conn.fetch(PINNED, run["id"])}
    if not ref:
        return pinned
    metric = (await metrics.resolve(conn, run["project_id"], [ref], "metric"))[ref]
    chosen = {v: p for v, p in pinned.items() if v in metric.version_ids}
    if not chosen:
        raise invalid(f"metric: run {run['id']} was not scored with metric {ref!r}")
    return chosen


class _Compared(NamedTuple):
    """A slice beside what it is compared with: its verdicts and passes, the other's (the rest of
    the run, or the baseline's same slice) and, testcase by testcase against a baseline of the same
    testset, how many of its testcases got worse and better."""

    row: asyncpg.Record
    scored: int
    passed: int
    other_scored: int
    other_passed: int
    worse: int = 0
    better: int = 0


class WeakSliceReads:
    """GetWeakSlices."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_weak_slices(self, request: pb.GetWeakSlicesRequest) -> pb.WeakSlices:
        run_id = parse_uuid(request.run_id, "run_id")
        baseline_id = filters.optional_uuid(request.baseline_run_id, "baseline_run_id")
        least = _bounded(request.min_records, DEFAULT_MIN_RECORDS, MAX_MIN_RECORDS, "min_records")
        limit = _bounded(request.limit, DEFAULT_LIMIT, MAX_LIMIT, "limit")
        async with self._reader.snapshot() as conn:
            run = await conn.fetchrow("SELECT id, project_id, testset_id FROM runs WHERE id = $1", run_id)
            if run is None:
                raise not_found(f"run {run_id} does not exist")
            paired = False
            if baseline_id is not None:
                baseline = await conn.fetchrow("SELECT testset_id FROM runs WHERE id = $1", baseline_id)
                if baseline is None:
                    raise not_found(f"run {baseline_id} does not exist")
                paired = run["testset_id"] is not None and baseline["testset_id"] == run["testset_id"]
            versions = await _versions(conn, run, request.metric)
            chosen = list(versions)
            totals = {t["metric_version_id"]: t for t in await conn.fetch(_TOTALS, run_id, chosen)}
            fields = [(f["root"], list(f["path"])) for f in await conn.fetch(_FIELDS, run_id)]
            keys = [k for _, k in fields]
            found = await conn.fetch(_slices(fields), run_id, chosen, least, *keys) if fields else []
            rows = [r for r in found if r["scored"] < totals[r["metric_version_id"]]["scored"]]  # not the whole run
            if baseline_id is None:
                counts = [
                    _Compared(
                        r, r["scored"], r["passed"], *_rest(totals[r["metric_version_id"]], r["scored"], r["passed"])
                    )
                    for r in rows
                ]
            else:
                counts = await _against(conn, run_id, baseline_id, versions, fields, least, rows, paired)
        if paired:
            tests = worse_beyond_chance([(c.worse, c.better) for c in counts])
        else:
            tests = below_the_rest([(c.scored, c.passed, c.other_scored, c.other_passed) for c in counts])
        names = [record_fields.field_text(root, path) for root, path in fields]
        weak = []
        for c, (p_value, q_value) in zip(counts, tests, strict=True):
            other_rate = c.other_passed / c.other_scored
            if c.passed / c.scored >= other_rate:
                continue
            pinned = versions[c.row["metric_version_id"]]
            found_slice = pb.WeakSlice(
                field=names[c.row["i"]],
                value=c.row["value"],
                metric_id=str(pinned["metric_id"]),
                metric_name=pinned["name"],
                scored=c.scored,
                passed=c.passed,
                pass_rate=c.passed / c.scored,
                missing_passes=c.scored * other_rate - c.passed,
                p_value=p_value,
                q_value=q_value,
                worse_testcases=c.worse,
                better_testcases=c.better,
            )
            if baseline_id is None:
                found_slice.rest_scored, found_slice.rest_passed = c.other_scored, c.other_passed
                found_slice.rest_pass_rate = other_rate
            else:
                found_slice.baseline_scored, found_slice.baseline_passed = c.other_scored, c.other_passed
                found_slice.baseline_pass_rate = other_rate
            weak.append(found_slice)
        weak.sort(key=lambda s: (s.p_value, -s.missing_passes, s.field, s.value, s.metric_name))
        return pb.WeakSlices(
            run_id=str(run_id),
            slices=weak[:limit],
            tested=len(counts),
            min_records=least,
            baseline_run_id=str(baseline_id or ""),
            paired=paired,
        )


def _rest(total: asyncpg.Record, scored: int, passed: int) -> tuple[int, int]:
    """The rest of the run's verdicts and passes of a metric, beside a slice's."""
    return total["scored"] - scored, total["passed"] - passed


async def _against(
    conn: Connection,
    run_id: uuid.UUID,
    baseline_id: uuid.UUID,
    versions: dict[uuid.UUID, asyncpg.Record],
    fields: list[tuple[str, list[str]]],
    least: int,
    rows: list[asyncpg.Record],
    paired: bool,
) -> list[_Compared]:
    """Each of the run's slices beside the baseline's same slice (the same field, value and metric,
    in the version the baseline pins; at least ``least`` verdicts there too) and, ``paired``, its
    testcases that got worse and better; a slice the baseline lacks is left out."""
    theirs = {p["metric_id"]: p["version_id"] for p in await conn.fetch(PINNED, baseline_id)}
    metric_of = {v: p["metric_id"] for v, p in versions.items()}
    shared = [(v, theirs[m]) for v, m in metric_of.items() if m in theirs]  # (ours, theirs) per metric
    if not fields or not shared:
        return []
    keys = [k for _, k in fields]
    found = await conn.fetch(_slices(fields), baseline_id, [t for _, t in shared], least, *keys)
    of_version = {v: m for m, v in theirs.items()}
    baseline = {(b["i"], b["value"], of_version[b["metric_version_id"]]): b for b in found}
    changes: dict[tuple[int, str, uuid.UUID], asyncpg.Record] = {}
    if paired:
        ours, their_versions = [o for o, _ in shared], [t for _, t in shared]
        changed = await conn.fetch(_changes(fields), run_id, ours, baseline_id, their_versions, *keys)
        changes = {(c["i"], c["value"], c["version"]): c for c in changed}
    counts = []
    for r in rows:
        b = baseline.get((r["i"], r["value"], metric_of[r["metric_version_id"]]))
        if b is None:
            continue
        c = changes.get((r["i"], r["value"], r["metric_version_id"]))
        counts.append(
            _Compared(r, r["scored"], r["passed"], b["scored"], b["passed"], *((c["worse"], c["better"]) if c else ()))
        )
    return counts
