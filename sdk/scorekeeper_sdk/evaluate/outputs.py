"""What a system's answer becomes in a record: outputs, tokens, cost, or an error.

A system (the callable of ``run_and_evaluate``, a ``--command`` of ``scorekeeper eval``) returns:

- a dict: the record's outputs, as they are;
- any other JSON value (a string, a number, a list …): the outputs ``{"response": value}``, the
  field heuristic metrics read by default (``output_field`` "response");
- an :class:`Output`, or a dict carrying the reserved key ``"_scorekeeper"``, to report usage
  with the answer: ``{"answer": "4", "_scorekeeper": {"prompt_tokens": 12, "completion_tokens": 3,
  "cost_usd": 0.0004, "metadata": {"model": "gpt-x"}}}``. The reserved key is removed from the
  outputs; ``metadata`` is kept in the outputs under ``"_metadata"`` (a record has no field of its
  own for it), where metrics that read named fields never look. ``"spans"`` there (a list of
  objects with the fields of :class:`scorekeeper_sdk.Span`) are the call's steps: how a
  ``--command`` system, which cannot use ``scorekeeper_sdk.span``, reports them.

An exception raised by the system becomes an errored record whose error is
``"<ExceptionType>: <message>"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scorekeeper_sdk.api.runs import RecordIn
from scorekeeper_sdk.tracing import Span, steps_of

RESERVED = "_scorekeeper"
METADATA = "_metadata"
OUTPUT_FIELD = "response"
MAX_ERROR_CHARS = 10_000
# The server takes a record of at most 1,000,000 bytes; a little is left for the other fields.
MAX_OUTPUT_BYTES = 990_000


@dataclass(frozen=True)
class Output:
    """An answer with its usage: ``return Output({"answer": "4"}, prompt_tokens=12, cost_usd=0.0004)``."""

    outputs: Any
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    metadata: dict[str, Any] | None = None
    spans: list[dict[str, Any]] | None = None


class OutputError(ValueError):
    """The system's answer cannot be a record (not JSON, too large, bad usage fields)."""


def _usage(value: Any) -> Output:
    if not isinstance(value, dict):
        raise OutputError(
            f"{RESERVED} must be an object with prompt_tokens, completion_tokens, cost_usd, metadata, spans"
        )
    unknown = set(value) - {"prompt_tokens", "completion_tokens", "cost_usd", "metadata", "spans"}
    if unknown:
        raise OutputError(f"{RESERVED} has unknown keys: {', '.join(sorted(unknown))}")
    return Output(
        outputs=None,
        prompt_tokens=value.get("prompt_tokens") or 0,
        completion_tokens=value.get("completion_tokens") or 0,
        cost_usd=value.get("cost_usd"),
        metadata=value.get("metadata"),
        spans=value.get("spans"),
    )


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != int(value):
        raise OutputError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def as_output(result: Any) -> Output:
    """The answer as an Output with dict outputs (see the module's docstring for the forms)."""
    if isinstance(result, Output):
        base = result
        outputs = result.outputs
    elif isinstance(result, dict) and RESERVED in result:
        outputs = {k: v for k, v in result.items() if k != RESERVED}
        base = _usage(result[RESERVED])
    else:
        base, outputs = Output(outputs=None), result
    if not isinstance(outputs, dict):
        outputs = {OUTPUT_FIELD: outputs}
    if base.metadata is not None:
        if not isinstance(base.metadata, dict):
            raise OutputError(f"metadata must be an object, got {type(base.metadata).__name__}")
        outputs = {**outputs, METADATA: base.metadata}
    cost = base.cost_usd
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0):
        raise OutputError(f"cost_usd must be a number >= 0, got {cost!r}")
    if base.spans is not None and not isinstance(base.spans, list):
        raise OutputError(f"spans must be a list, got {type(base.spans).__name__}")
    return Output(
        outputs=outputs,
        prompt_tokens=_count("prompt_tokens", base.prompt_tokens),
        completion_tokens=_count("completion_tokens", base.completion_tokens),
        cost_usd=None if cost is None else float(cost),
        spans=base.spans,
    )


def _json_size(outputs: dict[str, Any]) -> int:
    try:
        text = json.dumps(outputs, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"the outputs are not JSON: {exc}") from None
    return len(text.encode())


def completed(testcase_id: str, trial: int, result: Any, latency_ms: float, spans: Sequence[Span] = ()) -> RecordIn:
    """The record of a call that returned ``result`` (its steps: ``spans``, then those the answer
    reports); an answer that cannot be stored gives an errored record saying why."""
    try:
        output = as_output(result)
        size = _json_size(output.outputs)
        if size > MAX_OUTPUT_BYTES:
            raise OutputError(f"the outputs are {size} bytes of JSON; at most {MAX_OUTPUT_BYTES}")
        steps = list(spans)
        if output.spans:
            steps = steps_of([*steps, *output.spans])
    except (OutputError, ValueError) as exc:
        return errored(testcase_id, trial, exc, latency_ms, spans)
    said = output.prompt_tokens or output.completion_tokens or output.cost_usd is not None
    prompt, completion, cost = (
        (output.prompt_tokens, output.completion_tokens, output.cost_usd) if said else used(steps)
    )
    return RecordIn(
        testcase_id=testcase_id,
        trial=trial,
        outputs=output.outputs,
        latency_ms=latency_ms,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        spans=steps,
    )


def used(steps: Sequence[Span]) -> tuple[int, int, float | None]:
    """What a call used when its answer does not say: the sum over its steps (each step reporting
    its own usage, not its children's); a cost when a step said one."""
    costs = [s.cost_usd for s in steps if s.cost_usd is not None]
    prompt, completion = sum(s.prompt_tokens for s in steps), sum(s.completion_tokens for s in steps)
    return prompt, completion, sum(costs) if costs else None


def error_text(exc: BaseException) -> str:
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def errored(
    testcase_id: str, trial: int, exc: BaseException, latency_ms: float, spans: Sequence[Span] = ()
) -> RecordIn:
    """The record of a call that raised ``exc``: errored, with the exception's type and message
    (and the steps it took: where it failed, and what they used)."""
    prompt, completion, cost = used(spans)
    return RecordIn(
        testcase_id=testcase_id,
        trial=trial,
        status="errored",
        error=error_text(exc),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        latency_ms=latency_ms if math.isfinite(latency_ms) else 0.0,
        spans=list(spans),
    )
