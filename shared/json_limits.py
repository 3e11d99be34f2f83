"""What a JSON document from outside (a system's answer, ingested outputs) must be to be stored
faithfully: decided before anything is published, so a poison answer becomes an errored record
naming the limit instead of an event no consumer can ever handle.

The limits apply alike whichever broker carries the event (NATS and Kafka both refuse messages
over 1 MiB by default): a record's outputs hold at most ``MAX_OUTPUTS_BYTES`` of JSON, an event at
most ``MAX_EVENT_BYTES``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, TypeVar

import orjson

from shared.events import ProducedRecord

R = TypeVar("R", bound=ProducedRecord)
log = logging.getLogger(__name__)

# Nesting beyond this is refused (PostgreSQL's parser and most JSON tools give up far deeper).
MAX_DEPTH = 64
# A record's outputs, as JSON.
MAX_OUTPUTS_BYTES = 512 * 1024
# A whole event on the bus: under the 1 MiB both brokers accept by default, with room to spare.
MAX_EVENT_BYTES = 900 * 1024
# One record in an event: the rest of the event (its envelope) fits in what is left.
MAX_RECORD_BYTES = MAX_EVENT_BYTES - 8 * 1024


def unstorable(value: Any, max_bytes: int = MAX_OUTPUTS_BYTES, what: str = "a record's outputs") -> str | None:
    """Why ``value`` (dicts, lists, strings, numbers …) cannot be stored as it is (as ``what``), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return f"it nests deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if reason := _text_problem(key) if isinstance(key, str) else None:
                        return reason
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if reason := _text_problem(item):
                return reason
        elif isinstance(item, float) and not math.isfinite(item):
            return f"it holds {item}, which JSON cannot"
    size = json_size(value)
    if size > max_bytes:
        return f"it is {size:,} bytes of JSON, more than the {max_bytes:,} {what} may hold"
    return None


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # orjson stops at 64-bit integers; json does not
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def json_text(value: Any) -> str:
    """``value`` as compact JSON text (orjson, ~3x faster than json; json for an integer beyond
    64 bits, which orjson refuses)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "it holds a NUL character (\\u0000), which PostgreSQL cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it holds an unpaired surrogate (\\ud800 … \\udfff), which is not text"
    return None


def clean_text(text: str) -> str:
    """Text made storable (for error messages): NUL and unpaired surrogates replaced."""
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def storable(record: R) -> tuple[R, str | None]:
    """The record as it can be carried and stored, and why its outputs were not kept (or None).

    Outputs that break a limit are dropped and the record is errored naming the limit; the error
    text is made storable; a record too large for the bus loses its steps (spans) first, then,
    when its testcase data alone makes it too large, those copies (the testcase itself stays in
    its testset)."""
    reason = unstorable(record.outputs)
    changes: dict[str, Any] = {"error": clean_text(record.error)}
    if reason is not None:
        reason = f"the outputs were not kept: {reason}"
        changes.update(outputs={}, status="errored", error=reason)
    record = record.model_copy(update=changes)
    size = record_size(record)
    if size > MAX_RECORD_BYTES and record.spans:
        # The steps go first: the answer is what gets scored.
        log.warning("a record's steps were not kept: with them it was %s bytes", f"{size:,}")
        record = record.model_copy(update={"spans": []})
        size = record_size(record)
    if size > MAX_RECORD_BYTES:
        reason = (
            f"the testcase's data makes the record {size:,} bytes, "
            f"more than the {MAX_RECORD_BYTES:,} an event may carry"
        )
        record = record.model_copy(
            update={"inputs": {}, "expected": {}, "metadata": {}, "outputs": {}, "status": "errored", "error": reason}
        )
    return record, reason


def record_size(record: ProducedRecord) -> int:
    """Bytes of the record as JSON on the bus."""
    return json_size(record.model_dump(mode="json"))
