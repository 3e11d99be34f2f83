"""The steps of a call (spans): how the SDK collects them (nested, per call, from threads and
tasks apart, cut to what the server keeps), how the server checks them (naming the step that breaks
a rule) and how the pages order them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from scorekeeper.v1 import spans_pb2

from scorekeeper_sdk import Span, current_span, span, trace
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.evaluate.outputs import completed, errored
from scorekeeper_sdk.tracing import MAX_SPANS, MAX_SPANS_BYTES, MAX_VALUE_CHARS, in_tree, steps_of
from services.console.steps import steps
from services.query.run_steps import summaries
from shared.spans import parse, span_pb, well_formed


@span("answer", kind="llm")
def answer(question: str, docs: list[str]) -> str:
    return f"{question} -> {len(docs)} docs"


@span("lookup", kind="tool")
async def lookup(key: str) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"key": key}


def test_steps_nest_and_keep_their_input_output_usage_and_error() -> None:
    with trace() as t:
        with span("pipeline", kind="chain", input={"q": "why"}) as top:
            with span("retrieve", kind="retrieval") as step:
                step.output = ["d1", "d2"]
                step.metadata = {"index": "v2"}
            answer("why", ["d1", "d2"])
            with pytest.raises(KeyError), span("rerank"):
                raise KeyError("no model")
            top.prompt_tokens, top.completion_tokens, top.cost_usd = 12, 3, 0.0004
        with span("after"):
            pass
    shape = [(s.id, s.parent_id, s.name, s.kind) for s in t.spans]
    assert shape == [
        ("1", "", "pipeline", "chain"),
        ("2", "1", "retrieve", "retrieval"),
        ("3", "1", "answer", "llm"),
        ("4", "1", "rerank", ""),
        ("5", "", "after", ""),
    ]
    pipeline, retrieve, said, rerank, _ = t.spans
    assert (pipeline.input, pipeline.prompt_tokens, pipeline.completion_tokens, pipeline.cost_usd) == (
        {"q": "why"},
        12,
        3,
        0.0004,
    )
    assert (retrieve.output, retrieve.metadata) == (["d1", "d2"], {"index": "v2"})
    assert (said.input, said.output) == ({"question": "why", "docs": ["d1", "d2"]}, "why -> 2 docs")
    assert rerank.error == "KeyError: 'no model'"
    assert all(s.start_ms >= 0 and s.duration_ms >= 0 for s in t.spans)
    assert pipeline.duration_ms >= retrieve.duration_ms and said.start_ms >= retrieve.start_ms
    assert t.elapsed_ms >= pipeline.duration_ms


def test_outside_a_trace_a_step_keeps_nothing_and_changes_nothing() -> None:
    assert answer("q", []) == "q -> 0 docs"
    with span("alone") as step:
        step.output = 1
    with trace() as t:
        pass
    assert t.spans == []


async def test_calls_in_flight_at_once_keep_their_own_steps() -> None:
    async def system(n: int) -> list[Span]:
        with trace() as t:
            async with span("call", input=n):
                await asyncio.sleep(0.01 * (3 - n))
                await lookup(f"k{n}")
        return t.spans

    done = await asyncio.gather(*(system(n) for n in range(3)))
    for n, spans in enumerate(done):
        assert [(s.name, s.parent_id, s.input) for s in spans] == [("call", "", n), ("lookup", "1", {"key": f"k{n}"})]
        assert spans[1].output == {"key": f"k{n}"}


def test_steps_are_cut_to_what_the_server_keeps() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    with trace() as t:
        with span("big", input="x" * (MAX_VALUE_CHARS + 10)) as big:
            big.output = Opaque()
        for i in range(MAX_SPANS + 5):
            with span(f"s{i}", input="y" * 300):
                pass
    assert len(t.spans) == MAX_SPANS and t.dropped == 6
    assert t.spans[0].input.endswith(f"… ({MAX_VALUE_CHARS + 10:,} characters; shortened)")
    assert t.spans[0].output == "<Opaque>"
    sent = [s.to_proto() for s in t.spans]
    parsed = parse(sent, "records[0].spans")  # the server takes them as they are
    assert len(json.dumps(parsed)) <= MAX_SPANS_BYTES


def test_the_server_names_the_step_that_breaks_a_rule() -> None:
    def spans(*given: dict[str, Any]) -> list[spans_pb2.Span]:
        return [spans_pb2.Span(**{"name": "s", **g}) for g in given]

    for given, message in [
        (spans({"id": ""}), r"records\[2\]\.spans\[0\]\.id must be 1\.\.100 characters, got 0"),
        (spans({"id": "a", "name": " "}), r"records\[2\]\.spans\[0\]\.name must be 1\.\.200 characters \(not blank\)"),
        (
            spans({"id": "a"}, {"id": "a"}),
            r"records\[2\]\.spans\[1\]\.id 'a' repeats the id of records\[2\]\.spans\[0\]",
        ),
        (spans({"id": "a", "parent_id": "zz"}), r"spans\[0\]\.parent_id 'zz' names no step of the call"),
        (spans({"id": "a", "parent_id": "a"}), r"spans\[0\]\.parent_id names the step itself"),
        (
            spans({"id": "a", "parent_id": "b"}, {"id": "b", "parent_id": "a"}),
            r"spans\[0\] is its own ancestor: its parents form a cycle",
        ),
        (spans({"id": "a", "duration_ms": -1}), r"spans\[0\]\.duration_ms must be a number >= 0, got -1\.0"),
        (spans({"id": "a", "start_ms": float("nan")}), r"spans\[0\]\.start_ms must be a number >= 0, got nan"),
        (spans({"id": "a", "kind": "k" * 51}), r"spans\[0\]\.kind must be at most 50 characters, got 51"),
        (spans(*({"id": str(i)} for i in range(1001))), r"records\[2\]\.spans holds 1,001 steps, at most 1,000"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse(given, "records[2].spans")
    huge = spans({"id": "a"})
    huge[0].output.string_value = "z" * MAX_SPANS_BYTES
    with pytest.raises(ValueError, match=r"calls\[0\]\.spans cannot be stored: it is 262,2\d\d bytes of JSON, more"):
        parse(huge, "calls[0].spans")


def test_a_step_comes_back_as_it_was_sent() -> None:
    sent = Span(
        id="7",
        name="answer",
        parent_id="",
        kind="llm",
        start_ms=1.5,
        duration_ms=20.25,
        input={"messages": [{"role": "user", "content": "hi"}]},
        output="hello",
        error="",
        metadata={"model": "m-1"},
        prompt_tokens=5,
        completion_tokens=2,
        cost_usd=0.001,
    )
    (stored,) = parse([sent.to_proto()], "calls[0].spans")
    assert from_proto(Span, span_pb(json.loads(json.dumps(stored)))) == sent


def test_pages_show_the_steps_as_a_tree_on_the_calls_timeline() -> None:
    given = [
        Span(id="b", name="answer", start_ms=40, duration_ms=60),
        Span(id="a", name="retrieve", start_ms=0, duration_ms=40),
        Span(id="c", name="embed", parent_id="a", start_ms=0, duration_ms=10),
        Span(id="d", name="orphan", parent_id="gone", start_ms=100, duration_ms=0),
    ]
    assert [(depth, s.id) for depth, s in in_tree(given)] == [(0, "a"), (1, "c"), (0, "b"), (0, "d")]
    shown = steps([s.to_proto() for s in given])
    assert [(s.span.name, s.depth, s.left, s.width) for s in shown] == [
        ("retrieve", 0, 0.0, 40.0),
        ("embed", 1, 0.0, 10.0),
        ("answer", 0, 40.0, 60.0),
        ("orphan", 0, 99.6, 0.4),
    ]


def test_a_command_system_reports_its_steps_with_its_answer() -> None:
    steps_given = [{"id": "1", "name": "search", "kind": "retrieval", "duration_ms": 3, "output": ["d"]}]
    record = completed("t1", 0, {"answer": "4", "_scorekeeper": {"spans": steps_given}}, 5.0)
    assert (record.status, record.outputs) == ("completed", {"answer": "4"})
    assert [(s.name, s.kind, s.output) for s in record.spans] == [("search", "retrieval", ["d"])]
    bad = completed("t1", 0, {"answer": "4", "_scorekeeper": {"spans": [{"id": "1", "nam": "x"}]}}, 5.0)
    assert (bad.status, bad.error) == ("errored", "ValueError: a span has unknown keys: nam")


def test_whatever_a_step_was_given_the_server_takes_it() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    nested: Any = []
    for _ in range(100):
        nested = [nested]
    with trace() as t, span("  ", kind="k" * 80, input={"a\x00b": "nul \x00 here", 1: ("t", float("nan"))}) as step:
        step.output = {"lone": "\ud800", "thing": Thing(), "deep": nested}
        step.metadata = {"when": Thing()}
        step.prompt_tokens, step.completion_tokens, step.cost_usd = -3, 2.5, float("inf")  # type: ignore[assignment]
        step.error = "e" * 20_000
    (step,) = t.spans
    assert (step.name, len(step.kind), len(step.error)) == ("step", 50, 10_000)
    assert step.input == {"a\\u0000b": "nul \\u0000 here", "1": ["t", "nan"]}
    assert (step.output["lone"], step.output["thing"], step.metadata) == ("\\ud800", "<Thing>", {"when": "<Thing>"})
    assert (step.prompt_tokens, step.completion_tokens, step.cost_usd) == (0, 2, None)
    (stored,) = parse([step.to_proto()], "records[0].spans")  # no rule broken
    assert stored["input"] == step.input


def test_steps_given_as_dicts_are_checked_before_they_are_sent() -> None:
    cases: list[tuple[list[Any], str]] = [
        ([{"id": "1", "name": "a"}, {"id": "1", "name": "b"}], "two steps have the id '1'"),
        ([{"id": "1", "name": "a", "parent_id": "0"}], "step '1' names a parent that is not a step: '0'"),
        ([{"id": "a", "name": "a", "parent_id": "b"}, {"id": "b", "name": "b", "parent_id": "a"}], "its own ancestor"),
        ([{"id": "", "name": "a"}], "a step's id must be text of 1..100 characters"),
        (["retrieve"], "a span must be a scorekeeper_sdk.Span or a dict, got str"),
    ]
    for given, message in cases:
        with pytest.raises(ValueError, match=message):
            steps_of(given)


def test_a_call_that_says_no_usage_used_what_its_steps_did() -> None:
    steps = [
        Span(id="1", name="plan", prompt_tokens=10, completion_tokens=2, cost_usd=0.001),
        Span(id="2", name="answer", parent_id="1", prompt_tokens=30, completion_tokens=5, cost_usd=0.002),
        Span(id="3", name="search"),
    ]
    summed = completed("t1", 0, "4", 5.0, steps)
    assert (summed.prompt_tokens, summed.completion_tokens) == (40, 7) and summed.cost_usd == pytest.approx(0.003)
    said = completed("t1", 0, {"answer": "4", "_scorekeeper": {"prompt_tokens": 3}}, 5.0, steps)
    assert (said.prompt_tokens, said.completion_tokens, said.cost_usd) == (3, 0, None)  # the answer's own word
    failed = errored("t1", 0, KeyError("x"), 5.0, steps[2:])
    assert (failed.prompt_tokens, failed.cost_usd, [s.name for s in failed.spans]) == (0, None, ["search"])


def test_a_traced_method_takes_its_arguments_as_input_not_its_object() -> None:
    class Bot:
        @span("ask", kind="llm")
        def ask(self, question: str, *, temperature: float = 0.0) -> str:
            return question.upper()

    with trace() as t:
        assert Bot().ask("hi", temperature=0.5) == "HI"
    assert [(s.name, s.input, s.output) for s in t.spans] == [("ask", {"question": "hi", "temperature": 0.5}, "HI")]


def test_each_stored_step_keeps_what_a_run_sums_it_by() -> None:
    given = [
        Span(id="a", name="plan"),
        Span(id="b", name="search", kind="tool", parent_id="a"),
        Span(id="c", name="search", kind="tool", parent_id="a"),
        Span(id="d", name="search", kind="tool"),
    ]
    stored = parse([s.to_proto() for s in given], "records[0].spans")
    assert [(s.get("parent_name"), s.get("repeat")) for s in stored] == [
        (None, None),
        ("plan", None),
        ("plan", True),  # the same step again in the same call: one record took it, twice
        (None, None),
    ]
    assert [from_proto(Span, span_pb(s)) for s in stored] == given  # never given back


def test_steps_carried_on_the_bus_are_kept_only_well_formed() -> None:
    stored = parse(
        [Span(id="1", name="a", cost_usd=0.1).to_proto(), Span(id="2", name="b", parent_id="1").to_proto()], "x"
    )
    assert well_formed(stored)
    for broken in (
        [{"name": "no id"}],
        [{"id": "1", "name": "a", "duration_ms": "slow"}],
        [{"id": "1", "name": "a", "start_ms": -1}],
        [{"id": "1", "name": "a", "prompt_tokens": 1.5}],
        [{"id": "1", "name": "a", "kind": 7}],
        [{"id": "1", "name": "a", "repeat": "yes"}],
        [{"id": "1", "name": "a", "cost_usd": float("nan")}],
    ):
        assert not well_formed(broken), broken


def test_a_decorated_function_says_what_it_used_through_the_open_step() -> None:
    @span("complete", kind="llm")
    def complete(prompt: str) -> str:
        if (step := current_span()) is not None:  # None when nothing traces the call
            step.prompt_tokens, step.completion_tokens, step.cost_usd = len(prompt), 1, 0.0002
        return "ok"

    assert current_span() is None and complete("four") == "ok"  # outside a trace: nothing open, nothing kept
    with trace() as t, span("outer"):
        assert current_span() is not None and current_span().name == "outer"  # type: ignore[union-attr]
        complete("four")
    assert [(s.name, s.parent_id, s.prompt_tokens, s.cost_usd) for s in t.spans] == [
        ("outer", "", 0, None),
        ("complete", "1", 4, 0.0002),
    ]


def test_a_runs_step_summaries_come_as_a_tree() -> None:
    def row(name: str, parent: str = "") -> dict[str, Any]:
        zero = dict.fromkeys(("records", "taken", "failed", "prompt_tokens", "completion_tokens", "costed"), 0)
        times = dict.fromkeys(("mean_ms", "p50_ms", "p95_ms", "max_ms", "mean_start_ms", "cost_usd"), 0.0)
        return {"name": name, "kind": "", "parent": parent, **zero, **times}

    rows = [row("retrieve"), row("answer"), row("embed", "retrieve"), row("a", "b"), row("b", "a"), row("tool", "gone")]
    summed = summaries(rows)  # type: ignore[arg-type]
    assert [(s.name, s.depth) for s in summed] == [
        ("retrieve", 0),
        ("embed", 1),
        ("answer", 0),
        ("tool", 0),  # its parent is not among them (beyond the limit): top-level
        ("a", 0),  # only a cycle reaches them: last
        ("b", 0),
    ]
