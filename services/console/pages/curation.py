"""Curating records: a record's tags, and records into a testset — what a run (or a monitored
call) did becomes a testcase to keep testing: one record from its page, or every record the Records
page's filters match (at most ``BULK_MAX``; "the ones that failed exact answer this week").

A new testcase holds the record's inputs, expected values and metadata as fields; optionally its
output stands for the expected value (a reviewed good answer, or a production call to pin down).
The testcases are added to the testset's latest version as one new version (AddTestcases). Records
whose testcase the testset already holds (the same fields), or that repeat one another (the same
testcase in several runs), are added once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.formatting import plain
from services.console.pages.records import record_context, records_context
from services.console.pages.testsets import testset_of_project
from services.console.record_filters import RecordFilters
from services.console.web import CHOICE_ERRORS, INPUT_ERRORS, Console, api_message, redirect, refusal
from shared.edge.convert import dict_to_struct

# Records added to a testset at once, read this many a page: more matching is refused, never cut.
BULK_MAX = 10_000  # the most testcases AddTestcases takes in one request
BULK_PAGE = 500


class CurationError(ValueError):
    """The record cannot become a testcase of that testset as asked."""


@dataclass(frozen=True)
class Source:
    """What a testcase is made of: a record of a run, or a logged production call."""

    kind: str  # record | call
    # Its inputs, expected values (a record's) and metadata, as the testcase's fields.
    fields: dict[str, Any]
    outputs: dict[str, Any]
    # pending | completed | errored: only a completed one has an output to keep.
    status: str


def record_source(record: qpb.RecordView) -> Source:
    fields = {**plain(record.metadata), **plain(record.inputs), **plain(record.expected)}
    return Source("record", fields, plain(record.outputs), record.status)


def call_source(call: qpb.CallView) -> Source:
    return Source("call", {**plain(call.metadata), **plain(call.inputs)}, plain(call.outputs), call.status)


def as_testcase(source: Source, testset: tpb.Testset, output_as_expected: bool) -> dict[str, Any]:
    """The testcase's fields: the source's inputs, expected values and metadata; with
    ``output_as_expected``, its output as the testset's one expected field."""
    data = dict(source.fields)
    if output_as_expected:
        field = output_field(testset)
        if source.status == "errored":
            raise CurationError(f"This {source.kind} errored: it has no output to keep as the expected value.")
        outputs = source.outputs
        data[field] = outputs["response"] if set(outputs) == {"response"} else outputs
    return data


def record_as_testcase(record: qpb.RecordView, testset: tpb.Testset, output_as_expected: bool) -> dict[str, Any]:
    return as_testcase(record_source(record), testset, output_as_expected)


def output_field(testset: tpb.Testset) -> str:
    """The expected field an output can stand for: the testset's only one."""
    expected = list(testset.field_mapping.expected)
    if len(expected) != 1:
        fields = ", ".join(expected) or "none"
        raise CurationError(
            f"{testset.name!r} has {len(expected)} expected fields ({fields}): the output can stand for one only."
        )
    return expected[0]


def typed_tags(value: object) -> list[str]:
    """Tags as typed: comma-separated, a leading # dropped, each once."""
    return list(dict.fromkeys(t.strip().lstrip("#") for t in str(value or "").split(",") if t.strip().lstrip("#")))


def fields_key(data: dict[str, Any]) -> str:
    """Testcases with the same fields are the same testcase, whatever their order."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def matching_records(api: Api, project_id: str, filters: RecordFilters) -> list[qpb.RecordView]:
    """Every record the filters match, in the page's order; more than ``BULK_MAX`` is refused."""
    fields = {**filters.request_fields(), "page_token": ""}
    found: list[qpb.RecordView] = []
    while True:
        request = qpb.ListRecordsRequest(project_id=project_id, page_size=BULK_PAGE, **fields)  # type: ignore[arg-type]
        page = await api.call(api.stubs.query.ListRecords, request, qpb.ListRecordsResponse)
        found += page.records
        if len(found) > BULK_MAX:
            raise CurationError(f"More than {BULK_MAX:,} records match: narrow the filters, then add them.")
        if not page.next_page_token:
            return found
        fields["page_token"] = page.next_page_token


async def testcases_held(api: Api, testset_id: str) -> set[str]:
    """The fields of every testcase of the testset's latest version (``fields_key``)."""
    held: set[str] = set()
    token = ""
    while True:
        request = tpb.ListTestcasesRequest(testset_id=testset_id, page_size=1000, page_token=token)
        page = await api.call(api.stubs.testsets.ListTestcases, request, tpb.ListTestcasesResponse)
        held |= {fields_key(plain(t.data)) for t in page.testcases}
        if not (token := page.next_page_token):
            return held


@dataclass(frozen=True)
class Added:
    """What a bulk add did: testcases added, records already in the testset, records with no output."""

    added: int
    already: int
    no_output: int

    def query(self, testset: tpb.Testset) -> str:
        return urlencode(
            {"into": testset.id, "version": testset.version, "added": self.added}
            | {"already": self.already, "no_output": self.no_output}
        )


def new_testcases(
    sources: list[Source], testset: tpb.Testset, output_as_expected: bool, held: set[str]
) -> tuple[list[dict[str, Any]], Added]:
    """The testcases the records or calls make that the testset does not hold yet, each once."""
    fresh: list[dict[str, Any]] = []
    seen = set(held)
    no_output = already = 0
    for source in sources:
        if output_as_expected and source.status != "completed":
            no_output += 1  # errored, or not executed yet: no output to keep
            continue
        data = as_testcase(source, testset, output_as_expected)
        key = fields_key(data)
        if key in seen:
            already += 1
            continue
        seen.add(key)
        fresh.append(data)
    return fresh, Added(len(fresh), already, no_output)


async def add_new(
    api: Api, testset: tpb.Testset, sources: list[Source], output_as_expected: bool
) -> tuple[tpb.Testset, Added]:
    """The testcases the sources make that the testset does not hold, added as its next version
    (none: the testset as it was), and what was done."""
    fresh, added = new_testcases(sources, testset, output_as_expected, await testcases_held(api, testset.id))
    if fresh:
        adding = tpb.AddTestcasesRequest(testset_id=testset.id, testcases=[dict_to_struct(d) for d in fresh])
        testset = (await api.call(api.stubs.testsets.AddTestcases, adding, tpb.AddTestcasesResponse)).testset
    return testset, added


def routes(console: Console) -> list[Route]:
    async def add_matching(request: Request) -> Response:
        """Every record the Records page's filters match (its query string), into one testset."""
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        filters = RecordFilters.parse(request.query_params)
        back = f"/projects/{project_id}/records?" + filters.query()
        try:
            testset_id = str(form.get("testset_id", ""))
            if not testset_id:
                raise CurationError("Choose the testset to add the records to.")
            testset = await testset_of_project(api, project_id, testset_id)
            output_as_expected = form.get("output_as_expected") == "1"
            if output_as_expected:
                output_field(testset)  # before reading thousands of records
            records = await matching_records(api, project_id, filters)
            if not records:
                raise CurationError("No record matches these filters: nothing to add.")
            sources = [record_source(r) for r in records]
            testset, added = await add_new(api, testset, sources, output_as_expected)
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, CHOICE_ERRORS)
            context = await records_context(console, request, api, bulk_error=message)
            return console.render(request, "records.html", context, status_code=400)
        return redirect(f"{back}&{added.query(testset)}#to-testset")

    async def tag_matching(request: Request) -> Response:
        """Tags added to (or removed from) every record the Records page's filters match: one
        TagRecords per run (idempotent, so a retry after a failure part-way finishes the job)."""
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        filters = RecordFilters.parse(request.query_params)
        add, remove = typed_tags(form.get("add_tags")), typed_tags(form.get("remove_tags"))
        try:
            if not add and not remove:
                raise CurationError("Type the tags to add or to remove, separated by commas.")
            if both := sorted(set(add) & set(remove)):
                raise CurationError(f"{', '.join(both)}: both added and removed.")
            records = await matching_records(api, project_id, filters)
            if not records:
                raise CurationError("No record matches these filters: nothing to tag.")
            by_run: dict[str, list[str]] = {}
            for record in records:
                by_run.setdefault(record.run_id, []).append(record.id)
            for run_id, record_ids in by_run.items():
                await api.call(
                    api.stubs.runs.TagRecords,
                    rpb.TagRecordsRequest(run_id=run_id, record_ids=record_ids, add=add, remove=remove),
                    rpb.TagRecordsResponse,
                )
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, INPUT_ERRORS)
            context = await records_context(console, request, api, tag_error=message)
            return console.render(request, "records.html", context, status_code=400)
        done = urlencode({"tagged": len(records), "tags_added": ",".join(add), "tags_removed": ",".join(remove)})
        # After a removal, the filters may no longer match these records: the message says what was done.
        return redirect(f"/projects/{project_id}/records?{filters.query()}&{done}#tag-records")

    async def add_to_testset(request: Request) -> Response:
        form = await console.form(request)
        project_id, record_id = request.path_params["project_id"], request.path_params["record_id"]
        api = console.api(request)
        context = await record_context(console, request, api)  # also: the record is of this project
        try:
            testset_id = str(form.get("testset_id", ""))
            if not testset_id:
                raise CurationError("Choose the testset to add the record to.")
            testset = await testset_of_project(api, project_id, testset_id)
            data = record_as_testcase(context["record"], testset, form.get("output_as_expected") == "1")
            added = await api.call(
                api.stubs.testsets.AddTestcases,
                tpb.AddTestcasesRequest(testset_id=testset_id, testcases=[dict_to_struct(data)]),
                tpb.AddTestcasesResponse,
            )
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, INPUT_ERRORS)
            return console.render(request, "record.html", {**context, "curate_error": message}, status_code=400)
        curated = f"{added.testset.id}:{added.testset.version}"
        return redirect(f"/projects/{project_id}/records/{record_id}?curated={curated}#to-testset")

    async def retag(request: Request) -> Response:
        form = await console.form(request)
        project_id, record_id = request.path_params["project_id"], request.path_params["record_id"]
        api = console.api(request)
        context = await record_context(console, request, api)
        record: qpb.RecordView = context["record"]
        wanted = typed_tags(form.get("tags"))
        try:
            await api.call(
                api.stubs.runs.TagRecords,
                rpb.TagRecordsRequest(
                    run_id=record.run_id,
                    record_ids=[record_id],
                    add=[t for t in wanted if t not in record.tags],
                    remove=[t for t in record.tags if t not in wanted],
                ),
                rpb.TagRecordsResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            context = {**context, "tags_error": api_message(exc), "typed_tags": str(form.get("tags", ""))}
            return console.render(request, "record.html", context, status_code=400)
        return redirect(f"/projects/{project_id}/records/{record_id}?tagged=1")

    base = "/projects/{project_id}/records/{record_id}"
    return [
        Route("/projects/{project_id}/records-to-testset", add_matching, methods=["POST"]),
        Route("/projects/{project_id}/records-tags", tag_matching, methods=["POST"]),
        Route(base + "/to-testset", add_to_testset, methods=["POST"]),
        Route(base + "/tags", retag, methods=["POST"]),
    ]
