"""ListRecords (one run's records, or the project-wide Records page) and GetRecord.

The project-wide page leaves playground tries' records out (a try's own run lists them).

Filters become AND-ed conditions on ``records r``; a score condition is an EXISTS on the score of
the metric version the record's run pins (the unique (record_id, metric_version_id) index), the
search is the GIN-indexed tsvector column records.search (0006_query_reads.sql). Pages are keyset pages on
(sort key, id), so rows arriving meanwhile never shift a page.
"""

from __future__ import annotations

import time
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query import filters, metrics, search_keys
from services.query.db import Reader, Where
from services.query.views import record_view, score_view
from shared.db.pool import Connection
from shared.edge import page_tokens
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found

# The keys of records_search_keys (0010, 0011): a record's words, adjacent word pairs and time buckets.
_SEARCH_KEYS = "record_search_keys(r.search, r.created_at)"
# Every column of a record but its search vector (records.search, 0006_query_reads.sql).
RECORD_COLUMNS = (
    "r.id, r.run_id, r.testcase_id, r.trial, r.status, r.inputs, r.expected, r.outputs, r.metadata, r.error,"
    " r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.created_at, r.tags"
)

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
        self._rates = search_keys.Rates()

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
        after = self._position(request, order)

        async with self._reader.snapshot() as conn:
            project_id = await self._project(conn, run_id, project_id)
            await self._check_runs(conn, project_id, run_ids)
            condition_metrics = await metrics.resolve(
                conn, project_id, [c.metric for c in conditions], "score condition"
            )
            order_metric = await metrics.resolve(conn, project_id, [order.metric] if order.metric else [], "order_by")

            project_wide = run_id is None and not run_ids
            # Across a project, a search decides the plan when it comes with score conditions by
            # created_at (matches first, or a walk) or with an order by a metric's value (its
            # matches sorted, or the metric's scores walked in value order).
            by_created = order.key == "created_at" and bool(conditions)
            estimate = _Estimate(0.0, 0.0, _NO_TERMS)
            if project_wide and search is not None and not testcase_id and (by_created or order.key == "score"):
                estimate = await _estimate(conn, search)
            matches = estimate.matches
            matches_first = project_wide and by_created and search is not None and not testcase_id
            # An AND of words and phrases, or an OR of words, is read by its keys in windows of time
            # (search_keys.py), unless so common that a walk fills the page sooner. Any other
            # search by its GIN bitmap (matches first) or by the walk.
            in_windows = matches_first and bool(estimate.terms) and estimate.share <= search_keys.SHARE_MAX
            scores_first = (
                project_wide
                and order.key == "score"
                and not testcase_id
                and (search is None or matches > MATCHES_FIRST_MAX)
                and bool(order_metric[order.metric].version_ids)
            )
            if in_windows:
                # A window's time tests cannot be estimated, so the planner expects a few of its
                # matches where there are thousands. With "4" matches it planned a nested loop over
                # every run of the project (2,847 matches × 1,863 runs: 470 ms); without sequential
                # scans the runs are read by primary key. No workers either, for ~10 ms of work.
                await conn.execute(
                    "SELECT set_config('enable_seqscan', 'off', true),"
                    " set_config('max_parallel_workers_per_gather', '0', true)"
                )
            elif matches_first:
                matches_first = matches <= MATCHES_FIRST_MAX
                if not matches_first:
                    # Many matches: walk records_created in the page's order, testing each record,
                    # until the page is full. The planner, misled by its estimate of the conditions,
                    # may otherwise fetch and sort every match (200 ms for 58,000).
                    await conn.execute("SELECT set_config('enable_bitmapscan', 'off', true)")

            def statement(
                limit: int,
                window: Sequence[tuple[str, datetime]] = (),
                tail: bool = False,
                keys: tuple[search_keys.Terms, list[str] | None] | None = None,
            ) -> tuple[str, list[Any]]:
                """The page's SELECT (LIMIT ``limit``), within ``window`` ((operator, time) tests of
                created_at). ``tail``: in an order by a metric's value, only the records without a
                value (they come last, by id). ``keys``: the search's terms and the window's buckets
                (None: every bucket) in records_search_keys; every other test is then written so
                that no other index can serve it, so the bitmap is that index's alone and exact."""
                by_value = scores_first and not tail
                where = Where()
                record_filters: list[str] = []  # on records r
                if run_id is not None:
                    record_filters.append(f"r.run_id = {where.param(run_id)}")
                if run_ids:
                    record_filters.append(f"r.run_id = ANY({where.param(run_ids)}::uuid[])")
                if project_wide and not matches_first and not by_value:
                    record_filters.append(
                        f"r.run_id IN (SELECT id FROM runs WHERE project_id = {where.param(project_id)}"
                        " AND NOT playground_try)"
                    )
                if testcase_id is not None:
                    record_filters.append(f"r.testcase_id = {where.param(testcase_id)}")
                if statuses:
                    record_filters.append(f"r.status = ANY({where.param(statuses)}::text[])")
                if request.tags:
                    record_filters.append(f"r.tags @> {where.param(list(request.tags))}::text[]")
                if search is not None and (keys is None or not keys[0].exact):
                    match = "ts_match_vq(r.search, {})" if keys is not None else "r.search @@ {}"
                    record_filters.append(match.format(f"websearch_to_tsquery('simple', {where.param(search)})"))
                if keys is not None:
                    terms, buckets = keys
                    if terms.keys:
                        record_filters.append(f"{_SEARCH_KEYS} @> {where.param(terms.keys)}::text[]")
                    if terms.any:
                        record_filters.append(f"{_SEARCH_KEYS} && {where.param(terms.any)}::text[]")
                    if buckets is not None:
                        record_filters.append(f"{_SEARCH_KEYS} && {where.param(buckets)}::text[]")
                created = "r.created_at + interval '0'" if keys is not None else "r.created_at"
                if tail:
                    record_filters.append("sv.value_num IS NULL")
                    if after is not None and after[0] is None:  # else the page starts with the tail
                        record_filters.append(f"r.id {'<' if order.descending else '>'} {where.param(after[1])}")
                elif after is not None and not by_value:  # a walk in value order starts after it itself
                    record_filters.append(_after(where, f"({created})" if keys is not None else key, order, after))
                for op, bound in window:
                    record_filters.append(f"{created} {op} {where.param(bound)}")
                # Score conditions are tested on the id the rows come from, before reading the record.
                record = "m.id" if matches_first else "w.record_id" if by_value else "r.id"
                tests = [_condition(where, c, condition_metrics[c.metric].version_ids, record) for c in conditions]
                if by_value:
                    walked = order_metric[order.metric].version_ids
                    sql = _scores_first(where, record_filters + tests, walked, project_id, direction, after, limit)
                    return sql, where.args
                if matches_first:
                    project = where.param(project_id)
                    return _matches_first(record_filters, tests, project, direction, where.param(limit)), where.args
                joins = ""
                if conditions or order.metric:
                    joins += " JOIN runs ru ON ru.id = r.run_id"
                if order.metric:
                    pinned = _pinned(where, order_metric[order.metric].version_ids)
                    joins += (
                        " LEFT JOIN LATERAL (SELECT s.value_num FROM scores s WHERE s.record_id = r.id"
                        f" AND {pinned} AND s.status = 'completed' LIMIT 1) sv ON true"
                    )
                nulls = " NULLS LAST" if order.key == "score" else ""
                ordered = f"r.id {direction}" if tail else f"{key} {direction}{nulls}, r.id {direction}"
                sql = (
                    f"SELECT {RECORD_COLUMNS}, {key} AS sort_key FROM records r{joins}"
                    f" WHERE {' AND '.join(record_filters + tests) or 'true'}"
                    f" ORDER BY {ordered} LIMIT {where.param(limit)}"
                )
                return sql, where.args

            key = _SORT_KEYS[order.key]
            direction = "DESC" if order.descending else "ASC"
            bound = None
            if matches_first and not in_windows and matches >= _WINDOWED_MATCHES:
                spread = await self._created_spread(conn)
                if spread is not None:
                    bound = spread.window(order.descending, after[0] if after is not None else None)
            if in_windows:
                others = (project_id, tuple(conditions), tuple(statuses), tuple(request.tags))
                rows = await self._in_windows(conn, statement, estimate, order.descending, after, size, others)
            elif scores_first:
                # The records with a value first, in value order; then those without, by id.
                rows = []
                if after is None or after[0] is not None:
                    sql, args = statement(size + 1)
                    rows = await conn.fetch(sql, *args)
                if len(rows) <= size:
                    sql, args = statement(size + 1 - len(rows), tail=True)
                    rows += await conn.fetch(sql, *args)
            elif bound is None:
                sql, args = statement(size + 1)
                rows = await conn.fetch(sql, *args)
            else:
                # The newest (oldest) records first, then the rest: the windows tile the time line
                # (the bound belongs to the first), so the two parts are the page in its order.
                within, past = (">=", "<") if order.descending else ("<=", ">")
                sql, args = statement(size + 1, [(within, bound)])
                rows = await conn.fetch(sql, *args)
                if len(rows) <= size:
                    sql, args = statement(size + 1 - len(rows), [(past, bound)])
                    rows += await conn.fetch(sql, *args)
            page = rows[:size]
            scores = await _scores_of(conn, [r["id"] for r in page])
        token = ""
        if len(rows) > size:
            last = page[-1]
            key_value = last["sort_key"].isoformat() if order.key == "created_at" else last["sort_key"]
            token = page_tokens.encode({"k": key_value, "id": str(last["id"])}, request)
        return pb.ListRecordsResponse(records=[record_view(r, scores[r["id"]]) for r in page], next_page_token=token)

    async def _in_windows(
        self,
        conn: Connection,
        statement: Callable[..., tuple[str, list[Any]]],
        estimate: _Estimate,
        descending: bool,
        after: tuple[Any, uuid.UUID] | None,
        size: int,
        others: Hashable,
    ) -> list[asyncpg.Record]:
        """A search's page, read by its keys in windows of time from its start outward until full: the
        first sized to hold ~search_keys.WINDOW_MATCHES matches, or what the page needs at the rate
        the ``others`` filters last held (search_keys.first_step, Rates), each next one to what the
        page still needs at the rate the windows so far gave rows (search_keys.next_step), the last
        unbounded.
        The windows tile the time line and each is read in the page's order, so the rows are the
        page. A window's buckets cover it up to the oldest (newest) record of this snapshot, so
        every match within it is in the bitmap."""
        ends = await conn.fetchrow("SELECT min(created_at) AS oldest, max(created_at) AS newest FROM records")
        assert ends is not None
        if ends["oldest"] is None:
            return []
        start = after[0] if after is not None else None
        near = start or (ends["newest"] if descending else ends["oldest"])
        far = ends["oldest"] if descending else ends["newest"]
        inside, outside = (">=", "<") if descending else ("<=", ">")
        spread = await self._created_spread(conn)
        matches = estimate.share * estimate.records
        first = step = search_keys.first_step(matches, size + 1, self._rates.get(others, time.monotonic()))
        # where the page starts, as the share of the records older than that
        edge = 1.0 if descending else 0.0
        if spread is not None and start is not None:
            edge = spread.below(start)
        near_bound: datetime | None = None
        rows: list[asyncpg.Record] = []
        read, read_rows = 0.0, 0  # the share of the records whole windows covered, and their rows
        while True:
            edge = edge - step if descending else edge + step
            bound = None  # the last window: everything beyond the previous one
            if spread is not None and (edge if descending else 1.0 - edge) >= _MIN_STEP:
                bound = spread.at(edge)
            window = [(outside, near_bound)] if near_bound is not None else []
            if bound is not None:
                window.append((inside, bound))
            sql, args = statement(
                size + 1 - len(rows), window, keys=(estimate.terms, search_keys.buckets(near, bound or far))
            )
            found = await conn.fetch(sql, *args)
            rows += found
            if len(rows) > size or bound is None:
                # A window that filled the page was read only in part: its rows say nothing of a rate.
                self._rates.note(others, read_rows, read * matches, time.monotonic())
                return rows
            read, read_rows = read + step, read_rows + len(found)
            step = search_keys.next_step(step, size + 1 - len(rows), len(found), first)
            near = near_bound = bound

    async def _created_spread(self, conn: Connection) -> _Spread | None:
        """records.created_at's histogram (the planner's, as fresh as ANALYZE), re-read every few
        minutes, or every few seconds while there is none yet (a new database)."""
        ttl_s = _SPREAD_TTL_S if self._spread is not None else _NO_SPREAD_TTL_S
        if time.monotonic() - self._spread_read_at >= ttl_s:
            bounds = await conn.fetchval(
                "SELECT histogram_bounds::text::timestamptz[] FROM pg_stats"
                " WHERE schemaname = current_schema() AND tablename = 'records' AND attname = 'created_at'"
            )
            self._spread = _Spread(bounds) if bounds is not None and len(bounds) >= 3 else None
            self._spread_read_at = time.monotonic()
        return self._spread

    @staticmethod
    def _position(request: pb.ListRecordsRequest, order: filters.Order) -> tuple[Any, uuid.UUID] | None:
        if not request.page_token:
            return None
        position = page_tokens.decode(request.page_token, ("k", "id"), request)
        last_id = page_tokens.uuid_of(position["id"])
        if order.key == "created_at":
            return page_tokens.timestamp(position["k"]), last_id
        return page_tokens.number(position["k"], nullable=order.key == "score"), last_id

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


def _condition(where: Where, c: filters.Condition, version_ids: Sequence[uuid.UUID], record: str) -> str:
    """A score condition on the record whose id is ``record`` (runs ru joined)."""
    test = _STATE_TESTS.get(c.op) or (
        f"s.status = 'completed' AND s.value_num {_VALUE_TESTS[c.op]} {where.param(c.value)}::float8"
    )
    pinned = _pinned(where, version_ids)
    return f"EXISTS (SELECT 1 FROM scores s WHERE s.record_id = {record} AND {pinned} AND {test})"


def _pinned(where: Where, version_ids: Sequence[uuid.UUID]) -> str:
    """The score a condition or an order reads (scores s): the record's score for the metric
    version its run pins (runs ru), among the versions of the metric asked for. One version is
    compared with `=`: an array in the index condition costs each probe ~0.5 µs to prepare (a
    page with 1,000 probes: 8.9 -> 7.7 ms)."""
    if len(version_ids) == 1:
        asked = f"= {where.param(version_ids[0])}"
    else:
        asked = f"= ANY({where.param(list(version_ids))}::uuid[])"
    return f"s.metric_version_id = ANY(ru.metric_version_ids) AND s.metric_version_id {asked}"


# A project-wide search with score conditions, newest (or oldest) first, is read "matches first"
# when PostgreSQL expects the search to match at most this many records (in any project).
MATCHES_FIRST_MAX = 20_000


def _matches_first(record_filters: list[str], tests: list[str], project: str, direction: str, limit: str) -> str:
    """The page of a search whose matches are few, but whose score conditions hold for few of them.

    Walking records_created newest first would read every record until the page is full, and a
    common pair of words with a rare condition meets the page only after 100,000s of records. So
    the search's matches come first, from its GIN bitmap, as narrow rows (id, run, time) sorted in
    the page's order (the sort key is an expression, so no index walk can serve it); the score
    conditions are probed in that order only until the page is full; and only the page's records
    are read whole. The rows and their order are the plain statement's."""
    return (
        f"SELECT {RECORD_COLUMNS}, p.k AS sort_key FROM ("
        " SELECT m.id, m.k FROM ("
        "  SELECT r.id, r.run_id, r.created_at + interval '0' AS k FROM records r"
        f"  WHERE {' AND '.join(record_filters)} ORDER BY 3 {direction}, 1 {direction} OFFSET 0"
        f" ) m JOIN runs ru ON ru.id = m.run_id AND ru.project_id = {project} AND NOT ru.playground_try"
        f" WHERE {' AND '.join(tests)} ORDER BY m.k {direction}, m.id {direction} LIMIT {limit}"
        f") p JOIN records r ON r.id = p.id ORDER BY p.k {direction}, p.id {direction}"
    )


def _scores_first(
    where: Where,
    filters: list[str],
    versions: Sequence[uuid.UUID],
    project_id: uuid.UUID,
    direction: str,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> str:
    """The records with a value of a metric, across a project, in value order (ties by id).

    Sorting every record of a project by its score took ~5 s on 1M records. Instead each version of
    the metric is walked in value order in scores_by_value (0009), the walks are merged (a Merge
    Append), a score counts only if its run pins its version (and is in the project), and the
    record's own filters and score conditions are tested on each until the page is full. The rows
    and their order are the plain statement's, but for the records without a value: the caller
    reads those next (``tail``)."""
    op = "<" if direction == "DESC" else ">"
    keyset = ""
    if after is not None:
        keyset = f" AND (s.value_num, s.record_id) {op} ({where.param(after[0])}::float8, {where.param(after[1])})"
    walks = " UNION ALL ".join(
        "(SELECT s.record_id, s.value_num, s.run_id, s.metric_version_id FROM scores s"
        f" WHERE s.metric_version_id = {where.param(v)} AND s.status = 'completed' AND s.value_num IS NOT NULL{keyset}"
        f" ORDER BY s.value_num {direction}, s.record_id {direction})"
        for v in versions
    )
    tested = f" WHERE {' AND '.join(filters)}" if filters else ""
    return (
        f"SELECT {RECORD_COLUMNS}, w.value_num AS sort_key FROM ({walks}) w"
        f" JOIN runs ru ON ru.id = w.run_id AND ru.project_id = {where.param(project_id)}"
        " AND w.metric_version_id = ANY(ru.metric_version_ids) AND NOT ru.playground_try"
        f" JOIN records r ON r.id = w.record_id{tested}"
        f" ORDER BY w.value_num {direction}, w.record_id {direction} LIMIT {where.param(limit)}"
    )


# A matches-first page is read from the newest (oldest) 40% of the records after its start
# first, then from the rest when it is not full: a window's matches come from the GIN bitmap AND-ed
# with the window's pages in records_created_brin (0007), so it fetches only its own matches.
_FIRST_WINDOW = 0.4
# Fewer matches than this are fetched at once. A window saves the heap fetch of the matches it
# leaves out (~1.5 µs each, ~60% of them), but costs a scan of the whole BRIN index (~4 ms) and,
# when it does not fill the page, a second statement that repeats the GIN and BRIN scans. A search
# with 4,986 matches took 47 ms a call in two windows (21 + 15 ms of SQL), 31 ms at once.
_WINDOWED_MATCHES = 6_000
# No window when less than this share of the records lies beyond the first one.
_MIN_REST = 0.1
# No further keys window when less than this share of the records lies beyond it.
_MIN_STEP = 0.02
_SPREAD_TTL_S = 300.0
_NO_SPREAD_TTL_S = 5.0


class _Spread:
    """How records spread over created_at: a histogram's ascending bounds, each bucket holding about
    as many records. It only sizes windows: a stale or skewed one costs time, never rows."""

    def __init__(self, bounds: list[datetime]) -> None:
        self._bounds = bounds
        self._buckets = len(bounds) - 1

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

    def window(self, descending: bool, start: datetime | None) -> datetime | None:
        """Where the first window of a page starting at ``start`` (None: at the newest, or oldest,
        record) ends; None when what lies ahead is too little to split."""
        if descending:
            ahead = self.below(start) if start is not None else 1.0
            end = ahead - _FIRST_WINDOW
            return self.at(end) if end >= _MIN_REST else None
        behind = self.below(start) if start is not None else 0.0
        end = behind + _FIRST_WINDOW
        return self.at(end) if end <= 1.0 - _MIN_REST else None


_NO_TERMS = search_keys.Terms([], False)

# How many of the newest records _estimate tests.
_SAMPLE = 2000


@dataclass(frozen=True)
class _Estimate:
    """What the newest records say of a search: about how many records its GIN bitmap holds
    (``matches``), the share of the records it matches itself (``share``, phrases checked), the
    records there are, and its keys in records_search_keys (search_keys.terms)."""

    matches: float
    share: float
    terms: search_keys.Terms
    records: float = 0.0


async def _estimate(conn: Connection, search: str) -> _Estimate:
    """How often the search matches among the newest records, scaled to the table. The planner's
    own estimate multiplies the words' frequencies as if they were independent, which misses words
    that come together (every refusal says "can't help": 5.8% of the records, not the 1.3% it
    expects). For ``matches`` a phrase counts as all of its words: GIN on records.search cannot
    check their positions, so its bitmap holds every record with all of them."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE s.search @@ q.words) AS hits, count(*) FILTER (WHERE s.search @@ q.q) AS exact,"
        " count(*) AS sampled, q.q::text AS query,"
        " (SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass) AS records"
        " FROM (SELECT r.search FROM records r ORDER BY r.created_at DESC LIMIT $2) s,"
        " (SELECT q, regexp_replace(q::text, '<[0-9]+>|<->', '&', 'g')::tsquery AS words"
        "  FROM websearch_to_tsquery('simple', $1) q) q GROUP BY q.q",
        search,
        _SAMPLE,
    )
    if row is None:  # no records at all
        return _Estimate(0.0, 0.0, _NO_TERMS)
    sampled = int(row["sampled"])
    records = max(float(row["records"]), sampled)
    share = float(row["exact"]) / sampled
    terms = search_keys.terms(row["query"])
    if sampled < _SAMPLE:  # every record was tested
        return _Estimate(float(row["hits"]), share, terms, sampled)
    return _Estimate(float(row["hits"]) / sampled * records, share, terms, records)


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


async def _scores_of(conn: Connection, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[pb.ScoreView]]:
    scores: dict[uuid.UUID, list[pb.ScoreView]] = defaultdict(list)
    rows: list[asyncpg.Record] = await conn.fetch(_SCORES, record_ids) if record_ids else []
    for row in rows:
        scores[row["record_id"]].append(score_view(row))
    return scores
