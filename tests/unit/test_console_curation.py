"""A record as a testcase of a testset: which fields it takes, and when the output cannot stand in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb

from services.console.backend import Api
from services.console.pages.curation import (
    BULK_MAX,
    Added,
    CurationError,
    fields_key,
    matching_records,
    new_testcases,
    record_as_testcase,
    record_source,
)
from services.console.record_filters import RecordFilters
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


def _asked(question: str, status: str = "completed", answer: str = "Lima") -> qpb.RecordView:
    return qpb.RecordView(
        status=status,
        inputs=dict_to_struct({"question": question}),
        expected=dict_to_struct({"answer": answer}),
        outputs=dict_to_struct({} if status != "completed" else {"response": f"{answer}!"}),
    )


def test_records_in_bulk_make_each_new_testcase_once() -> None:
    records = [
        _asked("Capital of Peru?"),
        _asked("Capital of Peru?"),  # the same testcase in another run
        _asked("Capital of Chad?", answer="N'Djamena"),
        _asked("Capital of Fiji?", status="errored", answer="Suva"),
        _asked("Capital of Laos?", answer="Vientiane"),
    ]
    held = {fields_key({"answer": "Vientiane", "question": "Capital of Laos?"})}  # key order does not matter
    sources = [record_source(r) for r in records]
    fresh, added = new_testcases(sources, _testset("answer"), False, held)
    assert [d["question"] for d in fresh] == ["Capital of Peru?", "Capital of Chad?", "Capital of Fiji?"]
    assert added == Added(added=3, already=2, no_output=0)
    # Outputs as the expected values: the errored record has none; the two Peru outputs are one testcase.
    fresh, added = new_testcases(sources, _testset("answer"), True, set())
    assert [(d["question"], d["answer"]) for d in fresh] == [
        ("Capital of Peru?", "Lima!"),
        ("Capital of Chad?", "N'Djamena!"),
        ("Capital of Laos?", "Vientiane!"),
    ]
    assert added == Added(added=3, already=1, no_output=1)


class _Records:
    """The ListRecords pages of ``total`` records, as the console's Api answers them."""

    stubs = SimpleNamespace(query=SimpleNamespace(ListRecords="ListRecords"))

    def __init__(self, total: int) -> None:
        self.total = total
        self.asked: list[qpb.ListRecordsRequest] = []

    async def call(self, stub: str, request: qpb.ListRecordsRequest, response_type: type) -> qpb.ListRecordsResponse:
        self.asked.append(request)
        start = int(request.page_token or 0)
        end = min(start + request.page_size, self.total)
        page = qpb.ListRecordsResponse(records=[qpb.RecordView(id=str(i)) for i in range(start, end)])
        page.next_page_token = str(end) if end < self.total else ""
        return page


async def test_every_matching_record_is_read_and_more_than_the_bulk_limit_is_refused() -> None:
    filters = RecordFilters(search="capital", run_ids=("r1",))
    api = _Records(BULK_MAX)
    found = await matching_records(cast(Api, api), "p", filters)
    assert [r.id for r in found] == [str(i) for i in range(BULK_MAX)]
    assert {(a.search, tuple(a.run_ids), a.project_id) for a in api.asked} == {("capital", ("r1",), "p")}
    with pytest.raises(CurationError) as exc:
        await matching_records(cast(Api, _Records(BULK_MAX + 1)), "p", filters)
    assert str(exc.value) == "More than 10,000 records match: narrow the filters, then add them."
