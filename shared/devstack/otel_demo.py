"""make demo's answers sent again as OpenTelemetry traces, as an application instrumented with
OpenInference would export them (OTLP over HTTP, protobuf): each record a trace whose root span is
the request and whose children are the steps the demo system reported; the orchestrator's
IngestTraces makes each a call with its steps."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from scorekeeper_sdk import AsyncScorekeeper
from scorekeeper_sdk.views import Record

# A step's kind as OpenInference names it.
_SPAN_KINDS = {"llm": "LLM", "retrieval": "RETRIEVER", "tool": "TOOL", "embedding": "EMBEDDING", "chain": "CHAIN"}


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    found = []
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            found.append(KeyValue(key=key, value=AnyValue(bool_value=value)))
        elif isinstance(value, int):
            found.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        elif isinstance(value, float):
            found.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        elif isinstance(value, str):
            found.append(KeyValue(key=key, value=AnyValue(string_value=value)))
        else:
            found.append(KeyValue(key=key, value=AnyValue(string_value=json.dumps(value))))
    return found


def _trace(record: Record, ends_ns: int) -> list[Span]:
    """The record's call as a trace: the request (its inputs and outputs) and its steps under it."""
    trace_id, root_id = os.urandom(16), os.urandom(8)
    start = ends_ns - int(record.latency_ms * 1e6)
    ids = {s.id: os.urandom(8) for s in record.spans}
    spans = [
        Span(
            trace_id=trace_id,
            span_id=root_id,
            name="demo request",
            start_time_unix_nano=start,
            end_time_unix_nano=ends_ns,
            attributes=_attributes(
                {
                    "openinference.span.kind": "CHAIN",
                    "input.value": json.dumps(record.inputs),
                    "input.mime_type": "application/json",
                    "output.value": json.dumps(record.outputs),
                    "output.mime_type": "application/json",
                    "session.id": f"demo-{record.testcase_id[:8]}",
                }
            ),
        )
    ]
    for step in record.spans:
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=ids[step.id],
                parent_span_id=ids.get(step.parent_id, root_id),
                name=step.name,
                start_time_unix_nano=start + int(step.start_ms * 1e6),
                end_time_unix_nano=start + int((step.start_ms + step.duration_ms) * 1e6),
                status=Status(code=Status.STATUS_CODE_ERROR, message=step.error) if step.error else Status(),
                attributes=_attributes(
                    {
                        "openinference.span.kind": _SPAN_KINDS.get(step.kind, "CHAIN"),
                        "input.value": None if step.input is None else json.dumps(step.input),
                        "output.value": None if step.output is None else json.dumps(step.output),
                        "gen_ai.usage.input_tokens": step.prompt_tokens or None,
                        "gen_ai.usage.output_tokens": step.completion_tokens or None,
                    }
                ),
            )
        )
    return spans


def export_request(records: Sequence[Record]) -> ExportTraceServiceRequest:
    """The records' calls as one OTLP export of the "demo-app" service."""
    now = time.time_ns()
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=[s for r in records for s in _trace(r, now)])])
    resource.resource.attributes.extend(_attributes({"service.name": "demo-app"}))
    return ExportTraceServiceRequest(resource_spans=[resource])


async def send_traces(
    sk: AsyncScorekeeper, http: httpx.AsyncClient, project_id: str, run_id: str, console_url: str, answers: int = 3
) -> str:
    """The run's first completed answers (with their steps) sent as traces to the orchestrator's
    OTLP endpoint (``http``: a client of its HTTP edge); what became of them."""
    records: list[Record] = []
    async for listed in sk.list_records(run_id, statuses=["completed"], page_size=answers):
        records.append(await sk.get_record(listed.id))
        if len(records) == answers:
            break
    path = f"/v1/projects/{project_id}/traces"
    answer = await http.post(
        path,
        content=export_request(records).SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    answer.raise_for_status()
    said = answer.json()
    spans = sum(len(r.spans) + 1 for r in records)
    first = said["call_ids"][0] if said["call_ids"] else ""
    return (
        f"OpenTelemetry: {len(records)} of the answers sent as traces ({spans} spans) to POST {path}, as an"
        f" instrumented app's OTLP exporter sends them: {said['stored']} calls, each span a step\n"
        f"  {console_url}/projects/{project_id}/calls/{first}"
    )
