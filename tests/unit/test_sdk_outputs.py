"""What a system's answer becomes in a record: every documented form, and answers that cannot be
stored turned into errored records that say why."""

from __future__ import annotations

from typing import Any

import pytest

from scorekeeper_sdk.api.runs import RecordIn
from scorekeeper_sdk.evaluate.outputs import Output, completed, errored


@pytest.mark.parametrize(
    ("answer", "outputs", "usage"),
    [
        ("Paris", {"response": "Paris"}, (0, 0, None)),
        (4, {"response": 4}, (0, 0, None)),
        (["a", "b"], {"response": ["a", "b"]}, (0, 0, None)),
        ({"answer": "4"}, {"answer": "4"}, (0, 0, None)),
        (Output("4", prompt_tokens=12, completion_tokens=3, cost_usd=0.5), {"response": "4"}, (12, 3, 0.5)),
        (Output({"a": 1}, metadata={"model": "m"}), {"a": 1, "_metadata": {"model": "m"}}, (0, 0, None)),
        (
            {"answer": "4", "_scorekeeper": {"prompt_tokens": 7, "cost_usd": 0, "metadata": {"k": "v"}}},
            {"answer": "4", "_metadata": {"k": "v"}},
            (7, 0, 0.0),
        ),
    ],
)
def test_answers(answer: Any, outputs: dict[str, Any], usage: tuple[int, int, float | None]) -> None:
    record = completed("t1", 1, answer, 12.5)
    assert record == RecordIn(
        testcase_id="t1",
        trial=1,
        outputs=outputs,
        latency_ms=12.5,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        cost_usd=usage[2],
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"when": object()}, "OutputError: the outputs are not JSON: Object of type object is not JSON serializable"),
        (
            {"x": float("nan")},
            "OutputError: the outputs are not JSON: Out of range float values are not JSON compliant",
        ),
        ("x" * 1_000_000, "OutputError: the outputs are 1000016 bytes of JSON; at most 990000"),
        ({"_scorekeeper": {"tokens": 1}}, "OutputError: _scorekeeper has unknown keys: tokens"),
        ({"_scorekeeper": 3}, "OutputError: _scorekeeper must be an object with prompt_tokens"),
        (Output("a", prompt_tokens=-1), "OutputError: prompt_tokens must be a whole number >= 0, got -1"),
        (Output("a", cost_usd=-0.1), "OutputError: cost_usd must be a number >= 0, got -0.1"),
    ],
)
def test_answers_that_cannot_be_stored(answer: Any, error: str) -> None:
    record = completed("t1", 0, answer, 3.0)
    assert (record.status, record.latency_ms, record.outputs) == ("errored", 3.0, None)
    assert record.error.startswith(error)


def test_an_exception_is_an_errored_record_with_its_type_and_message() -> None:
    assert errored("t1", 0, ValueError("no answer for q7"), 5.0) == RecordIn(
        testcase_id="t1", trial=0, status="errored", error="ValueError: no answer for q7", latency_ms=5.0
    )
    assert errored("t1", 0, TimeoutError(), 1.0).error == "TimeoutError"
    long = errored("t1", 0, RuntimeError("x" * 20_000), 1.0).error
    assert len(long) == 10_000 and long.endswith("…")
