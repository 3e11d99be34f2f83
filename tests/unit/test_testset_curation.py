"""A call or a record as a testcase (AddTestcasesFrom's rules): which fields it takes, when the
output cannot stand in for the expected value, and each testcase once."""

from __future__ import annotations

from typing import Any

import pytest

from services.run_orchestrator.testsets.curation import Source, as_testcase, checked_ids, curate, output_field
from shared.edge.errors import ApiError


def _record(question: str = "Capital of Peru?", status: str = "completed", answer: str = "Lima") -> Source:
    """A record's source as the orchestrator reads it: metadata, then inputs, then expected values."""
    fields: dict[str, Any] = {"category": "geography", "answer": "shadowed by expected"}
    fields |= {"question": question} | {"answer": answer}
    outputs = {"response": f"{answer}!"} if status == "completed" else {}
    return Source("record", fields, outputs, status)


def test_the_testcase_holds_the_sources_fields() -> None:
    assert as_testcase(_record(), None) == {"category": "geography", "answer": "Lima", "question": "Capital of Peru?"}


def test_the_output_stands_for_the_one_expected_field() -> None:
    assert as_testcase(_record(), "gold")["gold"] == "Lima!"
    named = Source("call", {"question": "q"}, {"answer": "Lima", "confidence": 0.9}, "completed")
    assert as_testcase(named, "gold")["gold"] == {"answer": "Lima", "confidence": 0.9}


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ([], "'kept' has 0 expected fields (none): the output can stand for one only"),
        (["a", "b"], "'kept' has 2 expected fields (a, b): the output can stand for one only"),
    ],
)
def test_the_output_needs_one_expected_field(expected: list[str], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        output_field(expected, "kept")
    assert str(exc.value) == message
    assert output_field(["gold"], "kept") == "gold"


def test_sources_in_bulk_make_each_testcase_once() -> None:
    sources = [
        _record(),
        _record(),  # the same testcase in another run
        _record("Capital of Chad?", answer="N'Djamena"),
        _record("Capital of Fiji?", status="errored", answer="Suva"),
    ]
    made = curate(sources, None)
    assert [d["question"] for d in made.testcases] == ["Capital of Peru?", "Capital of Chad?", "Capital of Fiji?"]
    assert (made.already, made.no_output) == (1, 0)
    # Outputs as the expected values: the errored record has none; the two Peru outputs are one testcase.
    made = curate(sources, "answer")
    assert [(d["question"], d["answer"]) for d in made.testcases] == [
        ("Capital of Peru?", "Lima!"),
        ("Capital of Chad?", "N'Djamena!"),
    ]
    assert (made.already, made.no_output) == (1, 1)
    # Key order does not make another testcase.
    reordered = Source("call", {"b": 1, "a": 2}, {}, "completed"), Source("call", {"a": 2, "b": 1}, {}, "completed")
    assert len(curate(list(reordered), None).testcases) == 1


@pytest.mark.parametrize(
    ("calls", "records", "message"),
    [
        ([], [], "give the call_ids or the record_ids to make testcases of"),
        (["c"], ["r"], "give call_ids or record_ids, not both"),
        (["c"] * 10_001, [], "at most 10,000 calls or records per request, got 10,001"),
    ],
)
def test_the_sources_are_calls_or_records_and_not_too_many(calls: list[str], records: list[str], message: str) -> None:
    with pytest.raises(ApiError) as exc:
        checked_ids(calls, records)
    assert exc.value.message == message
