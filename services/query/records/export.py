"""ExportRecords: the records a Records-page filter matches, across the project's runs, as CSV or
JSONL. It reads them a page at a time through ListRecords itself (the same plans, filters, order
and keyset pages, as database rows: no protobuf views), so an export holds exactly what the page
lists, and memory stays flat: one page of 1,000 records at a time, each written out as one chunk.

Columns as ExportRun's (services/query/export.py), with the run's id after the record's; one
"<metric>", "<metric> passed", "<metric> reasoning" trio per metric of the project (records of runs
that were not scored with it leave them empty). A record's scores are those of the versions its
run pins; JSONL keys them by metric label and holds the steps each record's call took (``spans``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader
from services.query.export import (
    RECORD_COLUMNS,
    STEPS_JSON,
    first_chunk,
    metric_columns,
    metric_labels,
    page_chunks,
    paged_export,
)
from services.query.records.reads import RecordPage, RecordReads
from shared.edge.convert import parse_uuid, timestamp
from shared.spreadsheet import cell, csv_bytes, escape_formula

COLUMNS = ("record_id", "run_id", *RECORD_COLUMNS[1:])


def _latency(ms: float) -> str:
    """To the microsecond, without trailing zeros (45, 3.142), as ExportRun writes it."""
    return f"{ms:.3f}".rstrip("0").rstrip(".")


def _fields(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "record_id": str(r["id"]),
        "run_id": str(r["run_id"]),
        "testcase_id": str(r["testcase_id"]),
        "trial": r["trial"],
        "status": r["status"],
        "error": r["error"],
        "created_at": timestamp(r["created_at"]),
        "latency_ms": r["latency_ms"],
        "prompt_tokens": r["prompt_tokens"],
        "completion_tokens": r["completion_tokens"],
        "cost_usd": r["cost_usd"],
        "tags": list(r["tags"]),
        "inputs": r["inputs"],
        "expected": r["expected"],
        "outputs": r["outputs"],
        "metadata": r["metadata"],
    }


def _csv_row(r: asyncpg.Record, scores: list[asyncpg.Record], metric_ids: list[uuid.UUID]) -> list[str]:
    fields = _fields(r)
    row = [_latency(fields["latency_ms"]) if c == "latency_ms" else cell(fields[c]) for c in COLUMNS]
    current = {s["metric_id"]: s for s in scores if s["current"]}
    for metric_id in metric_ids:
        s = current.get(metric_id)
        if s is None or s["status"] == "pending":
            row += ["", "", ""]
        elif s["status"] == "completed":
            row += [cell(s["value"]), cell(s["passed"]), escape_formula(s["reasoning"])]
        else:
            row += ["", "", escape_formula(f"errored: {s['error']}")]
    return row


def _json_line(
    r: asyncpg.Record, scores: list[asyncpg.Record], labels: dict[uuid.UUID, str], steps: dict[uuid.UUID, str]
) -> bytes:
    fields = _fields(r)
    line: dict[str, Any] = {"id": fields.pop("record_id"), **fields, "latency_ms": round(r["latency_ms"], 3)}
    line["scores"] = {
        labels[s["metric_id"]]: {
            "metric_version_id": str(s["metric_version_id"]),
            "status": s["status"],
            "value": s["value"],
            "passed": s["passed"],
            "reasoning": s["reasoning"],
            "error": s["error"],
        }
        for s in scores
        if s["current"] and s["metric_id"] in labels
    }
    line["spans"] = orjson.Fragment(steps.get(r["id"], "[]"))
    return orjson.dumps(line) + b"\n"


# The steps of a page's records, as ExportRun writes them (STEPS_JSON): with each record, or with
# the call a monitor's record is.
_PAGE_STEPS = f"""
SELECT r.id, {STEPS_JSON.format(steps="coalesce(x.spans, c.spans)")} AS steps
FROM records r JOIN runs ru ON ru.id = r.run_id
LEFT JOIN record_spans x ON x.record_id = r.id
LEFT JOIN call_spans c ON ru.monitor_id IS NOT NULL AND c.project_id = ru.project_id AND c.call_id = r.testcase_id
WHERE r.id = ANY($1::uuid[]) AND (x.record_id IS NOT NULL OR c.call_id IS NOT NULL)
"""


class RecordExport:
    """ExportRecords."""

    def __init__(self, reader: Reader, records: RecordReads) -> None:
        self._reader = reader
        self._records = records

    async def export_records(self, request: pb.ExportRecordsRequest) -> AsyncIterator[pb.ExportRunChunk]:
        project_id = parse_uuid(request.project_id, "project_id")
        fmt, page_size = paged_export(request.format, request.limit)
        listing = pb.ListRecordsRequest(
            project_id=request.project_id,
            run_ids=request.run_ids,
            testcase_id=request.testcase_id,
            statuses=request.statuses,
            tags=request.tags,
            fields=request.fields,
            usage=request.usage,
            steps=request.steps,
            where=request.where,
            search=request.search,
            order_by=request.order_by,
            page_size=page_size,
        )
        page = await self._records.page(listing)  # every filter checked before the first byte
        async with self._reader.snapshot() as conn:
            metrics = await conn.fetch(
                "SELECT id, name FROM metrics WHERE project_id = $1 ORDER BY name, id", project_id
            )
        metric_ids: list[uuid.UUID] = [m["id"] for m in metrics]
        labels = metric_labels([m["name"] for m in metrics], [str(m) for m in metric_ids])
        yield first_chunk(fmt, [*COLUMNS, *metric_columns(labels, "passed", "reasoning")])
        by_id = dict(zip(metric_ids, labels, strict=True))

        steps: dict[uuid.UUID, str] = {}  # of the page's records, as JSON text (JSONL only)

        async def read_steps(page: RecordPage) -> RecordPage:
            steps.clear()
            if fmt == "jsonl" and page.rows:
                async with self._reader.snapshot() as conn:
                    rows = await conn.fetch(_PAGE_STEPS, [r["id"] for r in page.rows])
                steps.update((row["id"], row["steps"]) for row in rows)
            return page

        def write(page: RecordPage, records: list[asyncpg.Record]) -> bytes:
            if fmt == "csv":
                return csv_bytes((_csv_row(r, page.scores[r["id"]], metric_ids) for r in records), "\n")
            return b"".join(_json_line(r, page.scores[r["id"]], by_id, steps) for r in records)

        async def next_page(token: str) -> RecordPage:
            listing.page_token = token
            return await read_steps(await self._records.page(listing))

        await read_steps(page)

        async for chunk in page_chunks(page, next_page, write, request.limit):
            yield chunk
