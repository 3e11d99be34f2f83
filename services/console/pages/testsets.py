"""Testsets: the list, a testset's testcases (with their validation errors) and versions, importing a
file and exporting CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.console.backend import Api
from services.console.web import Console, PageNotFound, api_message, redirect

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
UPLOAD_CHUNK = 64 * 1024
INPUT_ERRORS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS)


async def testset_of_project(api: Api, project_id: str, testset_id: str, version: int = 0) -> tpb.Testset:
    testset = await api.call(
        api.stubs.testsets.GetTestset, tpb.GetTestsetRequest(testset_id=testset_id, version=version), tpb.Testset
    )
    if testset.project_id != project_id:
        raise PageNotFound
    return testset


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


def routes(console: Console) -> list[Route]:
    async def list_page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "page": api.call(
                    api.stubs.testsets.ListTestsets,
                    tpb.ListTestsetsRequest(
                        project_id=project_id, page_size=100, page_token=request.query_params.get("token", "")
                    ),
                    tpb.ListTestsetsResponse,
                )
            },
        )
        return console.render(request, "testsets.html", data)

    async def detail_context(request: Request, api: Api) -> dict[str, Any]:
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        params = request.query_params
        try:
            version = int(params.get("version", "0") or 0)
        except ValueError:
            version = 0
        invalid_only = params.get("invalid") == "1"
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "testset": testset_of_project(api, project_id, testset_id, version),
                "versions": api.call(
                    api.stubs.testsets.ListTestsetVersions,
                    tpb.ListTestsetVersionsRequest(testset_id=testset_id, page_size=50),
                    tpb.ListTestsetVersionsResponse,
                ),
                "page": api.call(
                    api.stubs.testsets.ListTestcases,
                    tpb.ListTestcasesRequest(
                        testset_id=testset_id,
                        version=version,
                        page_size=console.settings.page_size,
                        page_token=params.get("token", ""),
                        invalid_only=invalid_only,
                    ),
                    tpb.ListTestcasesResponse,
                ),
            },
        )
        page: tpb.ListTestcasesResponse = data["page"]
        keep = f"version={page.version}" + ("&invalid=1" if invalid_only else "")
        return {
            **data,
            "invalid_only": invalid_only,
            "next_url": f"?{keep}&token={page.next_page_token}" if page.next_page_token else "",
            "keep": keep,
            "error": "",
            "imported": params.get("imported", ""),
        }

    async def detail(request: Request) -> Response:
        return console.render(request, "testset.html", await detail_context(request, console.api(request)))

    async def import_file(request: Request) -> Response:
        form = await console.form(request)
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        await testset_of_project(api, project_id, testset_id)
        upload = form.get("file")
        error = ""
        if not isinstance(upload, UploadFile) or not upload.filename:
            error = "Choose a file to import."
        else:
            suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
            fmt = str(form.get("format", "")) or FORMATS.get(suffix, "")
            if fmt not in FORMATS.values():
                error = f"Cannot tell the format of {upload.filename!r}: choose CSV, TSV, JSON or JSONL."
            else:
                try:
                    result = await api.import_testcases(
                        testset_id, fmt, form.get("replace") == "1", _upload_chunks(upload)
                    )
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in INPUT_ERRORS:
                        raise
                    error = f"Nothing was imported: {api_message(exc)}"
                else:
                    return redirect(f"/projects/{project_id}/testsets/{testset_id}?imported={result.imported}")
        context = await detail_context(request, api)
        return console.render(request, "testset.html", {**context, "error": error}, status_code=400)

    async def export(request: Request) -> Response:
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        version = int(request.query_params.get("version", "0") or 0)
        testset = await testset_of_project(api, project_id, testset_id, version)
        chunks = api.stream(
            api.stubs.testsets.ExportTestcases,
            tpb.ExportTestcasesRequest(testset_id=testset_id, version=version, format="csv"),
        )
        first = await anext(aiter(chunks), None)

        async def body() -> AsyncIterator[bytes]:
            if first is not None and first.data:
                yield first.data
            async for chunk in chunks:
                if chunk.data:
                    yield chunk.data

        name = f"{testset.name}-v{testset.version}.csv".replace('"', "")
        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    base = "/projects/{project_id}/testsets"
    return [
        Route(base, list_page),
        Route(base + "/{testset_id}", detail, methods=["GET"]),
        Route(base + "/{testset_id}/import", import_file, methods=["POST"]),
        Route(base + "/{testset_id}/export.csv", export),
    ]
