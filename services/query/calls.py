"""ListCalls and GetCall: a project's logged production calls with their feedback, and the
records monitors made of them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters
from services.query.call_breakdown import breakdown, breakdown_key
from services.query.call_traffic import matching_traffic, traffic
from services.query.db import Reader, Where, work_mem
from services.query.metrics import resolve
from services.query.records.clauses import step_holds, usage_tests
from services.query.records.reads import score_rows_of
from services.query.run_steps import STEPS_WORK_MEM, summaries, summed
from services.query.views import score_view
from shared.db.pool import Connection
from shared.edge import page_tokens
from shared.edge.convert import dict_to_struct, parse_uuid, python_to_value, timestamp
from shared.edge.errors import invalid, not_found
from shared.edge.search import search as search_text
from shared.edge.search import tsquery
from shared.ids import call_id_of
from shared.spans import StepCondition, span_pb

MAX_METADATA_FILTERS = 20
MAX_FEEDBACK_FILTERS = 10
CALL_STATUSES = ("completed", "errored")
FEEDBACK_STATES = ("passed", "failed", "given", "none")
TREND_BUCKETS = ("hour", "day")
MAX_BUCKETS = 1000
# What a page token ignores: they sum up the calls, they do not choose them.
_NOT_FILTERS = ("with_summary", "trend", "breakdown", "with_steps")
# ListCalls' with_steps sums up the steps of at most this many of the calls matched, the newest.
MAX_STEP_CALLS = 50_000

# A call's words: the string and number values of its inputs and outputs (not their keys); the
# expression of the logged_calls_words index (migration 0047): the two must stay the same.
_CALL_WORDS = (
    "(jsonb_to_tsvector('simple', c.inputs, '[\"string\", \"numeric\"]')"
    " || jsonb_to_tsvector('simple', c.outputs, '[\"string\", \"numeric\"]'))"
)
_FEEDBACK = (
    "SELECT f.*, m.name AS metric_name, v.output_type FROM call_feedback f"
    " JOIN metrics m ON m.id = f.metric_id JOIN metric_versions v ON v.id = f.metric_version_id"
    " WHERE f.project_id = $1 AND f.call_id = ANY($2::uuid[]) ORDER BY m.name, m.id"
)
_SAMPLES = (
    "SELECT r.id, r.run_id, r.status, ru.monitor_id, coalesce(mo.name, '') AS monitor_name"
    " FROM records r JOIN runs ru ON ru.id = r.run_id LEFT JOIN monitors mo ON mo.id = ru.monitor_id"
    " WHERE r.testcase_id = $2 AND ru.project_id = $1 AND ru.monitor_id IS NOT NULL"
    " ORDER BY r.created_at, r.id"
)


@dataclass(frozen=True)
class FeedbackFilter:
    metric: str
    state: str


def metadata_pair(text: str) -> tuple[str, str]:
    """A metadata filter, key=value, split at the first =."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise invalid(f"metadata filter {text[:100]!r} must be key=value")
    return key, value


def feedback_filter(text: str) -> FeedbackFilter:
    """A feedback filter, metric=passed|failed|given|none, split at the last = (a metric name may hold one)."""
    metric, sep, state = text.rpartition("=")
    if not sep or not metric.strip() or state not in FEEDBACK_STATES:
        raise invalid(f"feedback filter {text[:100]!r} must be metric={'|'.join(FEEDBACK_STATES)}")
    return FeedbackFilter(metric, state)


@dataclass(frozen=True)
class CallFilters:
    """A ListCalls request's filters, checked, its feedback metrics resolved."""

    project_id: uuid.UUID
    status: str
    trace_id: str
    session_id: str
    metadata: list[tuple[str, str]]
    after: datetime | None
    before: datetime | None
    feedback: list[tuple[uuid.UUID, str]]
    search: str | None = None
    usage: tuple[filters.UsageFilter, ...] = ()
    steps: tuple[StepCondition, ...] = ()

    @property
    def time_only(self) -> bool:
        """No filter but the time logged."""
        calls_asked = (
            self.status,
            self.trace_id,
            self.session_id,
            self.metadata,
            self.feedback,
            self.usage,
            self.steps,
        )
        return not any(calls_asked) and self.search is None

    def summed(self) -> tuple[Where, tuple[str, str]]:
        """What the summary and the trend read (FROM, and the calls' logging time) and its WHERE:
        the feedback alone when no filter but a time window asks for the calls themselves."""
        if not self.time_only:
            return self.where(), _OF_CALLS
        where = Where(self.project_id)
        where.add("f.project_id = $1")
        if self.after is not None:
            where.add(f"f.call_logged_at >= {where.param(self.after)}")
        if self.before is not None:
            where.add(f"f.call_logged_at < {where.param(self.before)}")
        return where, _FEEDBACK_ALONE

    def where(self) -> Where:
        where = Where(self.project_id)
        where.add("c.project_id = $1")
        if self.status:
            where.add(f"c.status = {where.param(self.status)}")
        if self.trace_id:
            where.add(f"c.trace_id = {where.param(self.trace_id)}")
        if self.session_id:
            where.add(f"c.session_id = {where.param(self.session_id)}")
        for key, value in self.metadata:
            where.add(f"c.metadata ->> {where.param(key)} = {where.param(value)}")
        if self.after is not None:
            where.add(f"c.logged_at >= {where.param(self.after)}")
        if self.before is not None:
            where.add(f"c.logged_at < {where.param(self.before)}")
        if self.search is not None:
            where.add(f"{_CALL_WORDS} @@ {tsquery(where.param(self.search))}")
        for test in usage_tests(where, self.usage, "c"):
            where.add(test)
        for step in self.steps:  # one probe of call_spans' key per call
            holds = step_holds(where, step, "x.spans")
            where.add(
                f"coalesce((SELECT {holds} FROM call_spans x WHERE x.project_id = c.project_id"
                " AND x.call_id = c.id), false)"
            )
        for metric_id, state in self.feedback:
            given = (
                "SELECT 1 FROM call_feedback g WHERE g.project_id = c.project_id AND g.call_id = c.id"
                f" AND g.metric_id = {where.param(metric_id)}"
            )
            if state == "none":
                where.add(f"NOT EXISTS ({given})")
            else:
                passed = {"passed": " AND g.passed", "failed": " AND NOT g.passed", "given": ""}[state]
                where.add(f"EXISTS ({given}{passed})")
        return where


def feedback_value(row: asyncpg.Record) -> bool | int | float:
    """A feedback row's value as its metric's output type gave it (stored as a number)."""
    if row["output_type"] == "boolean":
        return bool(row["value"])
    return int(row["value"]) if row["output_type"] == "int" else float(row["value"])


def feedback_view(row: asyncpg.Record) -> pb.CallFeedbackView:
    return pb.CallFeedbackView(
        metric_id=str(row["metric_id"]),
        metric_name=row["metric_name"],
        output_type=row["output_type"],
        value=python_to_value(feedback_value(row)),
        passed=row["passed"],
        comment=row["comment"],
        author=row["author"],
        given_at=timestamp(row["given_at"]),
        metric_version_id=str(row["metric_version_id"]),
    )


def call_view(row: asyncpg.Record, feedback: Sequence[asyncpg.Record], public_url: str) -> pb.CallView:
    view = pb.CallView(
        url=f"{public_url}/projects/{row['project_id']}/calls/{row['id']}",
        id=str(row["id"]),
        call_key=row["call_key"],
        project_id=str(row["project_id"]),
        logged_at=timestamp(row["logged_at"]),
        inputs=dict_to_struct(row["inputs"]),
        outputs=dict_to_struct(row["outputs"]),
        metadata=dict_to_struct(row["metadata"]),
        status=row["status"],
        error=row["error"],
        latency_ms=row["latency_ms"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        trace_id=row["trace_id"],
        session_id=row["session_id"],
        feedback=[feedback_view(f) for f in feedback],
    )
    if row["cost_usd"] is not None:
        view.cost_usd = row["cost_usd"]
    return view


async def _feedback_of(
    conn: Connection, project_id: uuid.UUID, call_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[asyncpg.Record]]:
    found: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in await conn.fetch(_FEEDBACK, project_id, call_ids) if call_ids else []:
        found[row["call_id"]].append(row)
    return found


# Per metric (and bucket, when a trend asks), the feedback of the calls a filter matches: counted
# by metric id first (a hash aggregate), then named with the metric's latest output type.
_SUMMED = (
    "SELECT {bucket} t.metric_id, m.name, t.given, t.passed, t.mean,"
    " (SELECT v.output_type FROM metric_versions v WHERE v.metric_id = t.metric_id"
    "  ORDER BY v.version DESC LIMIT 1) AS output_type"
    " FROM (SELECT {bucket_of} f.metric_id, count(*)::int AS given, count(*) FILTER (WHERE f.passed)::int AS passed,"
    "  avg(f.value) AS mean FROM {source} WHERE {where} GROUP BY {group}) t JOIN metrics m ON m.id = t.metric_id"
)
# What the summary reads: the feedback of the calls the filters match, or — when only a time window
# filters them — the feedback alone, by the logging time of its call (call_feedback_by_call_time).
_OF_CALLS = ("logged_calls c JOIN call_feedback f ON f.project_id = c.project_id AND f.call_id = c.id", "c.logged_at")
_FEEDBACK_ALONE = ("call_feedback f", "f.call_logged_at")


def _summed(row: asyncpg.Record, bucket: datetime | None = None) -> pb.FeedbackSummary:
    return pb.FeedbackSummary(
        metric_id=str(row["metric_id"]),
        metric_name=row["name"],
        output_type=row["output_type"],
        given=row["given"],
        passed=row["passed"],
        pass_rate=row["passed"] / row["given"],
        mean=row["mean"],
        bucket_start=timestamp(bucket) if bucket is not None else "",
    )


async def _summary(conn: Connection, chosen: CallFilters) -> list[pb.FeedbackSummary]:
    where, (source, _) = chosen.summed()
    sql = _SUMMED.format(bucket="", bucket_of="", source=source, where=where.sql(), group="f.metric_id")
    rows = await conn.fetch(f"{sql} ORDER BY m.name, t.metric_id", *where.args)
    return [_summed(r) for r in rows]


async def _trend(conn: Connection, chosen: CallFilters, bucket: str) -> list[pb.FeedbackSummary]:
    """Per hour or day of the calls' logging (UTC), oldest first: the newest MAX_BUCKETS buckets."""
    where, (source, logged_at) = chosen.summed()
    unit = where.param(bucket)
    sql = _SUMMED.format(
        bucket="t.bucket, dense_rank() OVER (ORDER BY t.bucket DESC) AS newest,",
        bucket_of=f"date_trunc({unit}, {logged_at}, 'UTC') AS bucket,",
        source=source,
        where=where.sql(),
        group="bucket, f.metric_id",
    )
    rows = await conn.fetch(
        f"SELECT * FROM ({sql}) s WHERE newest <= {MAX_BUCKETS} ORDER BY bucket, name, metric_id", *where.args
    )
    return [_summed(r, r["bucket"]) for r in rows]


@dataclass(frozen=True)
class CallPage:
    """A page of ListCalls as database rows: the calls, their feedback rows by call id, the next
    page's token, and the summary and trend when asked."""

    rows: list[asyncpg.Record]
    feedback: dict[uuid.UUID, list[asyncpg.Record]]
    token: str
    summary: list[pb.FeedbackSummary]
    trend: list[pb.FeedbackSummary]
    traffic: list[pb.CallTraffic]
    breakdown: list[pb.CallGroup]
    steps: CallSteps | None = None


@dataclass(frozen=True)
class CallSteps:
    """ListCalls' with_steps: the steps of the newest calls matched, summed up step by step."""

    summaries: list[pb.StepSummary]
    calls: int
    holding: int


# The steps of chosen calls of a project ($1: the project, $2: the calls' ids), and how many hold some.
_CHOSEN = "FROM call_spans WHERE project_id = $1 AND call_id = ANY($2::uuid[])"


async def _steps(conn: Connection, chosen: CallFilters) -> CallSteps:
    """The steps of the newest MAX_STEP_CALLS calls the filters match, as GetRunSteps sums a run's.
    The filters are read once: the calls' ids, then their steps by call_spans' key."""
    where = chosen.where()
    picked = await conn.fetch(
        f"SELECT c.id FROM logged_calls c WHERE {where.sql()}"
        f" ORDER BY c.logged_at DESC, c.id DESC LIMIT {MAX_STEP_CALLS}",
        *where.args,
    )
    ids = [r["id"] for r in picked]
    await work_mem(conn, STEPS_WORK_MEM)
    rows = await conn.fetch(summed(f"SELECT spans {_CHOSEN}"), chosen.project_id, ids)
    holding = await conn.fetchval(f"SELECT count(*) {_CHOSEN}", chosen.project_id, ids)
    return CallSteps(summaries(rows), len(ids), holding)


class CallReads:
    """ListCalls, GetCall."""

    def __init__(self, reader: Reader, public_url: str) -> None:
        self._reader = reader
        self._public_url = public_url.rstrip("/")

    async def _filters(self, conn: Connection, request: pb.ListCallsRequest, project_id: uuid.UUID) -> CallFilters:
        if request.status:
            filters.one_of([request.status], CALL_STATUSES, "status")
        if request.trend:
            filters.one_of([request.trend], TREND_BUCKETS, "trend")
        if len(request.metadata) > MAX_METADATA_FILTERS:
            raise invalid(f"metadata may hold at most {MAX_METADATA_FILTERS} filters, got {len(request.metadata)}")
        if len(request.feedback) > MAX_FEEDBACK_FILTERS:
            raise invalid(f"feedback may hold at most {MAX_FEEDBACK_FILTERS} filters, got {len(request.feedback)}")
        after, before = filters.time_range(request.logged_after, request.logged_before, "logged")
        wanted = [feedback_filter(f) for f in request.feedback]
        metadata = [metadata_pair(m) for m in request.metadata]
        metrics = await resolve(conn, project_id, [f.metric for f in wanted], "feedback")
        return CallFilters(
            project_id=project_id,
            status=request.status,
            trace_id=request.trace_id,
            session_id=request.session_id,
            metadata=metadata,
            after=after,
            before=before,
            feedback=[(metrics[f.metric].id, f.state) for f in wanted],
            search=search_text(request.search),
            usage=tuple(filters.usage_filters(request.usage)),
            steps=tuple(filters.step_filters(request.steps)),
        )

    async def page(self, request: pb.ListCallsRequest) -> CallPage:
        """A page of calls as database rows with their feedback rows (and the summary and trend
        asked for); every filter checked before anything is read."""
        project_id = parse_uuid(request.project_id, "project_id")
        size = filters.page_size(request.page_size)
        position = None
        if request.page_token:
            raw = page_tokens.decode(request.page_token, ("t", "id"), request, ignore=_NOT_FILTERS)
            position = (page_tokens.timestamp(raw["t"]), page_tokens.uuid_of(raw["id"]))
        async with self._reader.snapshot() as conn:
            if not await conn.fetchval("SELECT 1 FROM projects WHERE id = $1", project_id):
                raise not_found(f"project {request.project_id} does not exist")
            chosen = await self._filters(conn, request, project_id)
            key = breakdown_key(request.breakdown)
            where = chosen.where()
            if position is not None:
                where.add(f"(c.logged_at, c.id) < ({where.param(position[0])}, {where.param(position[1])})")
            rows = await conn.fetch(
                f"SELECT c.* FROM logged_calls c WHERE {where.sql()}"
                f" ORDER BY c.logged_at DESC, c.id DESC LIMIT {size + 1}",
                *where.args,
            )
            page = rows[:size]
            feedback = await _feedback_of(conn, project_id, [r["id"] for r in page])
            summary = await _summary(conn, chosen) if request.with_summary else []
            trend = await _trend(conn, chosen, request.trend) if request.trend else []
            shown = []
            if request.trend and chosen.time_only:
                shown = await traffic(conn, project_id, request.trend, chosen.after, chosen.before)
            elif request.trend:
                shown = await matching_traffic(conn, chosen.where(), request.trend)
            groups = await breakdown(conn, chosen.where, key, _summed) if key else []
            steps = await _steps(conn, chosen) if request.with_steps else None
        token = ""
        if len(rows) > size:
            last = page[-1]
            token = page_tokens.encode(
                {"t": last["logged_at"].isoformat(), "id": str(last["id"])}, request, ignore=_NOT_FILTERS
            )
        return CallPage(page, feedback, token, summary, trend, shown, groups, steps)

    async def list_calls(self, request: pb.ListCallsRequest) -> pb.ListCallsResponse:
        page = await self.page(request)
        return pb.ListCallsResponse(
            calls=[call_view(r, page.feedback[r["id"]], self._public_url) for r in page.rows],
            next_page_token=page.token,
            summary=page.summary,
            trend=page.trend,
            traffic=page.traffic,
            breakdown=page.breakdown,
            steps=page.steps.summaries if page.steps else [],
            steps_calls=page.steps.calls if page.steps else 0,
            calls_with_steps=page.steps.holding if page.steps else 0,
        )

    async def get_call(self, request: pb.GetCallRequest) -> pb.CallView:
        project_id = parse_uuid(request.project_id, "project_id")
        if not request.call_id.strip():
            raise invalid("call_id is required: the id the call was logged with")
        call_id = call_id_of(request.call_id)
        async with self._reader.snapshot() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM logged_calls WHERE project_id = $1 AND id = $2", project_id, call_id
            )
            if row is None:
                raise not_found(f"call {request.call_id[:200]!r} was not logged in project {request.project_id}")
            feedback = await _feedback_of(conn, project_id, [call_id])
            samples = await conn.fetch(_SAMPLES, project_id, call_id)
            scores = await score_rows_of(conn, [s["id"] for s in samples])
            steps = await conn.fetchval(
                "SELECT spans FROM call_spans WHERE project_id = $1 AND call_id = $2", project_id, call_id
            )
        view = call_view(row, feedback[call_id], self._public_url)
        view.spans.extend(span_pb(s) for s in steps or ())
        view.samples.extend(
            pb.CallSample(
                record_id=str(s["id"]),
                run_id=str(s["run_id"]),
                monitor_id=str(s["monitor_id"]),
                monitor_name=s["monitor_name"],
                status=s["status"],
                scores=[score_view(x) for x in scores[s["id"]] if x["current"]],
            )
            for s in samples
        )
        return view
