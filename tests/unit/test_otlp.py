"""OpenTelemetry traces read as calls (services/run_orchestrator/monitors/otlp.py): spans made by
the real OpenTelemetry SDK, encoded as its OTLP exporter encodes them, in protobuf and in JSON."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from scorekeeper_sdk.tracing import Span
from services.run_orchestrator.monitors import otlp
from shared import spans as stored_spans
from shared.edge.convert import struct_to_dict
from tests.support.otel import answer_a_question, otlp_json


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "faq-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def exported(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> bytes:
    return bytes(encode_spans(list(spans)).SerializeToString())


def test_a_trace_is_a_call_its_spans_its_steps(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    answer_a_question(provider, fail_tool=True)
    spans = otlp.spans_of(otlp.decode(exported(exporter.get_finished_spans())))
    traces = otlp.by_trace(spans)
    (trace_id,) = traces
    call = otlp.call_of(traces[trace_id])

    assert (call.call_id, call.trace_id, call.session_id, call.status) == (trace_id, trace_id, "s-42", "completed")
    assert struct_to_dict(call.inputs) == {"question": "capital of France?"}
    assert struct_to_dict(call.outputs) == {"response": "Paris"}
    assert struct_to_dict(call.metadata) == {
        "route": "faq",
        "service": "faq-bot",
        "model": "gpt-x",
        "user": "u-7",
        "otel_span": "handle question",
    }
    assert (call.prompt_tokens, call.completion_tokens, round(call.cost_usd, 6)) == (120, 8, 0.0012)
    steps = stored_spans.parse(call.spans, "calls[0].spans")  # what the server takes
    root_id = steps[0]["id"]
    assert [(s["name"], s["kind"], s["parent_id"] == root_id) for s in steps] == [
        ("handle question", "chain", False),
        ("search docs", "retrieval", True),
        ("chat gpt-x", "llm", True),
        ("lookup", "tool", True),
    ]
    assert steps[0]["parent_id"] == "" and steps[0]["start_ms"] == 0
    assert steps[1]["input"] == "capital of France" and steps[1]["metadata"] == {"retrieval.documents.count": 3}
    chat = steps[2]
    assert chat["output"] == [{"role": "assistant", "content": "Paris"}]
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["metadata"]) == (
        120,
        8,
        {"gen_ai.request.model": "gpt-x"},
    )
    assert steps[3]["error"] == "ValueError: no such city"
    assert call.latency_ms == pytest.approx(steps[0]["duration_ms"]) and call.latency_ms > 0


def test_a_failed_root_is_an_errored_call(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    with provider.get_tracer("app").start_as_current_span("request") as root:
        root.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    traces = otlp.by_trace(otlp.spans_of(otlp.decode(exported(exporter.get_finished_spans()))))
    (call,) = [otlp.call_of(spans) for spans in traces.values()]
    assert (call.status, call.error, struct_to_dict(call.inputs)) == ("errored", "upstream timed out", {})


def test_spans_sent_before_their_root_wait_for_it(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    answer_a_question(provider)
    *children, root = exporter.get_finished_spans()  # each exported as it ends: the root last
    early = otlp.spans_of(otlp.decode(exported(children)))
    waits = otlp.assemble(early)
    assert (waits.calls, [s.step.name for s in waits.waiting]) == ([], ["search docs", "chat gpt-x"])
    kept = [otlp.TraceSpan.of_json(json.loads(json.dumps(s.as_json()))) for s in early]  # as stored
    late = otlp.spans_of(otlp.decode(exported([root])))
    made = otlp.assemble([*kept, *late])
    (call,) = made.calls
    assert made.waiting == []
    assert [s.name for s in call.spans] == ["handle question", "search docs", "chat gpt-x"]
    assert call.prompt_tokens == 120


def test_otlp_json_with_hex_ids_reads_as_the_protobuf(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    answer_a_question(provider)
    request = encode_spans(list(exporter.get_finished_spans()))
    from_json = otlp.spans_of(otlp.decode(otlp_json(request).encode()))
    from_protobuf = otlp.spans_of(otlp.decode(request.SerializeToString()))
    assert from_json == from_protobuf


def test_a_remote_parent_makes_the_root(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    upstream = SpanContext(0x1234, 0x99, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    context = otel_trace.set_span_in_context(NonRecordingSpan(upstream))
    with provider.get_tracer("app").start_as_current_span("served", context=context):
        pass
    (span,) = otlp.spans_of(otlp.decode(exported(exporter.get_finished_spans())))
    assert (span.root, span.parent_id, span.trace_id) == (True, "0000000000000099", f"{0x1234:032x}")
    call = otlp.call_of([span])
    assert call.spans[0].parent_id == ""


def test_spans_naming_each_other_are_made_top_level() -> None:
    def span(span_id: str, parent: str, root: bool = False) -> otlp.TraceSpan:
        return otlp.TraceSpan("t" * 32, span_id, parent, root, 0, 1_000_000, Span(span_id, span_id))

    call = otlp.call_of([span("r", "", True), span("a", "b"), span("b", "a"), span("c", "a")])
    parents = {s.id: s.parent_id for s in call.spans}
    assert parents["r"] == "" and parents["c"] == "a"
    assert "" in (parents["a"], parents["b"])  # the cycle is cut
    stored_spans.parse(call.spans, "calls[0].spans")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe not protobuf", "the body is not an OTLP ExportTraceServiceRequest (protobuf or JSON)"),
        (b'{"resourceSpans": [', "the OTLP JSON body is malformed"),
        (b"[1, 2]", "the body is not an OTLP ExportTraceServiceRequest"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "01"}]}]}]}',
            "the OTLP JSON body is not an ExportTraceServiceRequest: span traceId 'zz' is not hex",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "01", "spanId": "01", "name": "x"}]}]}]}',
            "span 'x' has a trace id of 1 bytes and a span id of 1: OTLP's are 16 and 8",
        ),
    ],
)
def test_a_body_that_is_no_otlp_says_why(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        otlp.spans_of(otlp.decode(body))


def test_each_services_part_of_a_trace_is_a_call_sharing_the_trace_id() -> None:
    """A trace that went through two services: the first's root has no parent, the second's a
    remote one; a span whose parent has not come waits."""

    def span(span_id: str, parent: str, root: bool = False, start: int = 0) -> otlp.TraceSpan:
        return otlp.TraceSpan("ab" * 16, span_id, parent, root, start, start + 10, Span(span_id, span_id))

    made = otlp.assemble(
        [
            span("front", "", True, 0),
            span("search", "front", start=1),
            span("back", "remote", True, 2),  # its parent is in the other service
            span("db", "back", start=3),
            span("orphan", "not yet", start=4),
        ]
    )
    assert [(c.call_id, [s.id for s in c.spans]) for c in made.calls] == [
        ("ab" * 16, ["front", "search"]),
        ("ab" * 16 + "-back", ["back", "db"]),
    ]
    assert {c.trace_id for c in made.calls} == {"ab" * 16} and [s.span_id for s in made.waiting] == ["orphan"]


def test_hostile_attributes_are_kept_as_the_database_takes_them(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    """NUL in texts (PostgreSQL's JSON holds none), counts past an int32, a boolean as a count."""
    provider, exporter = traced
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("root\x00") as root:
        root.set_attribute("input.value", "a\x00b")
        root.set_attribute("session.id", "s\x00" + "\x00" * 300)
        for n in range(3):
            with tracer.start_as_current_span(f"llm {n}") as llm:
                llm.set_attribute("gen_ai.usage.input_tokens", 2**31 - 10)
                llm.set_attribute("gen_ai.usage.output_tokens", True)
    spans = otlp.spans_of(otlp.decode(exported(exporter.get_finished_spans())))
    assert "\x00" not in json.dumps([s.as_json() for s in spans], ensure_ascii=False)
    (call,) = otlp.assemble(spans).calls
    assert (call.prompt_tokens, call.completion_tokens) == (2**31 - 1, 0)
    assert (call.session_id, struct_to_dict(call.inputs)) == (("s" + "\\u0000" * 301)[:200], {"input": "a\\u0000b"})
    stored_spans.parse(call.spans, "calls[0].spans")


def test_spans_after_their_calls_go_to_the_call_holding_their_parent() -> None:
    """A trace seen by two services was logged as two calls: each late span goes to the call its
    parents lead to (through other late spans), a span already held is left out, one whose
    parents lead nowhere waits."""

    def span(span_id: str, parent: str, start_ms: float) -> otlp.TraceSpan:
        ns = int(start_ms * 1e6)
        return otlp.TraceSpan("t", span_id, parent, False, ns, ns + 5_000_000, Span(span_id, span_id))

    front = otlp.LoggedTrace(uuid.uuid4(), "t", 1_000_000, frozenset({"r1", "a"}))
    back = otlp.LoggedTrace(uuid.uuid4(), "t-r2", 50_000_000, frozenset({"r2"}))
    late = [span("c", "a", 40), span("d", "c", 41), span("e", "r2", 60), span("a", "r1", 2), span("f", "gone", 3)]
    added, waiting = otlp.late(late, [front, back])
    assert {call: [s.span_id for s in spans] for call, spans in added.items()} == {
        front.call_id: ["c", "d"],
        back.call_id: ["e"],
    }
    assert [s.span_id for s in waiting] == ["f"]
    steps = otlp.late_steps(list(reversed(added[front.call_id])), front)
    assert [(s.id, s.parent_id, s.start_ms, s.duration_ms) for s in steps] == [
        ("c", "a", 39.0, 5.0),
        ("d", "c", 40.0, 5.0),
    ]
