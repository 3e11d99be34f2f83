"""OpenTelemetry traces as logged calls (IngestTraces: OTLP over HTTP, binary protobuf or JSON).

Each root span of a trace — the span without a parent, or whose parent is remote (the trace came
in from another service) — is one call, logged as LogCalls logs a call under the trace's id (a
trace exported again is a duplicate; another service's part of it under "<trace id>-<span id>"),
every span below it a step of it. What the spans
say is read from the attributes of OpenTelemetry's GenAI conventions (``gen_ai.*``) and of
OpenInference (``input.value``, ``llm.token_count.*``, ``openinference.span.kind``), which the
instrumentations of OpenAI, LangChain, LlamaIndex and others write.

An exporter sends spans as they end, a batch at a time, and the root ends last: the spans of a
trace whose root has not come yet are kept and joined to it when it comes, and a span that
comes after its call is added to it (``late``), for at most PENDING_MINUTES. Pure functions
here; trace_store.py keeps and logs.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from scorekeeper.v1 import monitors_pb2 as pb

from scorekeeper_sdk.evaluate.outputs import OUTPUT_FIELD, used
from scorekeeper_sdk.tracing import MAX_ERROR_CHARS, MAX_KIND_CHARS, MAX_NAME_CHARS, MAX_SPANS, Span, fit, storable

# The most a token count holds (an int32 of LoggedCall).
MAX_COUNT = 2**31 - 1
# Spans waiting for their trace's root span are dropped after this long.
PENDING_MINUTES = 60
# A span's parent is remote (OTLP's SpanFlags: the flag is known, and set).
_REMOTE_PARENT = 0x100 | 0x200
# At most this many of a span's other attributes are kept as its metadata, each this long.
MAX_METADATA_KEYS = 40
MAX_ATTRIBUTE_CHARS = 2_000
# Attributes read into a step's fields, not kept as its metadata.
_INPUTS = ("input.value", "gen_ai.input.messages", "gen_ai.prompt")
_OUTPUTS = ("output.value", "gen_ai.output.messages", "gen_ai.completion")
_TOKENS = (
    ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"),
    ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"),
    ("llm.token_count.prompt", "llm.token_count.completion"),
)
_COSTS = ("gen_ai.usage.cost", "llm.cost.total")
_MODELS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_SESSIONS = ("session.id", "gen_ai.conversation.id")
_USERS = ("user.id", "enduser.id")
_READ = {
    *_INPUTS,
    *_OUTPUTS,
    *(name for pair in _TOKENS for name in pair),
    *_COSTS,
    *_SESSIONS,
    *_USERS,
    "input.mime_type",
    "output.mime_type",
    "openinference.span.kind",
    "gen_ai.operation.name",
    "metadata",
}
# The kind of step each OpenInference span kind and GenAI operation is.
_KINDS = {
    "llm": "llm",
    "chain": "chain",
    "retriever": "retrieval",
    "tool": "tool",
    "embedding": "embedding",
    "agent": "agent",
    "reranker": "reranker",
    "guardrail": "guardrail",
    "evaluator": "evaluator",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}


@dataclass
class TraceSpan:
    """One span: where it stands in its trace (times in ns since the epoch), the step it is (its id,
    parent and times set once the call it is in is known) and what the call takes from it when
    it is the root. Kept as JSON while it waits for its root."""

    trace_id: str
    span_id: str
    parent_id: str
    root: bool
    start_ns: int
    end_ns: int
    step: Span
    # Of the call: its session, user, service, model and metadata (those the root has, else any span's).
    call: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> TraceSpan:
        return cls(**{**data, "step": Span(**data["step"])})


def decode(data: bytes) -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest from OTLP/HTTP's binary protobuf or its JSON (ids in hex);
    ValueError saying why not."""
    if data.lstrip()[:1] == b"{":
        try:
            body = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the OTLP JSON body is malformed: {exc}") from None
        request = ExportTraceServiceRequest()
        try:
            json_format.ParseDict(_ids_as_base64(body), request, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise ValueError(f"the OTLP JSON body is not an ExportTraceServiceRequest: {exc}") from None
        return request
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise ValueError(f"the body is not an OTLP ExportTraceServiceRequest (protobuf or JSON): {exc}") from None
    return request


def _ids_as_base64(body: Any) -> Any:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON reads bytes as base64."""
    if not isinstance(body, dict):
        raise ValueError("the OTLP JSON body must be an object")
    for resource in _list(body.get("resourceSpans", body.get("resource_spans"))):
        for scope in _list(_get(resource, "scopeSpans", "scope_spans")):
            for span in _list(_get(scope, "spans")):
                if not isinstance(span, dict):
                    continue
                for key in ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"):
                    if isinstance(span.get(key), str):
                        try:
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                        except ValueError:
                            raise ValueError(f"span {key} {span[key][:40]!r} is not hex") from None
    return body


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _get(data: Any, *keys: str) -> Any:
    return next((data[k] for k in keys if isinstance(data, dict) and k in data), None)


def spans_of(request: ExportTraceServiceRequest) -> list[TraceSpan]:
    """Every span of the request as a step; ValueError for one without a trace or span id."""
    found = []
    for resource in request.resource_spans:
        service = _attributes(resource.resource.attributes).get("service.name")
        for scope in resource.scope_spans:
            for span in scope.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise ValueError(
                        f"span {span.name[:100]!r} has a trace id of {len(span.trace_id)} bytes and a span id of"
                        f" {len(span.span_id)}: OTLP's are 16 and 8"
                    )
                found.append(_step(span, service))
    return found


def _step(span: OtlpSpan, service: Any) -> TraceSpan:
    attrs = _attributes(span.attributes)
    remote = span.flags & _REMOTE_PARENT == _REMOTE_PARENT
    prompt, completion = next(
        ((_count(attrs[p]), _count(attrs.get(c))) for p, c in _TOKENS if p in attrs or c in attrs), (0, 0)
    )
    cost = next((float(attrs[c]) for c in _COSTS if _amount(attrs.get(c))), None)
    call = {
        "session_id": _first_text(attrs, _SESSIONS),
        "user": _first_text(attrs, _USERS),
        "model": _first_text(attrs, _MODELS),
        "service": service if isinstance(service, str) else "",
        "metadata": _object(attrs.get("metadata")),
    }
    # Every text as the database can hold it (no NUL, no lone surrogate): it may wait as JSON.
    return TraceSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        root=not span.parent_span_id or remote,
        start_ns=span.start_time_unix_nano,
        end_ns=max(span.end_time_unix_nano, span.start_time_unix_nano),
        step=Span(
            id=span.span_id.hex(),
            name=storable(span.name.strip() or "span")[:MAX_NAME_CHARS],
            kind=storable(_kind(attrs))[:MAX_KIND_CHARS],
            input=storable(_value(attrs, _INPUTS, "input.mime_type")),
            output=storable(_value(attrs, _OUTPUTS, "output.mime_type")),
            error=storable(_error(span))[:MAX_ERROR_CHARS],
            metadata=storable(_metadata(attrs)),
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
        ),
        call=storable({k: v for k, v in call.items() if v}),
    )


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _python(kv.value) for kv in pairs}


def _python(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_python(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which) if which else None


def _count(value: Any) -> int:
    """A token count: a whole number of at most MAX_COUNT, else 0."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return int(value) if ok and 0 < value <= MAX_COUNT else 0


def _amount(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _first_text(attrs: dict[str, Any], names: Sequence[str]) -> str:
    """The first of these attributes that is a text or a number, as text the database holds,
    within the 200 characters an id of a call may have."""
    found = next((str(attrs[n]) for n in names if isinstance(attrs.get(n), str | int) and attrs[n] != ""), "")
    return str(storable(found))[:200]


def _object(value: Any) -> dict[str, Any]:
    """A JSON object given as text (OpenInference's ``metadata``), or {}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _kind(attrs: dict[str, Any]) -> str:
    for name in ("openinference.span.kind", "gen_ai.operation.name"):
        said = attrs.get(name)
        if isinstance(said, str) and said:
            return _KINDS.get(said.lower(), said.lower())
    return ""


def _value(attrs: dict[str, Any], names: Sequence[str], mime: str) -> Any:
    """A step's input or output: the first of ``names`` it has, JSON text read as JSON (messages
    always; ``input.value`` when its mime type says so)."""
    for name in names:
        if name not in attrs:
            continue
        value = attrs[name]
        if isinstance(value, str) and (name.endswith(".messages") or attrs.get(mime) == "application/json"):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    return None


def _error(span: OtlpSpan) -> str:
    """What failed, when the span's status says it did: its message, else its exception's."""
    if span.status.code != Status.STATUS_CODE_ERROR:
        return ""
    if span.status.message:
        return span.status.message
    for event in span.events:
        if event.name == "exception":
            attrs = _attributes(event.attributes)
            said = ": ".join(str(attrs[k]) for k in ("exception.type", "exception.message") if attrs.get(k))
            if said:
                return said
    return "error"


def _metadata(attrs: dict[str, Any]) -> dict[str, Any]:
    """The span's other attributes (its model among them), texts shortened."""
    kept: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in _READ or len(kept) >= MAX_METADATA_KEYS:
            continue
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS:
            value = value[:MAX_ATTRIBUTE_CHARS] + f"… ({len(value):,} characters)"
        kept[key] = value
    return kept


def by_trace(spans: Iterable[TraceSpan]) -> dict[str, list[TraceSpan]]:
    traces: dict[str, list[TraceSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


@dataclass
class Assembled:
    """What a trace's spans make: a call per root span that came (``groups``: the spans of each,
    its root first), and the spans still waiting for theirs."""

    calls: list[pb.LoggedCall] = field(default_factory=list)
    groups: list[list[TraceSpan]] = field(default_factory=list)
    waiting: list[TraceSpan] = field(default_factory=list)


def assemble(spans: Sequence[TraceSpan]) -> Assembled:
    """One trace's spans (those kept earlier and those just sent, each span once): each span under
    the root its parents lead to. A trace seen by several services has a root in each (a remote
    parent): each is a call of its own, the first without a parent under the trace's id, any other
    under "<trace id>-<span id>", so all of them share the trace id."""
    unique = sorted({s.span_id: s for s in spans}.values(), key=lambda s: s.start_ns)
    by_id = {s.span_id: s for s in unique}
    groups: dict[str, list[TraceSpan]] = {s.span_id: [] for s in unique if s.root}
    found = Assembled()
    for span in unique:
        above, seen = span, {span.span_id}
        while not above.root and above.parent_id in by_id and above.parent_id not in seen:
            above = by_id[above.parent_id]
            seen.add(above.span_id)
        if above.root:
            groups[above.span_id].append(span)
        else:
            found.waiting.append(span)
    named_trace = False
    for root_id, group in groups.items():
        root = by_id[root_id]
        plain = not root.parent_id and not named_trace
        named_trace = named_trace or plain
        found.calls.append(call_of(group, root.trace_id if plain else f"{root.trace_id}-{root.span_id}"))
        found.groups.append([root, *(s for s in group if s is not root)])
    return found


@dataclass(frozen=True)
class LoggedTrace:
    """A call a trace was logged as, as otlp_traces keeps it for PENDING_MINUTES: where its root
    started and the spans it holds."""

    call_id: uuid.UUID
    call_key: str
    root_start_ns: int
    span_ids: frozenset[str]


def late(
    spans: Sequence[TraceSpan], logged: Sequence[LoggedTrace]
) -> tuple[dict[uuid.UUID, list[TraceSpan]], list[TraceSpan]]:
    """Spans of a trace whose calls were logged before (they ended after the call did, or came in a
    later export), each under the call holding the span its parents lead to; the others still
    waiting. A span a call holds already (an export sent again) is left out."""
    held = {span_id: c.call_id for c in logged for span_id in c.span_ids}
    by_id = {s.span_id: s for s in spans if s.span_id not in held}
    added: dict[uuid.UUID, list[TraceSpan]] = {}
    waiting = []
    for span in by_id.values():
        above, seen = span, {span.span_id}
        while above.parent_id not in held and above.parent_id in by_id and above.parent_id not in seen:
            above = by_id[above.parent_id]
            seen.add(above.span_id)
        call = held.get(above.parent_id) if not span.root else None
        if call is None:
            waiting.append(span)
        else:
            added.setdefault(call, []).append(span)
    return added, waiting


def late_steps(spans: Sequence[TraceSpan], trace: LoggedTrace) -> list[Span]:
    """Spans added to a call logged before as its steps, in the order they started: times from
    the call's root, each inside its parent (a step of the call or one of these)."""
    ids = trace.span_ids | {s.span_id for s in spans}
    return [
        replace(
            s.step,
            parent_id=s.parent_id if s.parent_id in ids else "",
            start_ms=max(0.0, (s.start_ns - trace.root_start_ns) / 1e6),
            duration_ms=(s.end_ns - s.start_ns) / 1e6,
        )
        for s in sorted(spans, key=lambda s: s.start_ns)
    ]


def call_of(spans: Sequence[TraceSpan], call_id: str = "") -> pb.LoggedCall:
    """A root span and the spans below it (each once) as a logged call (under ``call_id``, by
    default the trace's id): the root's input, output (text under "response"), error and
    duration; its steps every span, times from the root's start; its tokens and cost its steps'
    sums; its session, user, service and model the root's, else the first span's that says one."""
    unique = list({s.span_id: s for s in spans}.values())
    unique.sort(key=lambda s: (not s.root, s.start_ns))
    root = unique[0]
    assert root.root, "a call is made of a trace with its root span"
    steps = _steps(unique[:MAX_SPANS], root.start_ns)
    prompt, completion, cost = used(steps)  # each step's own: their sum may pass what a count holds
    prompt, completion = min(prompt, MAX_COUNT), min(completion, MAX_COUNT)
    said: dict[str, Any] = {}
    for span in [root, *unique]:
        for key, value in span.call.items():
            said.setdefault(key, value)
    metadata = {**said.pop("metadata", {}), **{k: v for k, v in said.items() if k in ("service", "model", "user")}}
    metadata["otel_span"] = root.step.name
    call = pb.LoggedCall(
        call_id=call_id or root.trace_id,
        trace_id=root.trace_id,
        session_id=said.get("session_id", ""),
        status="errored" if root.step.error else "completed",
        error=root.step.error,
        latency_ms=(root.end_ns - root.start_ns) / 1e6,
        prompt_tokens=prompt,
        completion_tokens=completion,
        spans=[s.to_proto() for s in steps],
    )
    call.inputs.update(_keyed(root.step.input, "input"))
    call.outputs.update(_keyed(root.step.output, OUTPUT_FIELD))
    call.metadata.update(_keyed(metadata, "metadata"))
    if cost is not None:
        call.cost_usd = cost
    return call


def _keyed(value: Any, key: str) -> dict[str, Any]:
    """A call's inputs or outputs: the root's value when an object, else under ``key`` (an output
    under "response", which heuristics read by default, as the SDK keeps a system's answer)."""
    if value is None:
        return {}
    shown = storable(value)
    return shown if isinstance(shown, dict) else {key: shown}


def _steps(spans: Sequence[TraceSpan], start_ns: int) -> list[Span]:
    """The spans as steps, made what the server takes (a parent left out makes its children
    top-level)."""
    ids = {s.span_id for s in spans}
    steps = [
        replace(
            s.step,
            parent_id=s.parent_id if s.parent_id in ids and not s.root else "",
            start_ms=max(0.0, (s.start_ns - start_ns) / 1e6),
            duration_ms=(s.end_ns - s.start_ns) / 1e6,
        )
        for s in spans
    ]
    _acyclic(steps)
    fit(steps)
    return steps


def _acyclic(steps: Sequence[Span]) -> None:
    """A step whose parents lead back to it (spans naming each other) made top-level."""
    parent = {s.id: s.parent_id for s in steps}
    for step in steps:
        seen, above = {step.id}, parent[step.id]
        while above and above not in seen:
            seen.add(above)
            above = parent.get(above, "")
        if above == step.id:
            step.parent_id = parent[step.id] = ""
