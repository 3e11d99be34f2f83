"""The Kickoff and Re-run scoring dialogs: a page of their own at a stable URL, shown in a modal
when scripts run."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import testsets_pb2 as tpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.kickoff import KickoffError, KickoffForm, prompt_system_config
from services.console.pages.run import run_of_project
from services.console.pages.systems import list_systems
from services.console.web import CHOICE_ERRORS, Console, api_message, redirect
from shared.edge.convert import dict_to_struct


async def _metrics_with_versions(api: Api, project_id: str) -> list[cpb.MetricWithVersions]:
    listed = await api.call(
        api.stubs.catalog.ListMetrics, cpb.ListMetricsRequest(project_id=project_id), cpb.ListMetricsResponse
    )
    return list(
        await asyncio.gather(
            *(
                api.call(api.stubs.catalog.GetMetric, cpb.GetMetricRequest(metric_id=m.id), cpb.MetricWithVersions)
                for m in listed.metrics
            )
        )
    )


def routes(console: Console) -> list[Route]:
    def show(request: Request, fragment: str, context: dict[str, Any], status_code: int = 200) -> Response:
        if console.is_fragment(request):
            return console.render(request, fragment, context, status_code=status_code)
        return console.render(request, "dialog_page.html", {**context, "fragment": fragment}, status_code=status_code)

    # -- re-run scoring --------------------------------------------------------------------------

    async def rescore_context(request: Request, api: Api, error: str = "") -> dict[str, Any]:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        data = await console.project_page(
            request,
            api,
            project_id,
            {"run": run_of_project(api, project_id, run_id), "metrics": _metrics_with_versions(api, project_id)},
        )
        pinned = {m.metric_id: m.metric_version_id for m in data["run"].metrics}
        return {**data, "pinned": pinned, "error": error, "title": "Re-run scoring"}

    async def rescore_page(request: Request) -> Response:
        api = console.api(request)
        return show(request, "_rescore_form.html", await rescore_context(request, api))

    async def rescore(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        await run_of_project(api, project_id, run_id)
        choices = [
            rpb.MetricChoice(metric_id=m, version_id=str(form.get(f"version_{m}", "")))
            for m in form.getlist("metric")
            if isinstance(m, str)
        ]
        if not choices:
            context = await rescore_context(request, api, "Choose at least one metric to re-score with.")
            return show(request, "_rescore_form.html", context, 400)
        try:
            await api.call(api.stubs.runs.RescoreRun, rpb.RescoreRunRequest(run_id=run_id, metrics=choices), rpb.Run)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return show(request, "_rescore_form.html", await rescore_context(request, api, api_message(exc)), 400)
        return redirect(f"/projects/{project_id}/runs/{run_id}", request)

    # -- kickoff ---------------------------------------------------------------------------------

    async def kickoff_context(request: Request, api: Api, values: KickoffForm, error: str = "") -> dict[str, Any]:
        project_id = request.path_params["project_id"]
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "testsets": api.call(
                    api.stubs.testsets.ListTestsets,
                    tpb.ListTestsetsRequest(project_id=project_id, page_size=200),
                    tpb.ListTestsetsResponse,
                ),
                "systems": list_systems(api, project_id),
                "metrics": api.call(
                    api.stubs.catalog.ListMetrics,
                    cpb.ListMetricsRequest(project_id=project_id),
                    cpb.ListMetricsResponse,
                ),
                "groups": api.call(
                    api.stubs.catalog.ListMetricGroups,
                    cpb.ListMetricGroupsRequest(project_id=project_id),
                    cpb.ListMetricGroupsResponse,
                ),
            },
        )
        return {**data, "values": values, "error": error, "title": "Kick off a run"}

    async def kickoff_page(request: Request) -> Response:
        api = console.api(request)
        values = KickoffForm()
        from_run = request.query_params.get("from_run", "")
        if from_run:
            run = await run_of_project(api, request.path_params["project_id"], from_run)
            values = KickoffForm.from_run(run)
        else:
            params = request.query_params
            values = KickoffForm(
                testset_id=params.get("testset", ""), system_version_id=params.get("system_version", "")
            )
        return show(request, "_kickoff_form.html", await kickoff_context(request, api, values))

    async def kickoff(request: Request) -> Response:
        form: FormData = await console.form(request)
        api = console.api(request)
        project_id = request.path_params["project_id"]
        values = KickoffForm.from_form(form)
        try:
            values.check()
            system_version_id = values.system_version_id
            if values.mode == "prompt":
                system = await api.call(
                    api.stubs.catalog.CreateSystem,
                    cpb.CreateSystemRequest(
                        project_id=project_id,
                        name=values.prompt_system,
                        description="Prompts kicked off from the console, run on the server.",
                    ),
                    cpb.System,
                )
                version = await api.call(
                    api.stubs.catalog.CreateSystemVersion,
                    cpb.CreateSystemVersionRequest(
                        system_id=system.id, kind="llm", config=prompt_system_config(values)
                    ),
                    cpb.SystemVersion,
                )
                system_version_id = version.id
            run = await api.call(
                api.stubs.runs.CreateRun,
                rpb.CreateRunRequest(
                    project_id=project_id,
                    testset_id=values.testset_id,
                    system_version_id=system_version_id,
                    metric_ids=values.metric_ids,
                    metric_group_id=values.metric_group_id,
                    source="kickoff",
                    trials=values.trials,
                    max_concurrency=values.max_concurrency,
                    notes=values.notes,
                    metadata_filter=dict_to_struct(values.metadata_filter()),
                    sample=values.sample,
                    sample_seed=values.sample_seed,
                    same_testcases_as_run_id=values.same_as_run,
                ),
                rpb.Run,
            )
        except KickoffError as exc:
            return show(request, "_kickoff_form.html", await kickoff_context(request, api, values, str(exc)), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            context = await kickoff_context(request, api, values, api_message(exc))
            return show(request, "_kickoff_form.html", context, 400)
        return redirect(f"/projects/{project_id}/runs/{run.id}", request)

    return [
        Route("/projects/{project_id}/runs/{run_id}/rescore", rescore_page, methods=["GET"]),
        Route("/projects/{project_id}/runs/{run_id}/rescore", rescore, methods=["POST"]),
        Route("/projects/{project_id}/kickoff", kickoff_page, methods=["GET"]),
        Route("/projects/{project_id}/kickoff", kickoff, methods=["POST"]),
    ]
