"""Traces made with the real OpenTelemetry SDK, as an application instrumented with OpenInference
and the GenAI conventions makes them, and an export of them as OTLP JSON (IngestTraces' tests)."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode


def answer_a_question(provider: TracerProvider, fail_tool: bool = False, question: str = "capital of France?") -> str:
    """A RAG-like request as OpenInference and GenAI instrumentations describe it; its trace id in hex."""
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle question") as root:
        root.set_attribute("openinference.span.kind", "CHAIN")
        root.set_attribute("input.value", json.dumps({"question": question}))
        root.set_attribute("input.mime_type", "application/json")
        root.set_attribute("session.id", "s-42")
        root.set_attribute("user.id", "u-7")
        root.set_attribute("metadata", '{"route": "faq"}')
        with tracer.start_as_current_span("search docs") as search:
            search.set_attribute("openinference.span.kind", "RETRIEVER")
            search.set_attribute("input.value", "capital of France")
            search.set_attribute("retrieval.documents.count", 3)
        with tracer.start_as_current_span("chat gpt-x") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-x")
            chat.set_attribute("gen_ai.usage.input_tokens", 120)
            chat.set_attribute("gen_ai.usage.output_tokens", 8)
            chat.set_attribute("gen_ai.output.messages", '[{"role": "assistant", "content": "Paris"}]')
            chat.set_attribute("llm.cost.total", 0.0012)
        if fail_tool:
            with tracer.start_as_current_span("lookup") as tool:
                tool.set_attribute("openinference.span.kind", "TOOL")
                tool.record_exception(ValueError("no such city"))
                tool.set_status(Status(StatusCode.ERROR))
        root.set_attribute("output.value", "Paris")
        return f"{root.get_span_context().trace_id:032x}"


def otlp_json(request: Message) -> str:
    """An ExportTraceServiceRequest in OTLP's JSON encoding: protobuf's JSON, its ids in hex."""
    body: dict[str, Any] = json_format.MessageToDict(request)
    for resource in body["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(body)
