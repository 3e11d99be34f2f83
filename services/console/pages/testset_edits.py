"""Editing a testset in place: add a testcase, change one, delete one — each a new version of the
testset (runs keep the version they pinned) — and deleting the testset (the admin role)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.pages.testsets import testset_of_project, testset_page
from services.console.web import CHOICE_ERRORS, Console, redirect, refusal
from shared.edge.convert import dict_to_struct


class TestcaseFormError(ValueError):
    """The typed testcase is not a JSON object."""


def testcase_data(text: str) -> dict[str, Any]:
    """The typed testcase: one JSON object (its fields, as in the testset's files)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TestcaseFormError(f"The testcase is not JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(data, dict):
        raise TestcaseFormError('A testcase is a JSON object of its fields: {"question": …, "answer": …}.')
    return data


def routes(console: Console) -> list[Route]:
    async def change(request: Request, action: str) -> Response:
        form = await console.form(request)
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        testcase_id = request.path_params.get("testcase_id", "")
        api = console.api(request)
        await testset_of_project(api, project_id, testset_id)
        text = str(form.get("data", ""))
        try:
            if action == "added":
                added = tpb.AddTestcasesRequest(testset_id=testset_id, testcases=[dict_to_struct(testcase_data(text))])
                await api.call(api.stubs.testsets.AddTestcases, added, tpb.AddTestcasesResponse)
            elif action == "updated":
                update = tpb.UpdateTestcaseRequest(
                    testset_id=testset_id, testcase_id=testcase_id, data=dict_to_struct(testcase_data(text))
                )
                await api.call(api.stubs.testsets.UpdateTestcase, update, tpb.UpdateTestcaseResponse)
            else:
                delete = tpb.DeleteTestcasesRequest(testset_id=testset_id, testcase_ids=[testcase_id])
                await api.call(api.stubs.testsets.DeleteTestcases, delete, tpb.DeleteTestcasesResponse)
        except (TestcaseFormError, grpc.aio.AioRpcError) as exc:
            # A testcase gone meanwhile (another tab, another person) is said on the page too.
            message = refusal(exc, CHOICE_ERRORS)
            context = await testset_page(
                console, request, api, error=f"Nothing was changed: {message}", typed={testcase_id or "new": text}
            )
            return console.render(request, "testset.html", context, status_code=400)
        # Back to the testcases as they were listed: a search made to find this one stays.
        search = {"search": request.query_params["search"]} if request.query_params.get("search") else {}
        return redirect(f"/projects/{project_id}/testsets/{testset_id}?{urlencode({'changed': action, **search})}")

    async def add(request: Request) -> Response:
        return await change(request, "added")

    async def update(request: Request) -> Response:
        return await change(request, "updated")

    async def delete(request: Request) -> Response:
        return await change(request, "deleted")

    async def delete_testset(request: Request) -> Response:
        await console.form(request)
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        testset = await testset_of_project(api, project_id, testset_id)
        await api.call(
            api.stubs.testsets.DeleteTestset,
            tpb.DeleteTestsetRequest(testset_id=testset_id),
            tpb.DeleteTestsetResponse,
        )
        return redirect(f"/projects/{project_id}/testsets?{urlencode({'deleted': testset.name})}")

    base = "/projects/{project_id}/testsets/{testset_id}"
    return [
        Route(base + "/testcases", add, methods=["POST"]),
        Route(base + "/testcases/{testcase_id}", update, methods=["POST"]),
        Route(base + "/testcases/{testcase_id}/delete", delete, methods=["POST"]),
        Route(base + "/delete", delete_testset, methods=["POST"]),
    ]
