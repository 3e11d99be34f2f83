"""GetMetricAgreement: two metrics' verdicts on the same records of a run, counted cell by cell —
does the LLM judge agree with the reviewers, or with another judge?"""

from __future__ import annotations

import uuid

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import metrics
from services.query.db import Reader
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found

# The verdicts of versions $2 and $3 on the records of run $1 where both are completed.
_CELLS = (
    "SELECT count(*) FILTER (WHERE a.passed AND b.passed)::int AS both_passed,"
    " count(*) FILTER (WHERE a.passed AND NOT b.passed)::int AS only_a_passed,"
    " count(*) FILTER (WHERE NOT a.passed AND b.passed)::int AS only_b_passed,"
    " count(*) FILTER (WHERE NOT a.passed AND NOT b.passed)::int AS both_failed"
    " FROM scores a JOIN scores b ON b.record_id = a.record_id AND b.run_id = $1 AND b.metric_version_id = $3"
    " WHERE a.run_id = $1 AND a.metric_version_id = $2 AND a.status = 'completed' AND b.status = 'completed'"
    " AND a.passed IS NOT NULL AND b.passed IS NOT NULL"
)


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
            run = await conn.fetchrow("SELECT id, project_id, metric_version_ids FROM runs WHERE id = $1", run_id)
            if run is None:
                raise not_found(f"run {run_id} does not exist")
            a_id, a_name, a_version = await _pinned(conn, run, request.metric_a, "metric_a")
            b_id, b_name, b_version = await _pinned(conn, run, request.metric_b, "metric_b")
            if a_id == b_id:
                raise invalid(f"metric_a and metric_b are the same metric ({a_name}): name two")
            cells = await conn.fetchrow(_CELLS, run_id, a_version, b_version)
            records = await conn.fetchval(
                "SELECT coalesce(sum(records), 0)::int FROM run_record_counts WHERE run_id = $1", run_id
            )
        assert cells is not None  # an aggregate without GROUP BY returns its one row
        counts = [cells[k] for k in ("both_passed", "only_a_passed", "only_b_passed", "both_failed")]
        compared = sum(counts)
        view = pb.MetricAgreement(
            run_id=str(run_id),
            metric_a_id=str(a_id),
            metric_a_name=a_name,
            metric_b_id=str(b_id),
            metric_b_name=b_name,
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


async def _pinned(conn: Connection, run: asyncpg.Record, ref: str, field: str) -> tuple[uuid.UUID, str, uuid.UUID]:
    """The metric ``ref`` names (id or name) and the version of it the run pins."""
    metric = (await metrics.resolve(conn, run["project_id"], [ref], field))[ref]
    version = next((v for v in metric.version_ids if v in run["metric_version_ids"]), None)
    if version is None:
        raise invalid(f"{field}: run {run['id']} was not scored with metric {ref!r}")
    return metric.id, metric.name, version
