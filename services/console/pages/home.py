"""Sign in and out, the project list, the project switcher and the colour theme."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from scorekeeper.v1 import access_pb2 as apb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.theme import THEMES, keep_theme
from services.console.web import Console, api_message, error_page, redirect


def safe_next(target: str) -> str:
    """Only a path of this site (never //host or a scheme), so sign-in cannot redirect elsewhere."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def routes(console: Console) -> list[Route]:
    async def sign_in_page(request: Request) -> Response:
        return console.render(request, "sign_in.html", {"next": safe_next(request.query_params.get("next", "/"))})

    async def sign_in(request: Request) -> Response:
        form = await console.form(request)
        key = str(form.get("api_key", "")).strip()
        target = safe_next(str(form.get("next", "/")))
        api = Api(console.stubs, key, console.settings.call_timeout_s)
        try:
            await api.call(api.stubs.access.WhoAmI, apb.WhoAmIRequest(), apb.WhoAmIResponse)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            said = api_message(exc)  # an expired key is told when it expired; others are not told apart
            error = (
                f"T{said[1:]}." if " expired " in said else "This API key is not valid: it is unknown or was revoked."
            )
            return console.render(request, "sign_in.html", {"next": target, "error": error}, status_code=401)
        response = redirect(target)
        console.security.sign_in(response, key)
        return response

    async def sign_out(request: Request) -> Response:
        await console.form(request)
        response = redirect("/sign-in")
        console.security.sign_out(response)
        return response

    async def home(request: Request) -> Response:
        api = console.api(request)
        projects, role = await asyncio.gather(console.projects(api), console.role(request, api))
        if len(projects) == 1 and role != "instance_admin":  # the instance admin may make another
            return redirect(f"/projects/{projects[0].id}/runs")
        context: dict[str, Any] = {"projects": projects, "project": None, "values": {}, "error": ""}
        return console.render(request, "projects.html", context)

    async def switch(request: Request) -> Response:
        project = request.query_params.get("project", "")
        return redirect(f"/projects/{project}/runs" if project else "/")

    async def project_home(request: Request) -> Response:
        return redirect(f"/projects/{request.path_params['project_id']}/runs")

    async def choose_theme(request: Request) -> Response:
        """The theme chosen in the top bar (auto: the system's), kept for the next pages; back to the
        page it was chosen on."""
        theme = request.query_params.get("to", "")
        if theme not in THEMES:
            message = f"to must be one of {', '.join(THEMES)}, got {theme!r}"
            return error_page(console, request, 400, "No such theme", message)
        response = redirect(safe_next(request.query_params.get("back", "/")))
        keep_theme(response, theme, secure=console.settings.cookie_secure)
        return response

    return [
        Route("/", home),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/switch", switch),
        Route("/projects/{project_id}", project_home),
        Route("/theme", choose_theme),
    ]
