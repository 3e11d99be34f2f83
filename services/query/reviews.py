"""ListReviewQueues: the progress of each human metric's review queue, per run and per reviewer.

A run's progress comes from its counters and the scorer's aggregates (verdicts given = scored +
errored scores of the pinned version; to give = completed records − given), so no read scans
records. Reviewers are counted from their scores (the human scores of one metric: as many as
people gave), the review log (skips) and the live leases.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import asyncpg
from scorekeeper.v1 import review_pb2 as rpb

from services.query import filters
from services.query.db import Reader
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid, timestamp
from shared.edge.errors import not_found

RUNS_SHOWN = 50
_CLOSED = ["failed", "cancelled"]

_METRICS = (
    "SELECT * FROM (SELECT DISTINCT ON (m.id) m.id, m.name, v.output_type, v.guidelines, v.eval_type"
    " FROM metrics m JOIN metric_versions v ON v.metric_id = m.id"
    " WHERE m.project_id = $1 AND ($2::uuid IS NULL OR m.id = $2) ORDER BY m.id, v.version DESC) latest"
    " WHERE eval_type = 'human' ORDER BY name, id"
)

# Per run pinning a version of the metric: completed records and verdicts given for that version.
_RUNS = (
    "SELECT r.id, r.status, r.created_at, t.name AS testset_name,"
    " (SELECT coalesce(sum(c.records - c.errored), 0) FROM run_record_counts c WHERE c.run_id = r.id)::int AS due,"
    " (SELECT coalesce(sum(a.scored + a.errored), 0) FROM run_metric_aggregates a"
    "   WHERE a.run_id = r.id AND a.metric_version_id = ANY(r.human_metric_version_ids)"
    "   AND a.metric_version_id = ANY($2::uuid[]))::int AS reviewed"
    " FROM runs r JOIN testsets t ON t.id = r.testset_id"
    " WHERE r.project_id = $1 AND r.human_metric_version_ids && $2::uuid[] AND r.status <> ALL($3::text[])"
    " AND r.archived_at IS NULL"
    " ORDER BY r.created_at DESC, r.id DESC"
)


class ReviewReads:
    """ListReviewQueues."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def list_review_queues(self, request: rpb.ListReviewQueuesRequest) -> rpb.ListReviewQueuesResponse:
        project_id = parse_uuid(request.project_id, "project_id")
        metric_id = filters.optional_uuid(request.metric_id, "metric_id")
        async with self._reader.snapshot() as conn:
            if not await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id):
                raise not_found(f"project {request.project_id} does not exist")
            metrics = await conn.fetch(_METRICS, project_id, metric_id)
            queues = [await _queue(conn, project_id, m) for m in metrics]
        return rpb.ListReviewQueuesResponse(queues=queues)


async def _queue(conn: Connection, project_id: uuid.UUID, metric: asyncpg.Record) -> rpb.ReviewQueue:
    versions = [r["id"] for r in await conn.fetch("SELECT id FROM metric_versions WHERE metric_id = $1", metric["id"])]
    runs = await conn.fetch(_RUNS, project_id, versions, _CLOSED)
    holders = await conn.fetch(
        "SELECT l.reviewer, l.record_id FROM review_leases l JOIN scores s ON s.id = l.score_id"
        " WHERE l.metric_id = $1 AND NOT l.submitted AND l.expires_at > now() AND s.status = 'pending'",
        metric["id"],
    )
    reviewed = await conn.fetch(
        "SELECT s.reviewer, count(*)::int AS n FROM scores s JOIN runs r ON r.id = s.run_id"
        " WHERE s.metric_version_id = ANY($1::uuid[]) AND s.metric_version_id = ANY(r.metric_version_ids)"
        " AND s.status = 'completed' AND s.reviewer <> '' GROUP BY s.reviewer",
        versions,
    )
    skipped = await conn.fetch(
        "SELECT g.reviewer, count(*)::int AS n FROM review_log g JOIN scores s ON s.id = g.score_id"
        " WHERE g.metric_id = $1 AND g.action = 'skipped' AND s.status = 'pending' GROUP BY g.reviewer",
        metric["id"],
    )
    people: dict[str, rpb.ReviewerProgress] = defaultdict(rpb.ReviewerProgress)
    for row in reviewed:
        people[row["reviewer"]].reviewed = row["n"]
    for row in skipped:
        people[row["reviewer"]].skipped = row["n"]
    for row in holders:
        people[row["reviewer"]].holding_record_id = str(row["record_id"])
    for name, progress in people.items():
        progress.reviewer = name
    return rpb.ReviewQueue(
        metric_id=str(metric["id"]),
        name=metric["name"],
        output_type=metric["output_type"],
        guidelines=metric["guidelines"],
        reviewed=sum(r["reviewed"] for r in runs),
        to_review=sum(max(r["due"] - r["reviewed"], 0) for r in runs),
        in_review=len(holders),
        runs=[
            rpb.RunReviewProgress(
                run_id=str(r["id"]),
                run_status=r["status"],
                created_at=timestamp(r["created_at"]),
                testset_name=r["testset_name"],
                reviewed=r["reviewed"],
                to_review=max(r["due"] - r["reviewed"], 0),
            )
            for r in runs[:RUNS_SHOWN]
        ],
        reviewers=[people[name] for name in sorted(people)],
    )
