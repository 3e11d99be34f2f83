"""The Playground: edit a prompt, **Try** it on a few cases (each output and its scores appear as
they arrive, the results polled every second), try again, **Save as version**, **Kick off run**;
and the project's earlier tries. Every action is a form post that also works without scripts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import playground_pb2 as ppb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.pages.run import record_columns, scores_by_metric
from services.console.pages.systems import list_systems
from services.console.playground_form import PlaygroundForm, same_prompt
from services.console.prompt_form import FormError
from services.console.web import CHOICE_ERRORS, Console, PageNotFound, api_message, redirect
from shared.edge.convert import dict_to_struct, struct_to_dict
from shared.run_status import TERMINAL

TESTCASES_SHOWN = 50
TRIES_SHOWN = 15
# A form post's work on the posted fields: (request, the visitor's API, project id, fields).
Act = Callable[[Request, Api, str, PlaygroundForm], Awaitable[Response]]


async def _testcases(api: Api, testset_id: str) -> list[tpb.Testcase]:
    if not testset_id:
        return []
    request = tpb.ListTestcasesRequest(testset_id=testset_id, page_size=TESTCASES_SHOWN)
    return list((await api.call(api.stubs.testsets.ListTestcases, request, tpb.ListTestcasesResponse)).testcases)


async def _tries(api: Api, project_id: str) -> list[ppb.Try]:
    request = ppb.ListTriesRequest(project_id=project_id, page_size=TRIES_SHOWN)
    return list((await api.call(api.stubs.playground.ListTries, request, ppb.ListTriesResponse)).tries)


async def _try(api: Api, project_id: str, try_id: str) -> ppb.Try:
    tried = await api.call(api.stubs.playground.GetTry, ppb.GetTryRequest(try_id=try_id), ppb.Try)
    if tried.project_id != project_id:
        raise PageNotFound
    return tried


async def results(api: Api, project_id: str, try_id: str) -> dict[str, Any]:
    """A try with its run and each case's record (None while it is not in yet), in the try's order."""
    tried = await _try(api, project_id, try_id)
    run, page = await asyncio.gather(
        api.call(api.stubs.query.GetRun, qpb.GetRunRequest(run_id=tried.run_id), qpb.RunView),
        api.call(
            api.stubs.query.ListRecords,
            qpb.ListRecordsRequest(run_id=tried.run_id, page_size=len(tried.cases) or 1),
            qpb.ListRecordsResponse,
        ),
    )
    by_case = {r.testcase_id: r for r in page.records}
    return {
        "tried": tried,
        "run": run,
        "rows": [(case, by_case.get(case.testcase_id)) for case in tried.cases],
        "columns": record_columns(run),
        "scores_by_metric": scores_by_metric,
        "final": run.status in TERMINAL,
        "model": struct_to_dict(tried.config).get("model", ""),
    }


async def saved_version(api: Api, project_id: str, values: PlaygroundForm) -> tuple[cpb.SystemVersion, str, bool]:
    """The saved version of the form's prompt: the one it was loaded from (or last saved as) while
    unchanged and no new version is named; else a new version of the "Save as" system (made when
    missing). Returns the version, its system's name, and whether it was made now."""
    config = values.full_config()
    systems = (await list_systems(api, project_id)).systems
    if values.system_version_id and not values.save_version:
        for s in systems:
            for v in s.versions:
                if v.id == values.system_version_id and same_prompt(struct_to_dict(v.config), config):
                    return v, s.system.name, False
    system = next((s.system for s in systems if s.system.name == values.save_system), None)
    if system is None:
        system = await api.call(
            api.stubs.catalog.CreateSystem,
            cpb.CreateSystemRequest(
                project_id=project_id, name=values.save_system, description="Prompts saved from the playground."
            ),
            cpb.System,
        )
    version = await api.call(
        api.stubs.catalog.CreateSystemVersion,
        cpb.CreateSystemVersionRequest(
            system_id=system.id, name=values.save_version, kind="llm", config=dict_to_struct(config)
        ),
        cpb.SystemVersion,
    )
    return version, system.name, True


def routes(console: Console) -> list[Route]:
    def base(project_id: str) -> str:
        return f"/projects/{project_id}/playground"

    async def page_context(
        request: Request, api: Api, values: PlaygroundForm, shown: dict[str, Any] | None = None, error: str = ""
    ) -> dict[str, Any]:
        project_id = request.path_params["project_id"]
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "systems": list_systems(api, project_id),
                "testsets": api.call(
                    api.stubs.testsets.ListTestsets,
                    tpb.ListTestsetsRequest(project_id=project_id, page_size=200),
                    tpb.ListTestsetsResponse,
                ),
                "metrics": api.call(
                    api.stubs.catalog.ListMetrics,
                    cpb.ListMetricsRequest(project_id=project_id),
                    cpb.ListMetricsResponse,
                ),
                "testcases": _testcases(api, values.testset_id),
                "tries": _tries(api, project_id),
            },
        )
        return {**data, **(shown or {}), "values": values, "error": error, "playground_url": base(project_id)}

    async def page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        query = request.query_params
        values, shown = PlaygroundForm(), None
        if query.get("try"):
            shown = await results(api, project_id, query["try"])
            values = PlaygroundForm.from_try(shown["tried"])
        elif query.get("version"):
            values = next(
                (
                    PlaygroundForm.from_version(v, s.system.name)
                    for s in (await list_systems(api, project_id)).systems
                    for v in s.versions
                    if v.id == query["version"] and v.kind == "llm"
                ),
                values,
            )
        elif "model" in query:  # the form itself, sent by GET to show a testset's testcases
            values = PlaygroundForm.from_form(query)
        return console.render(request, "playground.html", await page_context(request, api, values, shown))

    def action(fragment: str, act: Act) -> Callable[[Request], Awaitable[Response]]:
        """A form post: ``act`` on the posted fields. A field to fix, or the API refusing the request,
        shows the reason: in ``fragment`` for htmx, else on the page with the form as it was."""

        async def post(request: Request) -> Response:
            project_id = request.path_params["project_id"]
            form = await console.form(request)
            api = console.api(request)
            values = PlaygroundForm.from_form(form)
            try:
                return await act(request, api, project_id, values)
            except FormError as exc:
                message = str(exc)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in CHOICE_ERRORS:
                    raise
                message = api_message(exc)
            if console.is_fragment(request):
                context = {"error": message, "playground_url": base(project_id)}
                return console.render(request, fragment, context, status_code=400)
            context = await page_context(request, api, values, error=message)
            return console.render(request, "playground.html", context, status_code=400)

        return post

    async def try_prompt(request: Request, api: Api, project_id: str, values: PlaygroundForm) -> Response:
        tried = await api.call(api.stubs.playground.CreateTry, values.try_request(project_id), ppb.Try)
        address = f"{base(project_id)}?try={tried.id}"
        if not console.is_fragment(request):
            return redirect(address)
        context = {**await results(api, project_id, tried.id), "playground_url": base(project_id)}
        context["tries"], context["oob"] = await _tries(api, project_id), True
        return console.render(request, "_playground_results.html", context, headers={"HX-Push-Url": address})

    async def save(request: Request, api: Api, project_id: str, values: PlaygroundForm) -> Response:
        version, system_name, made = await saved_version(api, project_id, values)
        if not console.is_fragment(request):
            return redirect(f"{base(project_id)}?version={version.id}")
        context = {"version": version, "system_name": system_name, "made": made}
        return console.render(request, "_playground_saved.html", context)

    async def kickoff(request: Request, api: Api, project_id: str, values: PlaygroundForm) -> Response:
        if not values.testset_id:
            raise FormError("Choose the testset a full run evaluates the prompt on.")
        if not values.metric_ids:
            raise FormError("Choose at least one metric to score the run with.")
        version, _, _ = await saved_version(api, project_id, values)
        run = await api.call(
            api.stubs.runs.CreateRun,
            rpb.CreateRunRequest(
                project_id=project_id,
                testset_id=values.testset_id,
                system_version_id=version.id,
                metric_ids=values.metric_ids,
                source="playground",
            ),
            rpb.Run,
        )
        return redirect(f"/projects/{project_id}/runs/{run.id}", request)

    async def results_fragment(request: Request) -> Response:
        project_id, try_id = request.path_params["project_id"], request.path_params["try_id"]
        api = console.api(request)
        context = {**await results(api, project_id, try_id), "playground_url": base(project_id)}
        if context["final"] and request.query_params.get("was") == "live":
            # The list of tries shows this one's final status too.
            context["tries"], context["oob"] = await _tries(api, project_id), True
        return console.render(request, "_playground_results.html", context)

    async def testcases_fragment(request: Request) -> Response:
        api = console.api(request)
        values = PlaygroundForm(testset_id=request.query_params.get("testset_id", ""))
        context = {"testcases": await _testcases(api, values.testset_id), "values": values}
        return console.render(request, "_playground_testcases.html", context)

    prefix = "/projects/{project_id}/playground"
    return [
        Route(prefix, page, methods=["GET"]),
        Route(f"{prefix}/try", action("_playground_results.html", try_prompt), methods=["POST"]),
        Route(f"{prefix}/tries/{{try_id}}/results", results_fragment, methods=["GET"]),
        Route(f"{prefix}/testcases", testcases_fragment, methods=["GET"]),
        Route(f"{prefix}/save", action("_playground_saved.html", save), methods=["POST"]),
        Route(f"{prefix}/kickoff", action("_playground_saved.html", kickoff), methods=["POST"]),
    ]
