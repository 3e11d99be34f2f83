"""Curating records: a record's tags, and records into a testset — what a run (or a monitored
call) did becomes a testcase to keep testing: one record from its page, or every record the Records
page's filters match (at most ``BULK_MAX``; "the ones that failed exact answer this week").

The testcases are made by the orchestrator (AddTestcasesFrom: each source's inputs, expected values
and metadata as fields, optionally its output as the expected value; what the testset holds already
added once); the console gathers the ids the filters match and says what was done.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.pages.records import record_context, records_context
from services.console.pages.testsets import testset_of_project
from services.console.record_filters import RecordFilters
from services.console.web import CHOICE_ERRORS, INPUT_ERRORS, Console, api_message, redirect, refusal

# Records added to a testset at once, read this many a page: more matching is refused, never cut.
BULK_MAX = 10_000  # the most sources AddTestcasesFrom takes in one request
BULK_PAGE = 500


class CurationError(ValueError):
    """The record cannot become a testcase of that testset as asked."""


async def add_from(
    api: Api,
    project_id: str,
    testset_id: str,
    output_as_expected: bool,
    *,
    call_ids: Sequence[str] = (),
    record_ids: Sequence[str] = (),
) -> tpb.AddTestcasesFromResponse:
    """The calls or records as testcases of the project's testset (AddTestcasesFrom)."""
    await testset_of_project(api, project_id, testset_id)  # a testset of this project, or the page's NOT FOUND
    request = tpb.AddTestcasesFromRequest(
        testset_id=testset_id, call_ids=call_ids, record_ids=record_ids, output_as_expected=output_as_expected
    )
    return await api.call(api.stubs.testsets.AddTestcasesFrom, request, tpb.AddTestcasesFromResponse)


def one_added(done: tpb.AddTestcasesFromResponse, kind: str) -> str:
    """What adding one record or call did, as the page's ``curated`` parameter (testset:version:
    added | held); an errored one asked for its output: CurationError."""
    if done.no_output:
        raise CurationError(f"This {kind} errored: it has no output to keep as the expected value.")
    return f"{done.testset.id}:{done.testset.version}:{'added' if done.added else 'held'}"


def typed_tags(value: object) -> list[str]:
    """Tags as typed: comma-separated, a leading # dropped, each once."""
    return list(dict.fromkeys(t.strip().lstrip("#") for t in str(value or "").split(",") if t.strip().lstrip("#")))


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


def added_query(done: tpb.AddTestcasesFromResponse) -> str:
    """What a bulk add did, as the page's query string: the testset and its version, added, already
    held (or repeated), without an output to keep."""
    return urlencode(
        {"into": done.testset.id, "version": done.testset.version, "added": done.added}
        | {"already": done.already, "no_output": done.no_output}
    )


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
            records = await matching_records(api, project_id, filters)
            if not records:
                raise CurationError("No record matches these filters: nothing to add.")
            ids = list(dict.fromkeys(r.id for r in records))
            as_expected = form.get("output_as_expected") == "1"
            done = await add_from(api, project_id, testset_id, as_expected, record_ids=ids)
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, CHOICE_ERRORS)
            context = await records_context(console, request, api, bulk_error=message)
            return console.render(request, "records.html", context, status_code=400)
        return redirect(f"{back}&{added_query(done)}#to-testset")

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
            as_expected = form.get("output_as_expected") == "1"
            done = await add_from(api, project_id, testset_id, as_expected, record_ids=[record_id])
            curated = one_added(done, "record")
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, INPUT_ERRORS)
            return console.render(request, "record.html", {**context, "curate_error": message}, status_code=400)
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
