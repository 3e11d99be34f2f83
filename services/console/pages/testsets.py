"""Testsets: the list, a testset's testcases (with their validation errors) and versions, importing a
file and exporting CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.web import EXPORTS, INPUT_ERRORS, Console, PageNotFound, api_message, download, redirect

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
UPLOAD_CHUNK = 64 * 1024


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


async def _text_chunks(text: str) -> AsyncIterator[bytes]:
    data = text.encode()
    for start in range(0, len(data), UPLOAD_CHUNK):
        yield data[start : start + UPLOAD_CHUNK]


class ImportFormError(ValueError):
    """A form that cannot become an import (no file, a format that cannot be told)."""


def posted_file(form: FormData, *, text_field: str = "") -> tuple[str, AsyncIterator[bytes]]:
    """The posted file's format and chunks: the upload, or (when ``text_field`` names one) the
    text pasted there; the format chosen, or the one the file name tells."""
    upload = form.get("file")
    chosen = str(form.get("format", ""))
    if isinstance(upload, UploadFile) and upload.filename:
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        fmt = chosen or FORMATS.get(suffix, "")
        if fmt not in FORMATS.values():
            raise ImportFormError(f"Cannot tell the format of {upload.filename!r}: choose CSV, TSV, JSON or JSONL.")
        return fmt, _upload_chunks(upload)
    text = str(form.get(text_field, "")) if text_field else ""
    if text.strip():
        if chosen not in FORMATS.values():
            raise ImportFormError("Choose the format of the pasted testcases: CSV, TSV, JSON or JSONL.")
        return chosen, _text_chunks(text)
    raise ImportFormError("Choose a file to import" + (", or paste its testcases." if text_field else "."))


def fields(form: FormData, name: str) -> list[str]:
    """A comma-separated list of field names posted in ``name``."""
    return [f.strip() for f in str(form.get(name, "")).split(",") if f.strip()]


async def testset_page(console: Console, request: Request, api: Api, **extra: Any) -> dict[str, Any]:
    """What testset.html shows: the testset at the asked version, its versions, a page of its testcases."""
    project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
    params = request.query_params
    try:
        version = int(params.get("version", "0") or 0)
    except ValueError:
        version = 0
    invalid_only = params.get("invalid") == "1"
    search = params.get("search", "").strip()
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
                    search=search,
                ),
                tpb.ListTestcasesResponse,
            ),
        },
    )
    page: tpb.ListTestcasesResponse = data["page"]
    searched = {"search": search} if search else {}
    keep = urlencode({"version": page.version, **({"invalid": 1} if invalid_only else {}), **searched})
    other_invalid = urlencode({"version": page.version, **({} if invalid_only else {"invalid": 1}), **searched})
    return {
        **data,
        "invalid_only": invalid_only,
        "search": search,
        "invalid_toggle_url": f"?{other_invalid}",
        "search_suffix": f"?{urlencode(searched)}" if searched else "",  # an edit comes back to the search
        "next_url": f"?{keep}&token={page.next_page_token}" if page.next_page_token else "",
        "keep": keep,
        "error": "",
        "imported": params.get("imported", ""),
        "created": params.get("created", ""),
        "changed": params.get("changed", ""),
        "typed": {},  # what was typed into a testcase's form the API refused, by testcase id ("new")
        **extra,
    }


def routes(console: Console) -> list[Route]:
    async def list_page(
        request: Request, values: dict[str, str] | None = None, error: str = "", status_code: int = 200
    ) -> Response:
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
        context = {**data, "values": values or {}, "error": error}
        return console.render(request, "testsets.html", context, status_code=status_code)

    async def create(request: Request) -> Response:
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        values = {k: str(form.get(k, "")) for k in ("name", "description", "inputs", "expected", "metadata", "format")}
        try:
            fmt, chunks = posted_file(form, text_field="pasted")
            first = tpb.ImportTestcasesRequest(
                project_id=project_id,
                name=values["name"],
                description=values["description"],
                format=fmt,
                inputs=fields(form, "inputs"),
                expected=fields(form, "expected"),
                metadata=fields(form, "metadata"),
            )
            result = await api.import_testcases(first, chunks)
        except ImportFormError as exc:
            return await list_page(request, {**values, "pasted": str(form.get("pasted", ""))}, str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            error = f"Nothing was created: {api_message(exc)}"
            return await list_page(request, {**values, "pasted": str(form.get("pasted", ""))}, error, 400)
        return redirect(f"/projects/{project_id}/testsets/{result.testset.id}?created={result.imported}")

    async def detail(request: Request) -> Response:
        return console.render(request, "testset.html", await testset_page(console, request, console.api(request)))

    async def import_file(request: Request) -> Response:
        form = await console.form(request)
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        await testset_of_project(api, project_id, testset_id)
        try:
            fmt, chunks = posted_file(form)
            first = tpb.ImportTestcasesRequest(testset_id=testset_id, format=fmt, replace=form.get("replace") == "1")
            result = await api.import_testcases(first, chunks)
        except ImportFormError as exc:
            error = str(exc)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            error = f"Nothing was imported: {api_message(exc)}"
        else:
            return redirect(f"/projects/{project_id}/testsets/{testset_id}?imported={result.imported}")
        context = await testset_page(console, request, api, error=error)
        return console.render(request, "testset.html", context, status_code=400)

    async def export(request: Request) -> Response:
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        version = int(request.query_params.get("version", "0") or 0)
        testset = await testset_of_project(api, project_id, testset_id, version)
        chunks = api.stream(
            api.stubs.testsets.ExportTestcases,
            tpb.ExportTestcasesRequest(testset_id=testset_id, version=version, format="csv"),
        )
        return await download(chunks, EXPORTS["csv"][0], f"{testset.name}-v{testset.version}.csv")

    base = "/projects/{project_id}/testsets"
    return [
        Route(base, list_page, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{testset_id}", detail, methods=["GET"]),
        Route(base + "/{testset_id}/import", import_file, methods=["POST"]),
        Route(base + "/{testset_id}/export.csv", export),
    ]
