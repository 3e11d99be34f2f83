"""A record as a testcase of a testset: which fields it takes, and when the output cannot stand in."""

from __future__ import annotations

import pytest
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb

from services.console.pages.curation import CurationError, record_as_testcase
from shared.edge.convert import dict_to_struct


def _record(status: str = "completed", outputs: dict[str, object] | None = None) -> qpb.RecordView:
    return qpb.RecordView(
        status=status,
        inputs=dict_to_struct({"question": "Capital of Peru?"}),
        expected=dict_to_struct({"answer": "Lima"}),
        metadata=dict_to_struct({"category": "geography", "answer": "shadowed by expected"}),
        outputs=dict_to_struct({"response": "Lima, Peru"} if outputs is None else outputs),
    )


def _testset(*expected: str) -> tpb.Testset:
    return tpb.Testset(name="kept", field_mapping=tpb.FieldMapping(inputs=["question"], expected=list(expected)))


def test_the_testcase_holds_the_records_fields() -> None:
    assert record_as_testcase(_record(), _testset("answer"), False) == {
        "question": "Capital of Peru?",
        "answer": "Lima",
        "category": "geography",
    }


def test_the_output_stands_for_the_one_expected_field() -> None:
    assert record_as_testcase(_record(), _testset("gold"), True)["gold"] == "Lima, Peru"
    named = _record(outputs={"answer": "Lima", "confidence": 0.9})
    assert record_as_testcase(named, _testset("gold"), True)["gold"] == {"answer": "Lima", "confidence": 0.9}


@pytest.mark.parametrize(
    ("record", "testset", "message"),
    [
        (_record(), _testset(), "'kept' has 0 expected fields (none): the output can stand for one only."),
        (_record(), _testset("a", "b"), "'kept' has 2 expected fields (a, b): the output can stand for one only."),
        (_record("errored"), _testset("a"), "This record errored: it has no output to keep as the expected value."),
    ],
)
def test_when_the_output_cannot_stand_in(record: qpb.RecordView, testset: tpb.Testset, message: str) -> None:
    with pytest.raises(CurationError) as exc:
        record_as_testcase(record, testset, True)
    assert str(exc.value) == message
