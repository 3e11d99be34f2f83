"""ExportRun: every record of a run as CSV or JSONL, streamed.

PostgreSQL writes the rows itself (``COPY (query) TO STDOUT``): CSV quoting and JSON are done by
the server, Python only forwards chunks, so an export runs at the speed of the database and memory
stays flat (a bounded queue between the COPY and the response applies backpressure).

One statement per export, one row per record: the records of the run, and per pinned metric one
LEFT JOIN of its scores (a hash join each, then one sort by created_at, id). No per-record lookup
or aggregate, and the JSON lines are concatenated from pieces that are JSON text already. The
former per-record lateral aggregates and json_build_object took ~1.8x the database time
(docs/query-performance.md, ExportRun).

CSV: one row per record (LF line ends); inputs, expected, outputs, metadata and tags as JSON;
then per pinned metric three columns: "<metric>" (the value), "<metric> passed" and
"<metric> reasoning" (for an errored score: "errored: <error>"). Text cells a spreadsheet would run
as a formula get a leading apostrophe — the rule of shared.spreadsheet, applied in SQL.
JSONL: one compact JSON object per record, its scores keyed by metric label (a missing score has
no entry), and the steps its call took (``spans``, as GetRecord gives them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import asyncpg
from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader, work_mem
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.spans import STORED_ONLY
from shared.spreadsheet import CSV_CONTENT_TYPE, FORMULA_STARTS, csv_bytes, escape_formula, invisible_leaders

JSONL_CONTENT_TYPE = "application/x-ndjson"
FORMATS = ("csv", "jsonl")
CHUNK_BYTES = 256 * 1024
# Chunks held between the database and a slow reader.
QUEUE_CHUNKS = 8
# work_mem of an export's transaction (PostgreSQL's default is 4 MB).
EXPORT_WORK_MEM = "32MB"

RECORD_COLUMNS = (
    "record_id",
    "testcase_id",
    "trial",
    "status",
    "error",
    "created_at",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "tags",
    "inputs",
    "expected",
    "outputs",
    "metadata",
)


def _score_joins(metrics: int) -> str:
    """s1 … sN: the record's score of each pinned version ($2, in pin order), or NULL. One LEFT JOIN
    per version, each a hash join over ``scores_run_metric (run_id, metric_version_id)``: no lookup
    per record and no aggregate (building per-record arrays or JSON objects was most of the cost)."""
    return "".join(
        f" LEFT JOIN scores s{i} ON s{i}.record_id = r.id AND s{i}.run_id = $1"
        f" AND s{i}.metric_version_id = ($2::uuid[])[{i}]"
        for i in range(1, metrics + 1)
    )


def _rows(cells: Sequence[str], metrics: int, arrays: Sequence[str], joins: str = "") -> str:
    """The run's records in export order. ``arrays``, the per-metric parameters, must hold one item per
    metric; the check also keeps them referenced when the run pins no metric (PostgreSQL rejects
    parameters a statement does not use). ``joins``: more tables the cells read."""
    joins = _score_joins(metrics) + joins
    checks = "".join(f" AND cardinality({a}) = {metrics}" for a in arrays)
    return f"SELECT {', '.join(cells)} FROM records r{joins} WHERE r.run_id = $1{checks} ORDER BY r.created_at, r.id"


def _text(expr: str) -> str:
    """A text cell, escaped when a spreadsheet would run it, as ``escape_formula`` decides ($3: the
    formula starts, $4: the invisible characters skipped before them)."""
    return (
        f"CASE WHEN left({expr}, 1) IN (E'\\t', E'\\r') OR left(ltrim({expr}, $4), 1) = ANY($3::text[])"
        f" THEN '''' || {expr} ELSE {expr} END"
    )


def csv_query(metrics: int) -> str:
    """The CSV rows of a run: $1 the run, $2 its pinned metric versions, $3 and $4 what
    ``_text`` escapes."""
    score_cells = [
        cell
        for i in range(1, metrics + 1)
        for cell in (
            f"CASE WHEN s{i}.status = 'completed' THEN s{i}.value::text END",
            f"CASE WHEN s{i}.status = 'completed' THEN s{i}.passed::text END",
            f"CASE WHEN s{i}.status <> 'pending' THEN {_text(_reasoning(i))} END",
        )
    ]
    cells = [
        "r.id",
        "r.testcase_id",
        "r.trial",
        "r.status",
        _text("r.error"),
        "to_jsonb(r.created_at) #>> '{}'",
        _LATENCY,
        "r.prompt_tokens",
        "r.completion_tokens",
        "r.cost_usd",
        _text("to_jsonb(r.tags)::text"),
        "r.inputs::text",
        "r.expected::text",
        "r.outputs::text",
        "r.metadata::text",
        *score_cells,
    ]
    return _rows(cells, metrics, ["$2::uuid[]"])


# Latency to the microsecond (the measured double carries noise digits): 45, 3.142.
_LATENCY = "trim_scale(round(r.latency_ms::numeric, 3))"


def _reasoning(i: int) -> str:
    return f"CASE WHEN s{i}.status = 'errored' THEN 'errored: ' || s{i}.error ELSE s{i}.reasoning END"


def _quoted(expr: str) -> str:
    """A JSON string of a value whose text needs no escaping (a uuid, a status): cheaper than to_json."""
    return f"'\"' || {expr} || '\"'"


def _json(pairs: Sequence[tuple[str, str]], prefix: str = "") -> str:
    """A JSON object concatenated (one concat, one allocation) from (key, SQL expression of its
    JSON text) pairs. concat reads NULL as nothing: an expression must not be NULL."""
    parts = [f"'{prefix + '{' if n == 0 else ','}\"{key}\":', {expr}" for n, (key, expr) in enumerate(pairs)]
    return f"concat({', '.join(parts)}, '}}')"


def jsonl_query(metrics: int) -> str:
    """The JSON lines of a run: $1 the run, $2 its pinned metric versions, $3 their labels as JSON
    strings. Each line is one text concatenated from pieces that are JSON text already (less than
    half the cost of json_build_object). concat reads NULL as nothing, so nullable values are
    coalesced to 'null'; only a missing score's entry is NULL as a whole, and concat_ws leaves it
    out."""
    entries = [
        f"CASE WHEN s{i}.record_id IS NOT NULL THEN ($3::text[])[{i}] || "
        + _json(
            [
                ("metric_version_id", _quoted(f"s{i}.metric_version_id")),
                ("status", _quoted(f"s{i}.status")),
                ("value", f"coalesce(s{i}.value::text, 'null')"),
                ("passed", f"coalesce(s{i}.passed::text, 'null')"),
                ("reasoning", f"to_json(s{i}.reasoning)"),
                ("error", f"to_json(s{i}.error)"),
            ],
            prefix=":",
        )
        + " END"
        for i in range(1, metrics + 1)
    ]
    scores = f"'{{' || concat_ws(',', {', '.join(entries)}) || '}}'" if entries else "'{}'"
    line = _json(
        [
            ("id", _quoted("r.id")),
            ("run_id", _quoted("r.run_id")),
            ("testcase_id", _quoted("r.testcase_id")),
            ("trial", "r.trial::text"),
            ("status", _quoted("r.status")),
            ("error", "to_json(r.error)"),
            ("created_at", "to_json(r.created_at)"),
            ("latency_ms", f"to_json({_LATENCY})"),
            ("prompt_tokens", "r.prompt_tokens::text"),
            ("completion_tokens", "r.completion_tokens::text"),
            ("cost_usd", "coalesce(to_json(r.cost_usd)::text, 'null')"),
            ("tags", "to_json(r.tags)"),
            ("inputs", "r.inputs::text"),
            ("expected", "r.expected::text"),
            ("outputs", "r.outputs::text"),
            ("metadata", "r.metadata::text"),
            ("scores", scores),
            ("spans", STEPS_JSON.format(steps="coalesce(x.spans, c.spans)")),
        ]
    )
    return _rows([line], metrics, ["$2::uuid[]", "$3::text[]"], _STEPS_JOINS)


# A record's steps as JSON text, as GetRecord gives them (without what is kept with each for
# GetRunSteps, shared.spans.STORED_ONLY), in their order; [] when it has none.
STEPS_JSON = (
    "CASE WHEN {steps} IS NULL THEN '[]' ELSE (SELECT jsonb_agg(e - '"
    + "' - '".join(STORED_ONLY)
    + "'::text ORDER BY o) FROM jsonb_array_elements({steps}) WITH ORDINALITY AS t(e, o))::text END"
)
# Where a record's steps are: with it (record_spans), or, in a monitor's run, with the call it is
# (call_spans, by testcase_id in the run's project). A hash join each: most records hold none.
_STEPS_JOINS = (
    " LEFT JOIN record_spans x ON x.record_id = r.id"
    " LEFT JOIN call_spans c ON c.call_id = r.testcase_id"
    " AND c.project_id = (SELECT project_id FROM runs WHERE id = $1 AND monitor_id IS NOT NULL)"
)


# What a paged export reads at a time (ExportRecords, ExportCalls).
EXPORT_PAGE = 1000


def paged_export(fmt: str, limit: int) -> tuple[str, int]:
    """A paged export's format (csv by default) and the size of its pages, once both are checked."""
    chosen = fmt.lower() or "csv"
    if chosen not in FORMATS:
        raise invalid(f"format must be csv or jsonl, got {fmt!r}")
    if limit < 0:
        raise invalid("limit must not be negative")
    return chosen, min(limit, EXPORT_PAGE) if limit else EXPORT_PAGE


class RowPage(Protocol):
    """A page of a list read as database rows, with the token of the next (empty: the last)."""

    @property
    def rows(self) -> list[asyncpg.Record]: ...

    @property
    def token(self) -> str: ...


P = TypeVar("P", bound=RowPage)


async def page_chunks(
    page: P, next_page: Callable[[str], Awaitable[P]], write: Callable[[P, list[asyncpg.Record]], bytes], limit: int
) -> AsyncIterator[pb.ExportRunChunk]:
    """An export of a list read a page at a time (ExportRecords, ExportCalls): each page's rows
    written out as one chunk, at most ``limit`` rows in all (0: every one), the next page read only
    once the chunk before it was taken — memory holds one page."""
    left = limit or None
    while True:
        rows = page.rows[:left] if left is not None else page.rows
        data = write(page, rows)
        if data:
            yield pb.ExportRunChunk(data=data)
        if left is not None:
            left -= len(rows)
        if not page.token or left == 0:
            return
        page = await next_page(page.token)


def metric_labels(names: Sequence[str], metric_ids: Sequence[str]) -> list[str]:
    """Column labels of the pinned metrics: the name, or "name [id prefix]" when two share it."""
    return [f"{n} [{m[:8]}]" if names.count(n) > 1 else n for n, m in zip(names, metric_ids, strict=True)]


def metric_columns(labels: Sequence[str], *suffixes: str) -> list[str]:
    """Each metric's columns: its label, then the label with each suffix ("passed", "reasoning" …)."""
    return [c for label in labels for c in (label, *(f"{label} {s}" for s in suffixes))]


def run_columns(labels: Sequence[str]) -> list[str]:
    """ExportRun's columns: the record's, then value, passed and reasoning per pinned metric."""
    return [*RECORD_COLUMNS, *metric_columns(labels, "passed", "reasoning")]


def csv_header(labels: Sequence[str]) -> list[str]:
    return [escape_formula(c) for c in run_columns(labels)]


def first_chunk(fmt: str, columns: Sequence[str]) -> pb.ExportRunChunk:
    """An export's first chunk: its content type, and for CSV its header row (escaped cells)."""
    if fmt != "csv":
        return pb.ExportRunChunk(content_type=JSONL_CONTENT_TYPE)
    header = [escape_formula(c) for c in columns]
    return pb.ExportRunChunk(content_type=CSV_CONTENT_TYPE, data=csv_bytes([header], "\n"))


class ExportReads:
    """ExportRun."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def export_run(self, request: pb.ExportRunRequest) -> AsyncIterator[pb.ExportRunChunk]:
        run_id = parse_uuid(request.run_id, "run_id")
        fmt = request.format.lower() or "csv"
        if fmt not in FORMATS:
            raise invalid(f"format must be csv or jsonl, got {request.format!r}")
        async with self._reader.stream() as conn:
            # The score joins' hash tables (~10 MB per pinned metric of a 100k-record run) in memory:
            # at the default 4 MB they spill, and so do the wide record rows probing them.
            await work_mem(conn, EXPORT_WORK_MEM)
            pinned = await conn.fetch(
                "SELECT v.id, v.metric_id, m.name FROM runs r"
                " CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
                " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
                " WHERE r.id = $1 ORDER BY p.n",
                run_id,
            )
            if not pinned and not await conn.fetchval("SELECT 1 FROM runs WHERE id = $1", run_id):
                raise not_found(f"run {request.run_id} does not exist")
            versions: list[uuid.UUID] = [p["id"] for p in pinned]
            labels = metric_labels([p["name"] for p in pinned], [str(p["metric_id"]) for p in pinned])
            yield first_chunk(fmt, run_columns(labels))
            if fmt == "csv":
                formulas = [sorted(FORMULA_STARTS), invisible_leaders()]
                rows = _copy(conn, csv_query(len(versions)), [run_id, versions, *formulas])
            else:
                # One text column per line; JSON text holds no control characters, so with these
                # two bytes as quote and delimiter the CSV format never quotes it: bare lines.
                keys = [json.dumps(label, ensure_ascii=False) for label in labels]
                rows = _copy(conn, jsonl_query(len(versions)), [run_id, versions, keys], quote="\x01", delimiter="\x02")
            async for data in rows:
                yield pb.ExportRunChunk(data=data)


async def _copy(
    conn: Connection, query: str, args: list[object], *, quote: str = '"', delimiter: str = ","
) -> AsyncIterator[bytes]:
    """The output of ``COPY (query) TO STDOUT`` in CSV format, in chunks of about CHUNK_BYTES. The
    pieces asyncpg hands over (~30 KB each) are joined where they arrive, so only whole chunks
    pass the bounded queue."""
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
    buffer = bytearray()

    async def put(data: bytes) -> None:
        buffer.extend(data)
        if len(buffer) >= CHUNK_BYTES:
            chunk = bytes(buffer)
            buffer.clear()
            await chunks.put(chunk)

    async def produce() -> None:
        try:
            await conn.copy_from_query(query, *args, output=put, format="csv", quote=quote, delimiter=delimiter)
            if buffer:
                await chunks.put(bytes(buffer))
        finally:
            await chunks.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (chunk := await chunks.get()) is not None:
            yield chunk
        await producer  # raises what the COPY raised
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
