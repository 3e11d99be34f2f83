"""ExportRecords: the records a Records-page filter matches, across the project's runs, as CSV or
JSONL. It reads them a page at a time through ListRecords itself (the same plans, filters, order
and keyset pages), so an export holds exactly what the page lists, and memory stays flat: one page
of 1,000 records at a time, each page written out as one chunk.

Columns as ExportRun's (services/query/export.py), with the run's id after the record's; one
"<metric>", "<metric> passed", "<metric> reasoning" trio per metric of the project (records of runs
that were not scored with it leave them empty). A record's scores are those of the versions its
run pins; JSONL keys them by metric label.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader
from services.query.export import FORMATS, JSONL_CONTENT_TYPE, RECORD_COLUMNS, metric_labels
from services.query.records.reads import RecordReads
from shared.edge.convert import parse_uuid, struct_to_dict, value_to_python
from shared.edge.errors import invalid
from shared.spreadsheet import CSV_CONTENT_TYPE, cell, csv_bytes, escape_formula

EXPORT_PAGE = 1000
COLUMNS = ("record_id", "run_id", *RECORD_COLUMNS[1:])


def _latency(ms: float) -> str:
    """To the microsecond, without trailing zeros (45, 3.142), as ExportRun writes it."""
    return f"{ms:.3f}".rstrip("0").rstrip(".")


def _record_fields(r: pb.RecordView) -> dict[str, Any]:
    return {
        "record_id": r.id,
        "run_id": r.run_id,
        "testcase_id": r.testcase_id,
        "trial": r.trial,
        "status": r.status,
        "error": r.error,
        "created_at": r.created_at,
        "latency_ms": _latency(r.latency_ms),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_usd if r.HasField("cost_usd") else None,
        "tags": list(r.tags),
        "inputs": struct_to_dict(r.inputs),
        "expected": struct_to_dict(r.expected),
        "outputs": struct_to_dict(r.outputs),
        "metadata": struct_to_dict(r.metadata),
    }


def _csv_row(r: pb.RecordView, metric_ids: list[str]) -> list[str]:
    fields = _record_fields(r)
    row = [fields["latency_ms"] if c == "latency_ms" else cell(fields[c]) for c in COLUMNS]
    scores = {s.metric_id: s for s in r.scores if s.current}
    for metric_id in metric_ids:
        s = scores.get(metric_id)
        if s is None or s.status == "pending":
            row += ["", "", ""]
            continue
        done = s.status == "completed"
        reasoning = s.reasoning if done else f"errored: {s.error}"
        passed = cell(s.passed) if done and s.HasField("passed") else ""
        row += [cell(value_to_python(s.value)) if done else "", passed, escape_formula(reasoning)]
    return row


def _json_line(r: pb.RecordView, labels: dict[str, str]) -> str:
    fields = _record_fields(r)
    line: dict[str, Any] = {"id": fields.pop("record_id"), **fields, "latency_ms": round(r.latency_ms, 3)}
    line["scores"] = {
        labels[s.metric_id]: {
            "metric_version_id": s.metric_version_id,
            "status": s.status,
            "value": value_to_python(s.value) if s.HasField("value") else None,
            "passed": s.passed if s.HasField("passed") else None,
            "reasoning": s.reasoning,
            "error": s.error,
        }
        for s in r.scores
        if s.current and s.metric_id in labels
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


class RecordExport:
    """ExportRecords."""

    def __init__(self, reader: Reader, records: RecordReads) -> None:
        self._reader = reader
        self._records = records

    async def export_records(self, request: pb.ExportRecordsRequest) -> AsyncIterator[pb.ExportRunChunk]:
        project_id = parse_uuid(request.project_id, "project_id")
        fmt = request.format.lower() or "csv"
        if fmt not in FORMATS:
            raise invalid(f"format must be csv or jsonl, got {request.format!r}")
        if request.limit < 0:
            raise invalid("limit must not be negative")
        listing = pb.ListRecordsRequest(
            project_id=request.project_id,
            run_ids=request.run_ids,
            testcase_id=request.testcase_id,
            statuses=request.statuses,
            tags=request.tags,
            where=request.where,
            search=request.search,
            order_by=request.order_by,
            page_size=min(request.limit, EXPORT_PAGE) if request.limit else EXPORT_PAGE,
        )
        page = await self._records.list_records(listing)  # every filter checked before the first byte
        async with self._reader.snapshot() as conn:
            metrics = await conn.fetch(
                "SELECT id, name FROM metrics WHERE project_id = $1 ORDER BY name, id", project_id
            )
        metric_ids = [str(m["id"]) for m in metrics]
        labels = metric_labels([m["name"] for m in metrics], metric_ids)
        if fmt == "csv":
            trios = [c for label in labels for c in (label, f"{label} passed", f"{label} reasoning")]
            header = [escape_formula(c) for c in (*COLUMNS, *trios)]
            yield pb.ExportRunChunk(content_type=CSV_CONTENT_TYPE, data=csv_bytes([header], "\n"))
        else:
            yield pb.ExportRunChunk(content_type=JSONL_CONTENT_TYPE)
        by_id = dict(zip(metric_ids, labels, strict=True))
        left = request.limit or None
        while True:
            records = list(page.records[:left] if left is not None else page.records)
            if fmt == "csv":
                data = csv_bytes((_csv_row(r, metric_ids) for r in records), "\n")
            else:
                data = "".join(_json_line(r, by_id) for r in records).encode()
            if data:
                yield pb.ExportRunChunk(data=data)
            if left is not None:
                left -= len(records)
            if not page.next_page_token or left == 0:
                return
            listing.page_token = page.next_page_token
            page = await self._records.list_records(listing)
