"""Curating a record: its tags, and the record into a testset — what a run (or a monitored call)
did becomes a testcase to keep testing.

The new testcase holds the record's inputs, expected values and metadata as fields; optionally its
output stands for the expected value (a reviewed good answer, or a production call to pin down).
It is added to the testset's latest version as a new version (AddTestcases).
"""

from __future__ import annotations

from typing import Any

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.formatting import plain
from services.console.pages.records import record_context
from services.console.pages.testsets import testset_of_project
from services.console.web import INPUT_ERRORS, Console, api_message, redirect
from shared.edge.convert import dict_to_struct


class CurationError(ValueError):
    """The record cannot become a testcase of that testset as asked."""


def record_as_testcase(record: qpb.RecordView, testset: tpb.Testset, output_as_expected: bool) -> dict[str, Any]:
    """The testcase's fields: the record's inputs, expected values and metadata; with
    ``output_as_expected``, its output as the testset's one expected field."""
    data: dict[str, Any] = {**plain(record.metadata), **plain(record.inputs), **plain(record.expected)}
    if output_as_expected:
        expected = list(testset.field_mapping.expected)
        if len(expected) != 1:
            fields = ", ".join(expected) or "none"
            raise CurationError(
                f"{testset.name!r} has {len(expected)} expected fields ({fields}): the output can stand for one only."
            )
        if record.status == "errored":
            raise CurationError("This record errored: it has no output to keep as the expected value.")
        outputs = plain(record.outputs)
        data[expected[0]] = outputs["response"] if set(outputs) == {"response"} else outputs
    return data


def routes(console: Console) -> list[Route]:
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
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() not in INPUT_ERRORS:
                raise
            message = str(exc) if isinstance(exc, CurationError) else api_message(exc)
            return console.render(request, "record.html", {**context, "curate_error": message}, status_code=400)
        curated = f"{added.testset.id}:{added.testset.version}"
        return redirect(f"/projects/{project_id}/records/{record_id}?curated={curated}#to-testset")

    async def retag(request: Request) -> Response:
        form = await console.form(request)
        project_id, record_id = request.path_params["project_id"], request.path_params["record_id"]
        api = console.api(request)
        context = await record_context(console, request, api)
        record: qpb.RecordView = context["record"]
        wanted = list(dict.fromkeys(t.strip().lstrip("#") for t in str(form.get("tags", "")).split(",") if t.strip()))
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
        Route(base + "/to-testset", add_to_testset, methods=["POST"]),
        Route(base + "/tags", retag, methods=["POST"]),
    ]
