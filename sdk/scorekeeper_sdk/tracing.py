"""The steps of a call of your system (spans): what it retrieved, which model it asked, which tools
it ran — kept with the record (``run_and_evaluate``) or the logged call (``client.log``) and shown
on its page as a tree with a timeline.

Mark a step with ``span`` as a context manager or a decorator; steps opened inside another one are
its children::

    from scorekeeper_sdk import span

    @span("answer", kind="llm")          # input: the arguments; output: what it returns
    def answer(question, docs): ...

    def my_system(inputs):
        with span("retrieve", kind="retrieval", input=inputs["question"]) as step:
            docs = search(inputs["question"])
            step.output = [d.id for d in docs]
        return answer(inputs["question"], docs)

``run_and_evaluate`` collects the steps of each call by itself. Elsewhere (production), collect
them with ``trace``::

    with trace() as t:
        reply = my_system(inputs)
    client.log(inputs=inputs, outputs=reply, latency_ms=t.elapsed_ms, spans=t.spans)

Outside a ``trace`` (and outside ``run_and_evaluate``), ``span`` costs next to nothing and keeps
nothing. Steps follow the context: those of threads your code starts itself are not collected
(``contextvars.copy_context().run`` carries the trace into one). Inputs and outputs that are not
JSON are kept as their ``repr``; the steps of one call are cut to what the server keeps (1,000
steps, 256 KiB: the longest values are shortened first).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from google.protobuf import json_format, struct_pb2
from scorekeeper.v1 import spans_pb2

from scorekeeper_sdk.exact_json import to_wire

log = logging.getLogger("scorekeeper_sdk")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# What the server keeps of one call's steps (shared.spans checks them; proto/…/spans.proto says them).
MAX_SPANS = 1_000
MAX_SPANS_BYTES = 256 * 1024
MAX_ID_CHARS = 100
MAX_NAME_CHARS = 200
MAX_KIND_CHARS = 50
MAX_ERROR_CHARS = 10_000
# A step's input or output longer than this (as JSON) is shortened to this many characters.
MAX_VALUE_CHARS = 16 * 1024
# Steps still larger than the server keeps: their values cut to this many characters, then to none.
_SHORTER = (200, 0)
# Fields a step leaves out as the server stores it (shared.spans) — but for its times and names.
_UNSET: tuple[Any, ...] = ("", {}, None)
# JSON nested deeper than this is kept as its repr (protobuf reads a message 100 levels deep,
# and each level of JSON is two of a Value).
_MAX_DEPTH = 40


@dataclass
class Span:
    """One step of a call: ``start_ms`` after the call started, for ``duration_ms``; inside the step
    ``parent_id`` (empty: a top-level step)."""

    id: str
    name: str
    parent_id: str = ""
    kind: str = ""
    start_ms: float = 0.0
    duration_ms: float = 0.0
    input: Any = None
    output: Any = None
    error: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def to_proto(self) -> spans_pb2.Span:
        message = spans_pb2.Span(
            id=self.id,
            parent_id=self.parent_id,
            name=self.name,
            kind=self.kind,
            start_ms=self.start_ms,
            duration_ms=self.duration_ms,
            error=self.error,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )
        if self.input is not None:
            message.input.CopyFrom(_value(self.input))
        if self.output is not None:
            message.output.CopyFrom(_value(self.output))
        if self.metadata:
            message.metadata.update(to_wire(self.metadata))
        if self.cost_usd is not None:
            message.cost_usd = self.cost_usd
        return message

    @classmethod
    def of(cls, data: dict[str, Any]) -> Span:
        """A step given as a dict of these fields (a ``--command`` system's ``_scorekeeper.spans``)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"a span has unknown keys: {', '.join(sorted(unknown))}")
        if not isinstance(data.get("id"), str) or not isinstance(data.get("name"), str):
            raise ValueError("a span needs an id and a name (text)")
        return cls(**data)


def _value(value: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    json_format.ParseDict(to_wire(value), message)
    return message


class Trace:
    """The steps collected while it is open, in the order they started; ``elapsed_ms`` since it
    opened (until it closed)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.dropped = 0
        self._started = time.perf_counter()
        self._ended: float | None = None
        self._ids = itertools.count(1)

    @property
    def elapsed_ms(self) -> float:
        return ((self._ended or time.perf_counter()) - self._started) * 1000

    def _offset_ms(self, at: float) -> float:
        return max(0.0, (at - self._started) * 1000)

    def _add(self, span: Span) -> bool:
        if len(self.spans) >= MAX_SPANS:
            self.dropped += 1
            return False
        self.spans.append(span)
        return True

    def _close(self) -> None:
        self._ended = time.perf_counter()
        fit(self.spans)
        if self.dropped:
            log.warning("a call had more than %d steps: %d were not kept", MAX_SPANS, self.dropped)


_TRACE: ContextVar[Trace | None] = ContextVar("scorekeeper_trace", default=None)
# The innermost step open in this context (kept in the trace): the parent of the next one.
_OPEN: ContextVar[Span | None] = ContextVar("scorekeeper_span", default=None)


def current_span() -> Span | None:
    """The innermost step open here (None outside one, or outside a trace): where a function
    decorated with ``span`` says what it used — ``current_span().prompt_tokens = 12``."""
    return _OPEN.get()


@contextmanager
def trace() -> Iterator[Trace]:
    """Collects the steps (``span``) of the code inside it; a trace opened inside another one
    collects its own."""
    collected = Trace()
    token = _TRACE.set(collected)
    parent = _OPEN.set(None)
    try:
        yield collected
    finally:
        _OPEN.reset(parent)
        _TRACE.reset(token)
        collected._close()


class span:
    """A step of the call being traced: ``with span("retrieve", kind="retrieval") as step:`` (set
    ``step.output``, ``step.metadata``, tokens, cost inside), or ``@span("answer")`` on a function
    (sync or async: its arguments are the input, what it returns the output). An exception that
    leaves the step is its error, and goes on."""

    def __init__(
        self,
        name: str,
        *,
        kind: str = "",
        input: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # Cut to what the server takes when its trace closes (fit).
        self.name, self.kind, self.input, self.metadata = name, kind, input, metadata
        self._span: Span | None = None
        self._started = 0.0
        self._token: Token[Span | None] | None = None

    # -- as a context manager
    def __enter__(self) -> Span:
        collecting = _TRACE.get()
        self._started = time.perf_counter()
        step = Span(
            id="",
            name=self.name,
            kind=self.kind,
            input=self.input,
            metadata=dict(self.metadata or {}),
            parent_id=open_step.id if (open_step := _OPEN.get()) is not None else "",
        )
        if collecting is not None:
            step.id = str(next(collecting._ids))
            step.start_ms = collecting._offset_ms(self._started)
            if collecting._add(step):
                self._token = _OPEN.set(step)
        self._span = step
        return step

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        assert self._span is not None
        self._span.duration_ms = (time.perf_counter() - self._started) * 1000
        if exc is not None and not self._span.error:
            message = str(exc)
            self._span.error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        if self._token is not None:
            _OPEN.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.__exit__(kind, exc, tb)

    # -- as a decorator
    def __call__(self, fn: F) -> F:
        name, kind, metadata = self.name, self.kind, self.metadata
        signature = inspect.signature(fn)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return None
            # A method's own object is not what the step was given.
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                if _TRACE.get() is None:
                    return await fn(*args, **kwargs)
                with span(name, kind=kind, input=arguments(args, kwargs), metadata=metadata) as step:
                    step.output = result = await fn(*args, **kwargs)
                    return result

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if _TRACE.get() is None:
                return fn(*args, **kwargs)
            with span(name, kind=kind, input=arguments(args, kwargs), metadata=metadata) as step:
                step.output = result = fn(*args, **kwargs)
                return result

        return run  # type: ignore[return-value]


def _text(text: str) -> str:
    """Text the server stores as it is: NUL shown as \\u0000, an unpaired surrogate escaped."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _plain(value: Any, depth: int = 0) -> Any:
    """The value as JSON the server stores: texts made storable, what JSON cannot hold (objects,
    NaN, nesting deeper than the server takes) as its repr."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return {_text(str(k)): _plain(v, depth + 1) for k, v in value.items()}
    if depth < _MAX_DEPTH and isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return _text(repr(value))


def _json(value: Any) -> tuple[Any, str]:
    """The value as the server stores it (see _plain), and its JSON text."""
    try:  # the common case, at the JSON encoder's speed
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
        if "\\u0000" not in text and text.count("[") + text.count("{") < _MAX_DEPTH:
            # What JSON reads back: tuples become lists, keys text, as the server will hold them.
            return (value if isinstance(value, str | int | float) else json.loads(text)), text
    except (TypeError, ValueError, RecursionError):
        pass
    value = _plain(value)
    return value, json.dumps(value, ensure_ascii=False)


def storable(value: Any) -> Any:
    """The value as the server stores it: JSON whose texts it can hold (see _plain)."""
    return _json(value)[0]


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 2**31 else 0


def _clean(step: Span) -> None:
    """What the step holds besides its input and output, as the server takes it."""
    step.name = _text(str(step.name or "")).strip()[:MAX_NAME_CHARS] or "step"
    step.kind = _text(str(step.kind or ""))[:MAX_KIND_CHARS]
    step.error = _text(str(step.error or ""))[:MAX_ERROR_CHARS]
    for name in ("start_ms", "duration_ms"):
        value = getattr(step, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        setattr(step, name, float(value) if ok else 0.0)
    step.prompt_tokens, step.completion_tokens = _count(step.prompt_tokens), _count(step.completion_tokens)
    cost = step.cost_usd
    ok = isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost) and cost >= 0
    step.cost_usd = float(cost) if ok else None  # type: ignore[arg-type]
    metadata = _plain(step.metadata) if step.metadata else {}
    step.metadata = metadata if isinstance(metadata, dict) else {"value": metadata}


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _shortened(value: Any, text: str, chars: int) -> Any:
    """The value cut to ``chars`` characters (a text as itself, anything else as its JSON),
    saying how long it was; the value itself when it is no longer than that."""
    whole = value if isinstance(value, str) else text
    if len(whole) <= chars:
        return value
    return whole[:chars] + f"… ({len(whole):,} characters; shortened)"


def fit(spans: list[Span]) -> None:
    """Each step made what the server takes (its texts storable, its numbers counts and amounts),
    its input and output JSON and at most MAX_VALUE_CHARS; then, while the steps are larger than
    the server keeps, the largest values shortened first."""
    values: list[tuple[Span, str, Any, str]] = []  # the step, "input" / "output", the value, its JSON
    total = 0
    for step in spans:
        _clean(step)
        for name in ("input", "output"):
            given = getattr(step, name)
            if given is None:
                continue
            value, text = _json(given)
            setattr(step, name, _shortened(value, text, MAX_VALUE_CHARS))
            values.append((step, name, value, text))
            total += _size(getattr(step, name))
        total += _size({k: v for k, v in asdict(step).items() if k not in ("input", "output") and v not in _UNSET})
    budget = MAX_SPANS_BYTES - 4 * 1024  # room for what the server's JSON adds
    largest_first = sorted(values, key=lambda v: -len(v[3]))
    for chars in _SHORTER:
        for step, name, value, text in largest_first:
            if total <= budget:
                return
            before = _size(getattr(step, name))
            setattr(step, name, _shortened(value, text, chars))
            total -= before - _size(getattr(step, name))


def steps_of(spans: list[Any]) -> list[Span]:
    """Steps given as Span objects or dicts, made what the server takes; ValueError naming what
    no cleaning can mend (a repeated or missing id, a parent that is not a step, a cycle)."""
    steps = [s if isinstance(s, Span) else Span.of(s) if isinstance(s, dict) else _not_a_span(s) for s in spans]
    if len(steps) > MAX_SPANS:
        raise ValueError(f"{len(steps):,} steps: at most {MAX_SPANS:,}")
    ids = [s.id for s in steps]
    if any(not isinstance(i, str) or not 1 <= len(i) <= MAX_ID_CHARS for i in ids):
        raise ValueError(f"a step's id must be text of 1..{MAX_ID_CHARS} characters")
    if len(set(ids)) < len(ids):
        raise ValueError(f"two steps have the id {next(i for i in ids if ids.count(i) > 1)!r}")
    parents = {s.id: s.parent_id for s in steps}
    for step in steps:
        seen, at = {step.id}, step.parent_id
        while at:
            if at not in parents:
                raise ValueError(f"step {step.id!r} names a parent that is not a step: {at!r}")
            if at in seen:
                raise ValueError(f"step {step.id!r} is its own ancestor")
            seen.add(at)
            at = parents[at]
    fit(steps)
    return steps


def _not_a_span(value: Any) -> Span:
    raise ValueError(f"a span must be a scorekeeper_sdk.Span or a dict, got {type(value).__name__}")


def step_time(ms: float) -> str:
    """When a step started or how long it took, as the pages and the CLI say it: "0 ms",
    "<0.01 ms", "0.35 ms", "2.5 ms", "120 ms", "12.4 s"."""
    if ms <= 0:
        return "0 ms"
    if ms < 0.01:
        return "<0.01 ms"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def in_tree(spans: Sequence[Span]) -> list[tuple[int, Span]]:
    """The steps depth first, each after the step it ran in, siblings by when they started; with
    their depth (0: a top-level step). A step whose parent is not among them counts as top-level."""
    return depth_first(sorted(spans, key=lambda s: s.start_ms), lambda s: s.id, lambda s: s.parent_id)


def depth_first(items: Sequence[T], key: Callable[[T], str], parent: Callable[[T], str]) -> list[tuple[int, T]]:
    """The items as a tree, depth first: each after the item its ``parent`` names (by ``key``),
    siblings in the order given, with its depth (0: no parent among them). A key several items
    share has its children shown once, under the first; items only a cycle reaches come last."""
    keys = {key(i) for i in items}
    children: dict[str, list[T]] = {}
    for item in items:
        named = parent(item)
        children.setdefault(named if named in keys else "", []).append(item)
    ordered: list[tuple[int, T]] = []
    stack = [(0, i) for i in reversed(children.get("", []))]
    expanded: set[str] = set()
    while stack:
        depth, item = stack.pop()
        ordered.append((depth, item))
        if key(item) not in expanded:
            expanded.add(key(item))
            stack.extend((depth + 1, c) for c in reversed(children.get(key(item), [])))
    placed = {id(i) for _, i in ordered}
    return ordered + [(0, i) for i in items if id(i) not in placed]
