"""GetMetricAgreement: two metrics' verdicts on the same records of a run, counted cell by cell —
does the LLM judge agree with the reviewers, with another judge, or (a monitor's run) with the
feedback your users gave the calls it sampled?"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import metrics
from services.query.db import Reader
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.scoring.eval_types import FEEDBACK_EVAL_TYPES

# The cells of two verdict sources (each a subquery of record_id, passed) on the same records.
_CELLS = (
    "SELECT count(*) FILTER (WHERE a.passed AND b.passed)::int AS both_passed,"
    " count(*) FILTER (WHERE a.passed AND NOT b.passed)::int AS only_a_passed,"
    " count(*) FILTER (WHERE NOT a.passed AND b.passed)::int AS only_b_passed,"
    " count(*) FILTER (WHERE NOT a.passed AND NOT b.passed)::int AS both_failed"
    " FROM ({a}) a JOIN ({b}) b ON b.record_id = a.record_id"
)
# A pinned version's completed verdicts on the records of run $1.
_SCORED = (
    "SELECT record_id, passed FROM scores WHERE run_id = $1 AND metric_version_id = {version}"
    " AND status = 'completed' AND passed IS NOT NULL"
)
# The feedback of a metric on the calls that are the records of (monitor) run $1.
_FEEDBACK = (
    "SELECT r.id AS record_id, f.passed FROM records r JOIN call_feedback f"
    " ON f.project_id = (SELECT project_id FROM runs WHERE id = $1) AND f.call_id = r.testcase_id"
    " AND f.metric_id = {metric} WHERE r.run_id = $1"
)


@dataclass(frozen=True)
class Verdicts:
    """Where one side's verdicts come from: a version the run pins, or its calls' feedback."""

    metric_id: uuid.UUID
    name: str
    version_id: uuid.UUID | None  # None: feedback

    def source(self, param: str) -> str:
        return _FEEDBACK.format(metric=param) if self.version_id is None else _SCORED.format(version=param)

    @property
    def key(self) -> uuid.UUID:
        return self.metric_id if self.version_id is None else self.version_id


def kappa(both_passed: int, only_a: int, only_b: int, both_failed: int) -> float | None:
    """Cohen's kappa of two pass / fail raters; None when nothing was compared or chance alone
    would agree on everything (each rater gave one verdict only)."""
    n = both_passed + only_a + only_b + both_failed
    if n == 0:
        return None
    observed = (both_passed + both_failed) / n
    a, b = (both_passed + only_a) / n, (both_passed + only_b) / n
    chance = a * b + (1 - a) * (1 - b)
    return None if chance >= 1 else (observed - chance) / (1 - chance)


class AgreementReads:
    """GetMetricAgreement."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_metric_agreement(self, request: pb.GetMetricAgreementRequest) -> pb.MetricAgreement:
        run_id = parse_uuid(request.run_id, "run_id")
        if not request.metric_a or not request.metric_b:
            raise invalid("metric_a and metric_b are required: two metrics the run was scored with, by id or name")
        async with self._reader.snapshot() as conn:
            run = await conn.fetchrow(
                "SELECT id, project_id, metric_version_ids, monitor_id FROM runs WHERE id = $1", run_id
            )
            if run is None:
                raise not_found(f"run {run_id} does not exist")
            a = await _verdicts(conn, run, request.metric_a, "metric_a")
            b = await _verdicts(conn, run, request.metric_b, "metric_b")
            if a.metric_id == b.metric_id:
                raise invalid(f"metric_a and metric_b are the same metric ({a.name}): name two")
            cells = await conn.fetchrow(_CELLS.format(a=a.source("$2"), b=b.source("$3")), run_id, a.key, b.key)
            records = await conn.fetchval(
                "SELECT coalesce(sum(records), 0)::int FROM run_record_counts WHERE run_id = $1", run_id
            )
        assert cells is not None  # an aggregate without GROUP BY returns its one row
        counts = [cells[k] for k in ("both_passed", "only_a_passed", "only_b_passed", "both_failed")]
        compared = sum(counts)
        view = pb.MetricAgreement(
            run_id=str(run_id),
            metric_a_id=str(a.metric_id),
            metric_a_name=a.name,
            metric_b_id=str(b.metric_id),
            metric_b_name=b.name,
            metric_a_feedback=a.version_id is None,
            metric_b_feedback=b.version_id is None,
            compared=compared,
            both_passed=counts[0],
            only_a_passed=counts[1],
            only_b_passed=counts[2],
            both_failed=counts[3],
            not_compared=max(records - compared, 0),
        )
        if compared:
            view.agreement = (counts[0] + counts[3]) / compared
        if (k := kappa(*counts)) is not None:
            view.kappa = k
        return view


async def _verdicts(conn: Connection, run: asyncpg.Record, ref: str, field: str) -> Verdicts:
    """The metric ``ref`` names (id or name) and the version of it the run pins; in a monitor's
    run, a human or code metric it does not pin stands for its calls' feedback."""
    metric = (await metrics.resolve(conn, run["project_id"], [ref], field))[ref]
    version = next((v for v in metric.version_ids if v in run["metric_version_ids"]), None)
    if version is not None:
        return Verdicts(metric.id, metric.name, version)
    if run["monitor_id"] is not None:
        eval_type = await conn.fetchval(
            "SELECT eval_type FROM metric_versions WHERE metric_id = $1 ORDER BY version DESC LIMIT 1", metric.id
        )
        if eval_type in FEEDBACK_EVAL_TYPES:
            return Verdicts(metric.id, metric.name, None)
        raise invalid(
            f"{field}: run {run['id']} was not scored with metric {ref!r}, and a {eval_type} metric takes no"
            " feedback (only human and code metrics do)"
        )
    raise invalid(f"{field}: run {run['id']} was not scored with metric {ref!r}")
