"""ListRecords (one run's records, or the project-wide Records page) and GetRecord.

Filters become AND-ed conditions on ``records r``; a score condition is an EXISTS on the score of
the metric version the record's run pins (the unique (record_id, metric_version_id) index), the
search is the GIN-indexed tsvector column records.search (0006_query_reads.sql). Pages are keyset pages on
(sort key, id), so rows arriving meanwhile never shift a page.

A project-wide list by created_at with a search or a score condition reads created_at windows one
after another (``_Windows``), each bounded, instead of one statement whose plan depends on how
often the filters match (docs/query-performance.md, ListRecords).
"""

from __future__ import annotations

import json
import time
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import cursor, filters, metrics
from services.query.db import Reader, Where
from services.query.views import record_view, score_view
from shared.db.pool import Connection
from shared.edge.api import request_deadline
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found

# Every column of a record but its search vector (records.search, 0006_query_reads.sql).
RECORD_COLUMNS = (
    "r.id, r.run_id, r.testcase_id, r.trial, r.status, r.inputs, r.expected, r.outputs, r.metadata, r.error,"
    " r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.created_at, r.tags"
)

# The score a condition or an order reads: the record's score for the metric version its run pins.
_PINNED_SCORE = "s.record_id = r.id AND s.metric_version_id = ANY(ru.metric_version_ids) AND s.metric_version_id = ANY("
_STATE_TESTS = {
    "passed": "s.status = 'completed' AND s.passed",
    "failed": "s.status = 'completed' AND NOT s.passed",
    "errored": "s.status = 'errored'",
}
_VALUE_TESTS = {"lt": "<", "gt": ">", "eq": "="}
_SORT_KEYS = {"created_at": "r.created_at", "latency_ms": "r.latency_ms", "score": "sv.value_num"}

_SCORES = (
    "SELECT s.*, v.metric_id, v.version AS metric_version, m.name AS metric_name,"
    " s.metric_version_id = ANY(ru.metric_version_ids) AS current"
    " FROM scores s JOIN metric_versions v ON v.id = s.metric_version_id JOIN metrics m ON m.id = v.metric_id"
    " JOIN runs ru ON ru.id = s.run_id"
    " WHERE s.record_id = ANY($1::uuid[]) ORDER BY s.record_id, m.name, v.version"
)


class RecordReads:
    """ListRecords and GetRecord."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._spread: _Spread | None = None
        self._spread_read_at = -_SPREAD_TTL_S

    async def get_record(self, request: pb.GetRecordRequest) -> pb.RecordView:
        record_id = parse_uuid(request.record_id, "record_id")
        async with self._reader.snapshot() as conn:
            row = await conn.fetchrow(f"SELECT {RECORD_COLUMNS} FROM records r WHERE r.id = $1", record_id)
            if row is None:
                raise not_found(f"record {request.record_id} does not exist")
            scores = await _scores_of(conn, [record_id])
        return record_view(row, scores[record_id])

    async def list_records(self, request: pb.ListRecordsRequest) -> pb.ListRecordsResponse:
        run_id = filters.optional_uuid(request.run_id, "run_id")
        project_id = filters.optional_uuid(request.project_id, "project_id")
        if run_id is None and project_id is None:
            raise invalid("run_id or project_id is required")
        size = filters.page_size(request.page_size)
        order = filters.order(request.order_by)
        conditions = filters.conditions(request.score_conditions, request.where)
        search = filters.search(request.search)
        statuses = filters.record_statuses(request.statuses)
        run_ids = filters.uuids(request.run_ids, "run_ids")
        testcase_id = filters.optional_uuid(request.testcase_id, "testcase_id")
        after = self._position(request.page_token, order)

        async with self._reader.snapshot() as conn:
            project_id = await self._project(conn, run_id, project_id)
            await self._check_runs(conn, project_id, run_ids)
            condition_metrics = await metrics.resolve(
                conn, project_id, [c.metric for c in conditions], "score condition"
            )
            order_metric = await metrics.resolve(conn, project_id, [order.metric] if order.metric else [], "order_by")

            key = _SORT_KEYS[order.key]

            def statement(
                limit: int, window: Sequence[tuple[str, datetime]] = (), walk: bool = True
            ) -> tuple[str, list[Any]]:
                """The page's SELECT, with ``window``'s created_at bounds ((operator, time) each);
                without ``walk``, PostgreSQL may not read the rows in the order's index."""
                where = Where()
                if run_id is not None:
                    where.add(f"r.run_id = {where.param(run_id)}")
                if run_ids:
                    where.add(f"r.run_id = ANY({where.param(run_ids)}::uuid[])")
                if run_id is None and not run_ids:
                    where.add(f"r.run_id IN (SELECT id FROM runs WHERE project_id = {where.param(project_id)})")
                if testcase_id is not None:
                    where.add(f"r.testcase_id = {where.param(testcase_id)}")
                if statuses:
                    where.add(f"r.status = ANY({where.param(statuses)}::text[])")
                if request.tags:
                    where.add(f"r.tags @> {where.param(list(request.tags))}::text[]")
                if search is not None:
                    where.add(f"r.search @@ websearch_to_tsquery('simple', {where.param(search)})")
                for c in conditions:
                    versions = where.param(list(condition_metrics[c.metric].version_ids))
                    test = _STATE_TESTS.get(c.op) or (
                        f"s.status = 'completed' AND s.value_num {_VALUE_TESTS[c.op]} {where.param(c.value)}::float8"
                    )
                    where.add(f"EXISTS (SELECT 1 FROM scores s WHERE {_PINNED_SCORE}{versions}::uuid[]) AND {test})")
                joins = ""
                if conditions or order.metric:
                    joins += " JOIN runs ru ON ru.id = r.run_id"
                if order.metric:
                    versions = where.param(list(order_metric[order.metric].version_ids))
                    joins += (
                        " LEFT JOIN LATERAL (SELECT s.value_num FROM scores s"
                        f" WHERE {_PINNED_SCORE}{versions}::uuid[]) AND s.status = 'completed' LIMIT 1) sv ON true"
                    )
                if after is not None:
                    where.add(_after(where, key, order, after))
                for op, bound in window:
                    where.add(f"r.created_at {op} {where.param(bound)}")
                direction = "DESC" if order.descending else "ASC"
                nulls = " NULLS LAST" if order.key == "score" else ""
                ordered = key if walk else f"{key}{_NO_INDEX_ORDER}"
                sql = (
                    f"SELECT {RECORD_COLUMNS}, {key} AS sort_key FROM records r{joins} WHERE {where.sql()}"
                    f" ORDER BY {ordered} {direction}{nulls}, r.id {direction} LIMIT {where.param(limit)}"
                )
                return sql, where.args

            windowed = (
                order.key == "created_at"
                and run_id is None
                and not run_ids
                and testcase_id is None
                and search is not None
            )
            spread = await self._created_spread(conn) if windowed else None
            if spread is None:
                rows = await conn.fetch(*_flat(statement(size + 1)))
            else:
                start = after[0] if after is not None else None
                assert search is not None  # windowed implies a search
                rows = await _Windows(spread, order.descending, start).fetch(conn, statement, search, size + 1)
            page = rows[:size]
            scores = await _scores_of(conn, [r["id"] for r in page])
        token = ""
        if len(rows) > size:
            last = page[-1]
            key_value = last["sort_key"].isoformat() if order.key == "created_at" else last["sort_key"]
            token = cursor.encode({"o": order.signature, "k": key_value, "id": str(last["id"])})
        return pb.ListRecordsResponse(records=[record_view(r, scores[r["id"]]) for r in page], next_page_token=token)

    async def _created_spread(self, conn: Connection) -> _Spread | None:
        """records.created_at's histogram (the planner's, so as fresh as ANALYZE), re-read every few
        minutes, or every few seconds while there is none yet (a new database)."""
        ttl_s = _SPREAD_TTL_S if self._spread is not None else _NO_SPREAD_TTL_S
        if time.monotonic() - self._spread_read_at >= ttl_s:
            row = await conn.fetchrow(
                "SELECT (SELECT histogram_bounds::text::timestamptz[] FROM pg_stats WHERE schemaname = current_schema()"
                "  AND tablename = 'records' AND attname = 'created_at') AS bounds,"
                " (SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass) AS records"
            )
            self._spread = None
            if row is not None and row["bounds"] is not None and len(row["bounds"]) >= 3:
                self._spread = _Spread(row["bounds"], row["records"])
            self._spread_read_at = time.monotonic()
        return self._spread

    @staticmethod
    def _position(token: str, order: filters.Order) -> tuple[Any, uuid.UUID] | None:
        if not token:
            return None
        position = cursor.decode(token, ("o", "k", "id"))
        if position["o"] != order.signature:
            raise invalid("page_token was made for another order_by; pass the same order_by as its first page")
        last_id = cursor.uuid_of(position["id"])
        if order.key == "created_at":
            return cursor.timestamp(position["k"]), last_id
        return cursor.number(position["k"], nullable=order.key == "score"), last_id

    @staticmethod
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

    @staticmethod
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


def _after(where: Where, key: str, order: filters.Order, after: tuple[Any, uuid.UUID]) -> str:
    """The keyset condition: rows strictly after the last row of the previous page."""
    value, last_id = after
    op = "<" if order.descending else ">"
    if order.key != "score":
        return f"({key}, r.id) {op} ({where.param(value)}, {where.param(last_id)})"
    # Records without a value come last in either direction.
    if value is None:
        return f"{key} IS NULL AND r.id {op} {where.param(last_id)}"
    return f"(({key}, r.id) {op} ({where.param(value)}::float8, {where.param(last_id)}) OR {key} IS NULL)"


# created_at windows, in fractions of all records (as the histogram spreads them). The first one
# is small, and PostgreSQL may walk it newest first (cheap when matches are frequent: at most its
# ~20,000 records). A later one is sized to hold twice the rows the page still needs at the density
# found so far (at least 3x what is covered; 8x when nothing was found), and is read from the
# search's GIN bitmap AND-ed with the window's created_at range (the BRIN index records_created_brin,
# 0008_query_search.sql), then sorted: it costs the search's matches in the window, not its records.
_FIRST_WINDOW = 0.02
# A search PostgreSQL expects to match fewer than this share of all records is read through GIN.
_NARROW_SEARCH = 0.03
_WINDOW_MARGIN = 2.0
# A window spans at most this many times what the windows before it covered: PostgreSQL checks the
# score conditions of every search match in a bitmap window before sorting, so a window costs its
# matches, and a sparse first window must not send the next one over the whole history at once.
_MAX_GROWTH = 4.0
# Once a window would reach past this share of what is left, it takes all of it.
_LAST_WINDOW = 0.8
# Appended to the sort key in ORDER BY, so the order's index cannot serve it (same order, same rows).
_NO_INDEX_ORDER = " + interval '0'"
_SPREAD_TTL_S = 300.0
_NO_SPREAD_TTL_S = 5.0


class _Spread:
    """How records spread over created_at: a histogram's ascending bounds, each bucket holding about
    as many records. It only sizes windows: a stale or skewed one costs time, never rows."""

    def __init__(self, bounds: list[datetime], records: float) -> None:
        self._bounds = bounds
        self._buckets = len(bounds) - 1
        self.records = max(1.0, records)

    def below(self, t: datetime) -> float:
        """The fraction of records older than ``t``."""
        b = self._bounds
        if t <= b[0]:
            return 0.0
        if t >= b[-1]:
            return 1.0
        i = bisect_right(b, t) - 1
        width = (b[i + 1] - b[i]).total_seconds()
        within = (t - b[i]).total_seconds() / width if width > 0 else 0.0
        return (i + within) / self._buckets

    def at(self, fraction: float) -> datetime:
        """The time ``fraction`` of the records are older than (0 < fraction < 1)."""
        b = self._bounds
        scaled = fraction * self._buckets
        i = min(int(scaled), self._buckets - 1)
        return b[i] + (b[i + 1] - b[i]) * (scaled - i)


class _Statement(Protocol):
    def __call__(
        self, limit: int, window: Sequence[tuple[str, datetime]] = (), walk: bool = True
    ) -> tuple[str, list[Any]]: ...


class _Windows:
    """One page read as consecutive created_at windows in the order's direction, from the page's
    start (the cursor) on: each statement is the page's own with the window's bounds and a LIMIT of
    the rows still missing. The windows tile the time line (a bound belongs to the window before
    it), each returns its rows in the page's order, so their concatenation is exactly the
    unwindowed page.

    The first window is walked in the order's index (bitmap scans off): at most ~20,000 records,
    and enough when matches are frequent. When it does not fill the page, what comes next depends
    on how many records PostgreSQL expects the search alone to match. A search of many records (a
    phrase or words of which GIN can only say "both words are there", or very common words) is
    walked on from there, as one statement: its GIN bitmap would cost more than the walk. A
    narrower one reads windows from its GIN bitmap AND-ed with the window's created_at range, each
    sized from the density found so far; such a window costs the search's matches in it, not its
    records, and the last one is unbounded."""

    def __init__(self, spread: _Spread, descending: bool, start: datetime | None) -> None:
        self._spread = spread
        self._descending = descending
        # Positions are fractions of all records in walking order: 0 is where a first page starts.
        older = 0.0 if start is None else spread.below(start)
        self._start = (1.0 - older if start is not None else 0.0) if descending else older
        # Newest first, a window holds the times >= its bound; oldest first, <= its bound.
        self._within, self._past = (">=", "<") if descending else ("<=", ">")

    async def fetch(self, conn: Connection, statement: _Statement, search: str, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = []
        left = 1.0 - self._start  # what lies ahead of the page's start
        covered, extent = 0.0, _FIRST_WINDOW
        previous: datetime | None = None  # where the last window ended
        bitmaps = False
        # No parallel plans either: starting workers costs more than a bounded window saves.
        await conn.execute(
            "SELECT set_config('enable_bitmapscan', 'off', true),"
            " set_config('max_parallel_workers_per_gather', '0', true)"
        )
        while True:
            window: list[tuple[str, datetime]] = [] if previous is None else [(self._past, previous)]
            bound = None
            if (previous is None or bitmaps) and covered + extent < left * _LAST_WINDOW:
                position = self._start + covered + extent
                bound = self._spread.at(1.0 - position if self._descending else position)
                if previous is not None and not (bound < previous if self._descending else bound > previous):
                    bound = None  # the histogram cannot split further: the rest
            if bound is not None:
                window.append((self._within, bound))
            rows += await conn.fetch(*_flat(statement(limit - len(rows), window, walk=not bitmaps)))
            if len(rows) >= limit or bound is None:
                return rows
            if previous is None:
                expected = await _search_matches(conn, search)
                bitmaps = expected < _NARROW_SEARCH * self._spread.records
                await _next_statement(conn, bitmaps)
            else:
                await _next_statement(conn, True)
            covered += extent
            previous = bound
            missing = limit - len(rows)
            wanted = covered * missing / len(rows) * _WINDOW_MARGIN if rows else _MAX_GROWTH * covered
            extent = min(max(covered, wanted), _MAX_GROWTH * covered)


async def _search_matches(conn: Connection, search: str) -> float:
    """PostgreSQL's estimate of the records a search matches (what its GIN bitmap would hold)."""
    plan = await conn.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM records r WHERE r.search @@ websearch_to_tsquery('simple', $1)", search
    )
    if isinstance(plan, str):  # without the pool's json codec
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


async def _next_statement(conn: Connection, bitmaps: bool) -> None:
    """Bitmap scans back on or not, and what is left of the request's deadline for the next statement."""
    deadline = request_deadline.get()
    left_ms = 0 if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))
    await conn.execute(
        "SELECT set_config('enable_bitmapscan', $1, true), set_config('statement_timeout', $2, true)",
        "on" if bitmaps else "off",
        str(left_ms),
    )


def _flat(statement: tuple[str, list[Any]]) -> tuple[Any, ...]:
    sql, args = statement
    return (sql, *args)


async def _scores_of(conn: Connection, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[pb.ScoreView]]:
    scores: dict[uuid.UUID, list[pb.ScoreView]] = defaultdict(list)
    rows: list[asyncpg.Record] = await conn.fetch(_SCORES, record_ids) if record_ids else []
    for row in rows:
        scores[row["record_id"]].append(score_view(row))
    return scores
