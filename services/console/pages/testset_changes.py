"""What changed between two versions of a testset: the testcases added, removed and changed, each
changed field shown as it was and as it is."""

from __future__ import annotations

import grpc
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.pages.testsets import testset_of_project
from services.console.web import INPUT_ERRORS, Console, api_message


def _version(request: Request, name: str) -> int:
    """A version chosen in the address (0: let the API choose; what is not a number is 0 too)."""
    text = request.query_params.get(name, "0") or "0"
    return int(text) if text.isdigit() else 0


def routes(console: Console) -> list[Route]:
    async def changes_page(request: Request) -> Response:
        project_id, testset_id = request.path_params["project_id"], request.path_params["testset_id"]
        api = console.api(request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "testset": testset_of_project(api, project_id, testset_id),
                "versions": api.call(
                    api.stubs.testsets.ListTestsetVersions,
                    tpb.ListTestsetVersionsRequest(testset_id=testset_id, page_size=1000),
                    tpb.ListTestsetVersionsResponse,
                ),
            },
        )
        before, after = _version(request, "from"), _version(request, "to")
        request_pb = tpb.CompareTestsetVersionsRequest(
            testset_id=testset_id,
            from_version=before,
            to_version=after,
            page_size=console.settings.page_size,
            page_token=request.query_params.get("token", ""),
        )
        context = {**data, "chosen_from": before, "chosen_to": after, "comparison": None, "error": ""}
        try:
            comparison = await api.call(
                api.stubs.testsets.CompareTestsetVersions, request_pb, tpb.CompareTestsetVersionsResponse
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (*INPUT_ERRORS, grpc.StatusCode.NOT_FOUND):
                raise
            context["error"] = api_message(exc)
            return console.render(request, "testset_changes.html", context, status_code=400)
        # The mapping of each side, when it changed (shown above the table).
        sides = {}
        if comparison.mapping_changed:
            for side, version in (("old", comparison.from_version), ("new", comparison.to_version)):
                sides[side] = await testset_of_project(api, project_id, testset_id, version)
        keep = f"from={comparison.from_version}&to={comparison.to_version}"
        context |= {
            "comparison": comparison,
            "sides": sides,
            "chosen_from": comparison.from_version,
            "chosen_to": comparison.to_version,
            "keep": keep,
            "next_url": f"?{keep}&token={comparison.next_page_token}" if comparison.next_page_token else "",
        }
        return console.render(request, "testset_changes.html", context)

    return [Route("/projects/{project_id}/testsets/{testset_id}/changes", changes_page, methods=["GET"])]
