"""ExportCalls: the calls a ListCalls filter matches, newest first, as CSV or JSONL, each with its
feedback. It reads them a page of 1,000 at a time through ListCalls itself (the same filters,
order and keyset pages, as database rows), so an export holds exactly what the Calls page lists
and memory stays flat: each page is written out as one chunk.

The feedback columns are those of the project's human and code metrics (the ones feedback is
given on), by name: "<metric>", "<metric> passed", "<metric> comment", "<metric> by". JSONL keys a
call's feedback by metric label.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from scorekeeper.v1 import query_pb2 as pb

from services.query.calls import CallPage, CallReads, feedback_value
from services.query.db import Reader
from services.query.export import first_chunk, metric_columns, metric_labels, page_chunks, paged_export
from shared.edge.convert import parse_uuid, timestamp
from shared.scoring.eval_types import FEEDBACK_EVAL_TYPES
from shared.spreadsheet import cell, csv_bytes, escape_formula

COLUMNS = (
    "call_id",
    "id",
    "logged_at",
    "status",
    "error",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "trace_id",
    "session_id",
    "inputs",
    "outputs",
    "metadata",
)


def _fields(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "call_id": r["call_key"] or str(r["id"]),
        "id": str(r["id"]),
        "logged_at": timestamp(r["logged_at"]),
        "status": r["status"],
        "error": r["error"],
        "latency_ms": round(r["latency_ms"], 3),
        "prompt_tokens": r["prompt_tokens"],
        "completion_tokens": r["completion_tokens"],
        "cost_usd": r["cost_usd"],
        "trace_id": r["trace_id"],
        "session_id": r["session_id"],
        "inputs": r["inputs"],
        "outputs": r["outputs"],
        "metadata": r["metadata"],
    }


def _csv_row(r: asyncpg.Record, feedback: list[asyncpg.Record], metrics: list[asyncpg.Record]) -> list[str]:
    fields = _fields(r)
    row = [cell(fields[c]) for c in COLUMNS]
    given = {f["metric_id"]: f for f in feedback}
    for m in metrics:
        f = given.get(m["id"])
        if f is None:
            row += ["", "", "", ""]
        else:
            value = feedback_value(f)
            row += [cell(value), cell(f["passed"]), escape_formula(f["comment"]), escape_formula(f["author"])]
    return row


def _json_line(r: asyncpg.Record, feedback: list[asyncpg.Record], labels: dict[uuid.UUID, str]) -> bytes:
    line: dict[str, Any] = _fields(r)
    line["feedback"] = {
        labels[f["metric_id"]]: {
            "value": feedback_value(f),
            "passed": f["passed"],
            "comment": f["comment"],
            "author": f["author"],
            "given_at": timestamp(f["given_at"]),
        }
        for f in feedback
        if f["metric_id"] in labels
    }
    return orjson.dumps(line) + b"\n"


class CallExport:
    """ExportCalls."""

    def __init__(self, reader: Reader, calls: CallReads) -> None:
        self._reader = reader
        self._calls = calls

    async def export_calls(self, request: pb.ExportCallsRequest) -> AsyncIterator[pb.ExportRunChunk]:
        project_id = parse_uuid(request.project_id, "project_id")
        fmt, page_size = paged_export(request.format, request.limit)
        listing = pb.ListCallsRequest(
            project_id=request.project_id,
            status=request.status,
            trace_id=request.trace_id,
            session_id=request.session_id,
            metadata=request.metadata,
            logged_after=request.logged_after,
            logged_before=request.logged_before,
            feedback=request.feedback,
            search=request.search,
            usage=request.usage,
            steps=request.steps,
            page_size=page_size,
        )
        page = await self._calls.page(listing)  # every filter checked before the first byte
        async with self._reader.snapshot() as conn:
            metrics = await conn.fetch(
                "SELECT m.id, m.name FROM metrics m WHERE m.project_id = $1 AND EXISTS (SELECT 1 FROM metric_versions v"
                " WHERE v.metric_id = m.id AND v.eval_type = ANY($2::text[])) ORDER BY m.name, m.id",
                project_id,
                list(FEEDBACK_EVAL_TYPES),
            )
        labels = metric_labels([m["name"] for m in metrics], [str(m["id"]) for m in metrics])
        yield first_chunk(fmt, [*COLUMNS, *metric_columns(labels, "passed", "comment", "by")])
        by_id = {m["id"]: label for m, label in zip(metrics, labels, strict=True)}

        def write(page: CallPage, rows: list[asyncpg.Record]) -> bytes:
            if fmt == "csv":
                return csv_bytes((_csv_row(r, page.feedback[r["id"]], metrics) for r in rows), "\n")
            return b"".join(_json_line(r, page.feedback[r["id"]], by_id) for r in rows)

        async def next_page(token: str) -> CallPage:
            listing.page_token = token
            return await self._calls.page(listing)

        async for chunk in page_chunks(page, next_page, write, request.limit):
            yield chunk
