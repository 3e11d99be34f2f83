"""ExportRun: every record of a run as CSV or JSONL, streamed.

PostgreSQL writes the rows itself (``COPY (query) TO STDOUT``): CSV quoting and JSON are done by
the server, Python only forwards chunks, so an export runs at the speed of the database and memory
stays flat (a bounded queue between the COPY and the response applies backpressure).

CSV: one row per record (LF line ends); inputs, expected, outputs, metadata and tags as JSON;
then per pinned metric three columns: "<metric>" (the value), "<metric> passed" and
"<metric> reasoning" (for an errored score: "errored: <error>"). Text cells a spreadsheet would run
as a formula get a leading apostrophe — the rule of shared.spreadsheet, applied in SQL.
JSONL: one JSON object per record, its scores keyed by metric label.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader
from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.spreadsheet import CSV_CONTENT_TYPE, FORMULA_STARTS, csv_bytes, escape_formula

JSONL_CONTENT_TYPE = "application/x-ndjson"
FORMATS = ("csv", "jsonl")
CHUNK_BYTES = 256 * 1024
# COPY output pieces held between the database and a slow reader.
QUEUE_PIECES = 64

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

# The record's scores of the pinned versions ($2), as arrays in pin order (NULL where none).
_SCORES = (
    " LEFT JOIN LATERAL (SELECT array_agg(s.value::text ORDER BY p.n) AS vals,"
    "   array_agg(s.passed ORDER BY p.n) AS passed, array_agg(s.status ORDER BY p.n) AS statuses,"
    "   array_agg(CASE WHEN s.status = 'errored' THEN 'errored: ' || s.error ELSE s.reasoning END ORDER BY p.n)"
    "   AS reasonings"
    "   FROM unnest($2::uuid[]) WITH ORDINALITY AS p(version_id, n)"
    "   LEFT JOIN scores s ON s.record_id = r.id AND s.metric_version_id = p.version_id) sc ON true"
)

# $1 the run, $2 its pinned metric versions, $3 their labels.
_JSONL = (
    "SELECT json_build_object('id', r.id, 'run_id', r.run_id, 'testcase_id', r.testcase_id, 'trial', r.trial,"
    " 'status', r.status, 'error', r.error, 'created_at', r.created_at, 'latency_ms', r.latency_ms,"
    " 'prompt_tokens', r.prompt_tokens, 'completion_tokens', r.completion_tokens, 'cost_usd', r.cost_usd,"
    " 'tags', to_jsonb(r.tags), 'inputs', r.inputs, 'expected', r.expected, 'outputs', r.outputs,"
    " 'metadata', r.metadata, 'scores', coalesce(sc.scores, '{}'::json))::text"
    " FROM records r LEFT JOIN LATERAL (SELECT json_object_agg(p.label, json_build_object("
    "   'metric_version_id', s.metric_version_id, 'status', s.status, 'value', s.value, 'passed', s.passed,"
    "   'reasoning', s.reasoning, 'error', s.error)) AS scores"
    "   FROM scores s JOIN unnest($2::uuid[], $3::text[]) AS p(version_id, label) ON p.version_id = s.metric_version_id"
    "   WHERE s.record_id = r.id) sc ON true"
    " WHERE r.run_id = $1 ORDER BY r.created_at, r.id"
)


def _text(expr: str) -> str:
    """A text cell, escaped when a spreadsheet would run it ($3: the formula starts)."""
    return f"CASE WHEN left({expr}, 1) = ANY($3::text[]) THEN '''' || {expr} ELSE {expr} END"


def csv_query(metrics: int) -> str:
    """The CSV rows of a run: $1 the run, $2 its pinned metric versions, $3 the formula starts."""
    score_cells = [
        cell
        for i in range(1, metrics + 1)
        for cell in (
            f"CASE WHEN sc.statuses[{i}] = 'completed' THEN sc.vals[{i}] END",
            f"CASE WHEN sc.statuses[{i}] = 'completed' THEN sc.passed[{i}]::text END",
            f"CASE WHEN sc.statuses[{i}] <> 'pending' THEN {_text(f'sc.reasonings[{i}]')} END",
        )
    ]
    cells = [
        "r.id",
        "r.testcase_id",
        "r.trial",
        "r.status",
        _text("r.error"),
        "to_jsonb(r.created_at) #>> '{}'",
        "r.latency_ms",
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
    return f"SELECT {', '.join(cells)} FROM records r{_SCORES} WHERE r.run_id = $1 ORDER BY r.created_at, r.id"


def metric_labels(names: Sequence[str], metric_ids: Sequence[str]) -> list[str]:
    """Column labels of the pinned metrics: the name, or "name [id prefix]" when two share it."""
    return [f"{n} [{m[:8]}]" if names.count(n) > 1 else n for n, m in zip(names, metric_ids, strict=True)]


def csv_header(labels: Sequence[str]) -> list[str]:
    metric_columns = [c for label in labels for c in (label, f"{label} passed", f"{label} reasoning")]
    return [escape_formula(c) for c in (*RECORD_COLUMNS, *metric_columns)]


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
            if fmt == "csv":
                yield pb.ExportRunChunk(content_type=CSV_CONTENT_TYPE, data=csv_bytes([csv_header(labels)], "\n"))
                rows = _copy(conn, csv_query(len(versions)), [run_id, versions, list(FORMULA_STARTS)])
            else:
                yield pb.ExportRunChunk(content_type=JSONL_CONTENT_TYPE)
                # One text column per line; JSON text holds no control characters, so with these
                # two bytes as quote and delimiter the CSV format never quotes it: bare lines.
                rows = _copy(conn, _JSONL, [run_id, versions, labels], quote="\x01", delimiter="\x02")
            async for data in rows:
                yield pb.ExportRunChunk(data=data)


async def _copy(
    conn: Connection, query: str, args: list[object], *, quote: str = '"', delimiter: str = ","
) -> AsyncIterator[bytes]:
    """The output of ``COPY (query) TO STDOUT`` in CSV format, in chunks of about CHUNK_BYTES."""
    pieces: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_PIECES)

    async def put(data: bytes) -> None:
        await pieces.put(data)

    async def produce() -> None:
        try:
            await conn.copy_from_query(query, *args, output=put, format="csv", quote=quote, delimiter=delimiter)
        finally:
            await pieces.put(None)

    producer = asyncio.create_task(produce())
    try:
        buffer = bytearray()
        while (piece := await pieces.get()) is not None:
            buffer += piece
            if len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer)
                buffer.clear()
        await producer  # raises what the COPY raised
        if buffer:
            yield bytes(buffer)
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
