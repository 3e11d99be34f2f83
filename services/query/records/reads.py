"""ListRecords (one run's records, or the project-wide Records page) and GetRecord: the request
parsed and resolved (RecordQuery), a plan chosen (choose.py) and read (plans/), then the page's
scores and its token."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters, metrics
from services.query.db import Reader
from services.query.records import choose, clauses, estimate, plans
from services.query.records.query import Condition, RecordQuery
from services.query.views import attempt_view, record_view, score_view
from shared.db.pool import Connection
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.edge.search import search as search_text
from shared.spans import span_pb

_SCORES = (
    "SELECT s.*, v.metric_id, v.version AS metric_version, m.name AS metric_name,"
    " s.metric_version_id = ANY(ru.metric_version_ids) AS current"
    " FROM scores s JOIN metric_versions v ON v.id = s.metric_version_id JOIN metrics m ON m.id = v.metric_id"
    " JOIN runs ru ON ru.id = s.run_id"
    " WHERE s.record_id = ANY($1::uuid[]) ORDER BY s.record_id, m.name, v.version"
)


@dataclass(frozen=True)
class RecordPage:
    """A page of records (RECORD_COLUMNS rows), their score rows by record id, the next page's token."""

    rows: list[asyncpg.Record]
    scores: dict[uuid.UUID, list[asyncpg.Record]]
    token: str


# A record's steps: ingested with it, or (a record of a monitor's run, whose testcase is the call)
# logged with its call.
_SPANS = """
SELECT spans FROM record_spans WHERE record_id = $1
UNION ALL
SELECT c.spans FROM runs ru JOIN call_spans c ON c.project_id = ru.project_id AND c.call_id = $2
WHERE ru.id = $3 AND ru.monitor_id IS NOT NULL
LIMIT 1
"""


class RecordReads:
    """ListRecords and GetRecord."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._learned = plans.Learned()

    async def get_record(self, request: pb.GetRecordRequest) -> pb.RecordView:
        record_id = parse_uuid(request.record_id, "record_id")
        async with self._reader.snapshot() as conn:
            row = await conn.fetchrow(f"SELECT {clauses.RECORD_COLUMNS} FROM records r WHERE r.id = $1", record_id)
            if row is None:
                raise not_found(f"record {request.record_id} does not exist")
            scores = await score_rows_of(conn, [record_id])
            attempts = await conn.fetch(
                "SELECT * FROM record_attempts WHERE record_id = $1 ORDER BY attempt", record_id
            )
            steps = await conn.fetchval(_SPANS, record_id, row["testcase_id"], row["run_id"])
        view = record_view(row, [score_view(s) for s in scores[record_id]])
        view.attempts.extend(attempt_view(a) for a in attempts)
        view.spans.extend(span_pb(s) for s in steps or ())
        return view

    async def list_records(self, request: pb.ListRecordsRequest) -> pb.ListRecordsResponse:
        page = await self.page(request)
        return pb.ListRecordsResponse(
            records=[record_view(r, [score_view(s) for s in page.scores[r["id"]]]) for r in page.rows],
            next_page_token=page.token,
        )

    async def page(self, request: pb.ListRecordsRequest) -> RecordPage:
        """One page of ListRecords as database rows (ExportRecords writes them out without views)."""
        run_id = filters.optional_uuid(request.run_id, "run_id")
        project_id = filters.optional_uuid(request.project_id, "project_id")
        if run_id is None and project_id is None:
            raise invalid("run_id or project_id is required")
        size = filters.page_size(request.page_size)
        order = filters.order(request.order_by)
        conditions = filters.conditions(request.score_conditions, request.where)
        search = search_text(request.search)
        statuses = filters.record_statuses(request.statuses)
        fields = filters.field_filters(request.fields)
        usage = filters.usage_filters(request.usage)
        steps = filters.step_filters(request.steps)
        run_ids = filters.uuids(request.run_ids, "run_ids")
        testcase_id = filters.optional_uuid(request.testcase_id, "testcase_id")
        after = _position(request, order)

        async with self._reader.snapshot() as conn:
            project_id = await _project(conn, run_id, project_id)
            await _check_runs(conn, project_id, run_ids)
            condition_metrics = await metrics.resolve(
                conn, project_id, [c.metric for c in conditions], "score condition"
            )
            order_metric = await metrics.resolve(conn, project_id, [order.metric] if order.metric else [], "order_by")
            query = RecordQuery(
                project_id=project_id,
                order=order,
                size=size,
                run_id=run_id,
                run_ids=tuple(run_ids),
                testcase_id=testcase_id,
                statuses=tuple(statuses),
                tags=tuple(request.tags),
                search=search,
                fields=tuple(fields),
                usage=tuple(usage),
                steps=tuple(steps),
                conditions=tuple(Condition(c, condition_metrics[c.metric].version_ids) for c in conditions),
                order_versions=order_metric[order.metric].version_ids if order.metric else (),
                after=after,
            )
            sampled = (
                await estimate.sample(conn, search) if search is not None and choose.needs_estimate(query) else None
            )
            plan = choose.choose(query, sampled)
            rows = await plans.READS[plan.way](conn, query, plan, self._learned)
            page = rows[:size]
            scores = await score_rows_of(conn, [r["id"] for r in page])
        token = ""
        if len(rows) > size:
            last = page[-1]
            key_value = last["sort_key"].isoformat() if order.key == "created_at" else last["sort_key"]
            token = page_tokens.encode({"k": key_value, "id": str(last["id"])}, request)
        return RecordPage(page, scores, token)


def _position(request: pb.ListRecordsRequest, order: filters.Order) -> tuple[Any, uuid.UUID] | None:
    if not request.page_token:
        return None
    position = page_tokens.decode(request.page_token, ("k", "id"), request)
    last_id = page_tokens.uuid_of(position["id"])
    if order.key == "created_at":
        return page_tokens.timestamp(position["k"]), last_id
    return page_tokens.number(position["k"], nullable=order.nullable), last_id


async def _project(conn: Connection, run_id: uuid.UUID | None, project_id: uuid.UUID | None) -> uuid.UUID:
    if run_id is not None:
        run_project = await conn.fetchval("SELECT project_id FROM runs WHERE id = $1", run_id)
        if run_project is None:
            raise not_found(f"run {run_id} does not exist")
        if project_id is not None and project_id != run_project:
            raise invalid(f"run {run_id} is not in project {project_id}")
        return uuid.UUID(str(run_project))
    assert project_id is not None
    if not await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id):
        raise not_found(f"project {project_id} does not exist")
    return project_id


async def _check_runs(conn: Connection, project_id: uuid.UUID, run_ids: list[uuid.UUID]) -> None:
    if not run_ids:
        return
    found = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM runs WHERE id = ANY($1::uuid[]) AND project_id = $2", run_ids, project_id
        )
    }
    for run_id in run_ids:
        if run_id not in found:
            raise invalid(f"run_ids: run {run_id} is not in project {project_id}")


async def score_rows_of(conn: Connection, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
    """Each record's scores (every version, ``current`` those its run pins), by record id."""
    scores: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    rows: list[asyncpg.Record] = await conn.fetch(_SCORES, record_ids) if record_ids else []
    for row in rows:
        scores[row["record_id"]].append(row)
    return scores
