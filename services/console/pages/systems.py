"""Systems: each with its versions and configs; a new HTTP system or version (its config checked
before anything is written), the production version."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.system_form import METHODS, HttpSystemForm, SystemFormError
from services.console.web import INPUT_ERRORS, Console, PageNotFound, api_message, redirect
from shared.edge.convert import dict_to_struct, struct_to_dict


def list_systems(api: Api, project_id: str) -> Awaitable[cpb.ListSystemsResponse]:
    """The project's systems with their versions (the Systems page, the Kickoff dialog, the Playground)."""
    return api.call(
        api.stubs.catalog.ListSystems, cpb.ListSystemsRequest(project_id=project_id), cpb.ListSystemsResponse
    )


def routes(console: Console) -> list[Route]:
    async def systems_page(
        request: Request, form: HttpSystemForm | None = None, error: str = "", status_code: int = 200
    ) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(request, api, project_id, {"systems": list_systems(api, project_id)})
        systems: cpb.ListSystemsResponse = data["systems"]
        versions = {v.id: (s.system, v) for s in systems.systems for v in s.versions}
        if form is None:
            start = versions.get(request.query_params.get("from", ""))
            form = HttpSystemForm()
            if start is not None and start[1].kind == "http":
                form = HttpSystemForm.from_config(start[0].name, struct_to_dict(start[1].config))
        saved = versions.get(request.query_params.get("saved", ""))
        production = versions.get(request.query_params.get("production", ""))
        context = {**data, "form": form, "methods": METHODS, "error": error, "saved": saved, "production": production}
        context["form_open"] = bool(error or request.query_params.get("from"))
        return console.render(request, "systems.html", context, status_code=status_code)

    async def create_http_version(request: Request) -> Response:
        posted = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        form = HttpSystemForm.posted(posted)
        try:
            # The system of that name gets the version; a new one is made with it, or not at all.
            version = await api.call(
                api.stubs.catalog.CreateSystemVersion,
                cpb.CreateSystemVersionRequest(
                    project_id=project_id,
                    system_name=form.system_name.strip(),
                    system_description=form.description,
                    name=form.version_name.strip(),
                    kind="http",
                    config=dict_to_struct(form.config()),
                ),
                cpb.SystemVersion,
            )
        except SystemFormError as exc:
            return await systems_page(request, form, str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await systems_page(request, form, api_message(exc), 400)
        return redirect(f"/projects/{project_id}/systems?saved={version.id}#{version.system_id}")

    async def make_production(request: Request) -> Response:
        form = await console.form(request)
        project_id, system_id = request.path_params["project_id"], request.path_params["system_id"]
        version_id = str(form.get("version_id", ""))
        api = console.api(request)
        systems = (await list_systems(api, project_id)).systems
        if not any(s.system.id == system_id and version_id in {v.id for v in s.versions} for s in systems):
            raise PageNotFound  # another project's system or version under this project's address
        await api.call(
            api.stubs.catalog.SetProductionVersion,
            cpb.SetProductionVersionRequest(system_id=system_id, version_id=version_id),
            cpb.System,
        )
        return redirect(f"/projects/{project_id}/systems?production={version_id}#{system_id}")

    base = "/projects/{project_id}"
    return [
        Route(f"{base}/systems", systems_page, methods=["GET"]),
        Route(f"{base}/systems", create_http_version, methods=["POST"]),
        Route(base + "/systems/{system_id}/production", make_production, methods=["POST"]),
    ]
