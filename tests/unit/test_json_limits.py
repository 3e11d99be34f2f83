"""What a document from outside must be to be stored as it is, and the record made of one that is not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.events import RecordProduced
from shared.json_limits import MAX_DEPTH, MAX_EVENT_BYTES, clean_text, storable, unstorable


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"answer": "fine", "n": 9007199254740993, "x": [1.5, None, True]}, None),
        ({"answer": "a\x00b"}, "it holds a NUL character (\\u0000), which PostgreSQL cannot store"),
        ({"a\x00": 1}, "it holds a NUL character (\\u0000), which PostgreSQL cannot store"),
        ({"answer": "\ud800"}, "it holds an unpaired surrogate (\\ud800 … \\udfff), which is not text"),
        ({"answer": float("nan")}, "it holds nan, which JSON cannot"),
        ({"answer": float("inf")}, "it holds inf, which JSON cannot"),
        # The outer object and MAX_DEPTH - 1 arrays: MAX_DEPTH levels.
        ({"deep": nested(MAX_DEPTH)}, None),
        ({"deep": nested(MAX_DEPTH + 1)}, f"it nests deeper than {MAX_DEPTH} levels"),
        ({"deep": nested(10_000)}, f"it nests deeper than {MAX_DEPTH} levels"),
        (
            {"a": "x" * 300_000, "b": "x" * 300_000},
            "it is 600,015 bytes of JSON, more than the 524,288 a record's outputs may hold",
        ),
    ],
)
def test_unstorable(value: Any, reason: str | None) -> None:
    assert unstorable(value) == reason


def test_clean_text() -> None:
    assert clean_text("a\x00b\ud800c") == "a\\u0000b\\ud800c"


def record(**fields: Any) -> RecordProduced:
    return RecordProduced(
        **{"run_id": uuid.uuid4(), "testcase_id": uuid.uuid4(), "trial": 0, "status": "completed", **fields}
    )


def test_a_storable_record_is_left_as_it_is() -> None:
    original = record(outputs={"answer": "Paris"}, inputs={"q": "capital?"})
    assert storable(original) == (original, None)


def test_outputs_breaking_a_limit_make_an_errored_record_naming_it() -> None:
    kept, reason = storable(record(outputs={"answer": "a\x00b"}, inputs={"q": "x"}, latency_ms=3.0))
    assert reason == "the outputs were not kept: it holds a NUL character (\\u0000), which PostgreSQL cannot store"
    assert (kept.status, kept.error, kept.outputs, kept.inputs, kept.latency_ms) == (
        "errored",
        reason,
        {},
        {"q": "x"},
        3.0,
    )


def test_an_error_text_is_made_storable() -> None:
    kept, reason = storable(record(status="errored", error="boom\x00"))
    assert (kept.error, reason) == ("boom\\u0000", None)


def test_testcase_data_too_large_for_an_event_is_not_carried() -> None:
    kept, reason = storable(record(inputs={"doc": "x" * MAX_EVENT_BYTES}, outputs={"answer": "ok"}))
    assert kept.status == "errored" and kept.inputs == {} and kept.outputs == {}
    assert reason is not None and reason.startswith("the testcase's data makes the record")
    assert len(kept.model_dump_json()) < MAX_EVENT_BYTES


def test_a_record_too_large_for_an_event_loses_its_steps_first() -> None:
    steps = [{"id": str(i), "parent_id": "", "name": "s", "input": "y" * 1000} for i in range(250)]
    kept, reason = storable(record(inputs={"doc": "x" * 700_000}, outputs={"answer": "ok"}, spans=steps))
    assert (kept.status, kept.outputs, kept.spans, reason) == ("completed", {"answer": "ok"}, [], None)
    assert kept.inputs == {"doc": "x" * 700_000}
    small = record(outputs={"answer": "ok"}, spans=steps[:3])
    assert storable(small) == (small, None)
