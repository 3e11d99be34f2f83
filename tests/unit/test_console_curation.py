"""The Records page's bulk actions read every record its filters match, and refuse more than the
bulk limit rather than cutting it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from scorekeeper.v1 import query_pb2 as qpb

from services.console.backend import Api
from services.console.pages.curation import BULK_MAX, CurationError, matching_records
from services.console.record_filters import RecordFilters


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
