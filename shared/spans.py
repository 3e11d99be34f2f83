"""The steps of one call of a system (spans): what it retrieved, which model it asked, which tools
it ran — a tree, each step naming the step it ran inside, its times offsets from the call's start.

Records carry them in from the SDK (IngestRecords) or an http system's answer, logged calls from
production (LogCalls); each is checked here. A record's travel with it on record.produced and are
stored with it (``record_spans``, by the orchestrator's record store), a call's with the call
(``call_spans``): read one record or call at a time, never by the lists, and given back as sent.
Records are found by them with conditions on their steps (``step_condition``: ListRecords' steps,
the console's step filters).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from scorekeeper.v1 import spans_pb2

from scorekeeper_sdk.tracing import (
    MAX_ERROR_CHARS,
    MAX_ID_CHARS,
    MAX_KIND_CHARS,
    MAX_NAME_CHARS,
    MAX_SPANS,
    MAX_SPANS_BYTES,
)
from shared.edge.convert import dict_to_struct, python_to_value, struct_to_dict, value_to_python
from shared.json_limits import unstorable


def parse(spans: Sequence[spans_pb2.Span], where: str) -> list[dict[str, Any]]:
    """The steps as JSON objects, checked: ValueError names the first that breaks a rule as
    ``{where}[j].field`` (``where``: the list, "records[2].spans"). Empty when there are none."""
    if len(spans) > MAX_SPANS:
        raise ValueError(f"{where} holds {len(spans):,} steps, at most {MAX_SPANS:,}")
    parsed = [_one(s, f"{where}[{j}]") for j, s in enumerate(spans)]
    at: dict[str, int] = {}
    for j, span in enumerate(parsed):
        if span["id"] in at:
            raise ValueError(f"{where}[{j}].id {span['id']!r} repeats the id of {where}[{at[span['id']]}]")
        at[span["id"]] = j
    for j, span in enumerate(parsed):
        parent = span["parent_id"]
        if parent and parent not in at:
            raise ValueError(f"{where}[{j}].parent_id {parent!r} names no step of the call")
    _no_cycle(parsed, at, where)
    if parsed and (reason := unstorable(parsed, MAX_SPANS_BYTES, "a call's steps")):
        raise ValueError(f"{where} cannot be stored: {reason}")
    _keyed(parsed)
    return parsed


# What _keyed keeps with each stored step for GetRunSteps, never given back.
STORED_ONLY = ("parent_name", "repeat")


def _keyed(parsed: list[dict[str, Any]]) -> None:
    """What GetRunSteps sums the steps by, kept with each (never given back): the name of the step
    it ran inside (``parent_name``), and ``repeat`` when an earlier step of the call has the same
    name, kind and parent — so a run's steps are summed without joining each call's steps."""
    names = {s["id"]: s["name"] for s in parsed}
    seen: set[tuple[str, str, str]] = set()
    for step in parsed:
        parent = names[step["parent_id"]] if step["parent_id"] else ""
        if parent:
            step["parent_name"] = parent
        key = (step["name"], step["kind"], parent)
        if key in seen:
            step["repeat"] = True
        seen.add(key)


def parse_json(value: Any, where: str) -> list[dict[str, Any]]:
    """Steps given as JSON (a list of objects with Span's fields: an HTTP system's answer),
    checked as ``parse`` checks them; ValueError naming what is wrong."""
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of steps, got {type(value).__name__}")
    if len(value) > MAX_SPANS:
        raise ValueError(f"{where} holds {len(value):,} steps, at most {MAX_SPANS:,}")
    messages = []
    for j, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{j}] must be an object, got {type(item).__name__}")
        try:
            messages.append(json_format.ParseDict(item, spans_pb2.Span()))
        except json_format.ParseError as exc:
            raise ValueError(f"{where}[{j}]: {exc}") from None
    return parse(messages, where)


def _one(span: spans_pb2.Span, where: str) -> dict[str, Any]:
    if not 1 <= len(span.id) <= MAX_ID_CHARS:
        raise ValueError(f"{where}.id must be 1..{MAX_ID_CHARS} characters, got {len(span.id)}")
    if not len(span.name.strip()) >= 1 or len(span.name) > MAX_NAME_CHARS:
        raise ValueError(f"{where}.name must be 1..{MAX_NAME_CHARS} characters (not blank)")
    if len(span.kind) > MAX_KIND_CHARS:
        raise ValueError(f"{where}.kind must be at most {MAX_KIND_CHARS} characters, got {len(span.kind)}")
    if len(span.error) > MAX_ERROR_CHARS:
        raise ValueError(f"{where}.error must be at most {MAX_ERROR_CHARS:,} characters")
    for field in ("start_ms", "duration_ms", "prompt_tokens", "completion_tokens", "cost_usd"):
        value = getattr(span, field)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}.{field} must be a number >= 0, got {value}")
    if span.parent_id == span.id:
        raise ValueError(f"{where}.parent_id names the step itself")
    out: dict[str, Any] = {
        "id": span.id,
        "parent_id": span.parent_id,
        "name": span.name,
        "kind": span.kind,
        "start_ms": span.start_ms,
        "duration_ms": span.duration_ms,
    }
    if span.HasField("input"):
        out["input"] = value_to_python(span.input)
    if span.HasField("output"):
        out["output"] = value_to_python(span.output)
    if span.error:
        out["error"] = span.error
    if span.metadata.fields:
        out["metadata"] = struct_to_dict(span.metadata)
    if span.prompt_tokens or span.completion_tokens:
        out["prompt_tokens"], out["completion_tokens"] = span.prompt_tokens, span.completion_tokens
    if span.HasField("cost_usd"):
        out["cost_usd"] = span.cost_usd
    return out


def _no_cycle(parsed: list[dict[str, Any]], at: dict[str, int], where: str) -> None:
    """Walking up from every step reaches a top-level step (its parents exist: checked before);
    each step is walked through once."""
    rooted: set[int] = set()
    for j in range(len(parsed)):
        path, k = [j], j
        while k not in rooted and (parent := parsed[k]["parent_id"]):
            k = at[parent]
            if k in path:
                raise ValueError(f"{where}[{j}] is its own ancestor: its parents form a cycle")
            path.append(k)
        rooted.update(path)


_TEXTS = ("parent_id", "kind", "error", "parent_name")
_COUNTS = ("prompt_tokens", "completion_tokens")


def well_formed(steps: list[dict[str, Any]]) -> bool:
    """Whether steps carried on record.produced are as ``parse`` makes them (the record store keeps
    no others: a producer that did not check them would break the reads that sum them)."""
    if len(steps) > MAX_SPANS:
        return False
    for step in steps:
        if not isinstance(step.get("id"), str) or not isinstance(step.get("name"), str):
            return False
        if any(not isinstance(step.get(k, ""), str) for k in _TEXTS) or not isinstance(step.get("repeat", True), bool):
            return False
        numbers = [step.get("start_ms", 0), step.get("duration_ms", 0), step.get("cost_usd", 0) or 0]
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf for v in numbers):
            return False
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (step.get(k, 0) for k in _COUNTS)):
            return False
    return True


def span_pb(span: dict[str, Any]) -> spans_pb2.Span:
    """A stored step as the API gives it back."""
    message = spans_pb2.Span(
        id=span["id"],
        parent_id=span.get("parent_id", ""),
        name=span["name"],
        kind=span.get("kind", ""),
        start_ms=span.get("start_ms", 0.0),
        duration_ms=span.get("duration_ms", 0.0),
        error=span.get("error", ""),
        prompt_tokens=span.get("prompt_tokens", 0),
        completion_tokens=span.get("completion_tokens", 0),
    )
    if "input" in span:
        message.input.CopyFrom(python_to_value(span["input"]))
    if "output" in span:
        message.output.CopyFrom(python_to_value(span["output"]))
    if span.get("metadata"):
        message.metadata.CopyFrom(dict_to_struct(span["metadata"]))
    if span.get("cost_usd") is not None:
        message.cost_usd = span["cost_usd"]
    return message


# A condition on the steps a record's call took: "<name>", "<name>:failed", "<name>:gt|lt:<ms>";
# the name "*" is any step.
ANY_STEP = "*"
MAX_STEP_CONDITIONS = 10
_TIMED = re.compile(r"^(?P<name>.*):(?P<op>gt|lt):(?P<ms>[^:]*)$", re.IGNORECASE)
_FAILED = re.compile(r"^(?P<name>.*):failed$", re.IGNORECASE)


@dataclass(frozen=True)
class StepCondition:
    """ "retrieve:failed": the record's call took a step named ``name`` (any step: ``*``) that
    failed (``op`` failed); "retrieve:gt:500": one that took longer than 500 ms (gt, lt);
    "retrieve": took one (took)."""

    name: str
    op: str
    value: float | None = None


def step_condition(text: str) -> StepCondition:
    """A condition read from its text, the suffix from the end (a name may hold colons);
    ValueError saying what is wrong."""
    shown = f"steps condition {text[:100]!r}"
    if timed := _TIMED.match(text):
        try:
            ms = float(timed["ms"])
        except ValueError:
            raise ValueError(f"{shown}: {timed['ms'].strip()[:40]!r} is not a number") from None
        if not math.isfinite(ms):
            raise ValueError(f"{shown}: the value must be a finite number")
        found = StepCondition(timed["name"].strip(), timed["op"].lower(), ms)
    elif failed := _FAILED.match(text):
        found = StepCondition(failed["name"].strip(), "failed")
    else:
        found = StepCondition(text.strip(), "took")
    if not found.name:
        raise ValueError(
            f"{shown} names no step; write <name>, <name>:failed, <name>:gt:<ms> or <name>:lt:<ms>"
            f" ({ANY_STEP} for any step)"
        )
    if len(found.name) > MAX_NAME_CHARS:
        raise ValueError(f"{shown}: a step's name is at most {MAX_NAME_CHARS} characters")
    return found
