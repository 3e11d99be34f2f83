"""A project's API keys (admin role): list, create or rotate (the secret shown once), revoke; the
project's name and description (admin role); and a new project (the instance admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import catalog_pb2 as cpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.web import INPUT_ERRORS, Console, PageNotFound, api_message, redirect

ROLES = ("read", "write", "admin")
# What the new key form offers: days until the key expires (0: never), and how it says so.
EXPIRIES = {0: "never", 7: "in 7 days", 30: "in 30 days", 90: "in 90 days", 365: "in a year"}
# What the rotate form offers: hours the old key keeps working (0: revoked at once).
GRACES = {0: "stops now", 1: "works 1 more hour", 24: "works 24 more hours", 168: "works 7 more days"}


def _count(text: str) -> int:
    """A form's whole number of days or hours; -1 (which the API refuses, saying its range) for
    anything else."""
    return int(text) if text.isdigit() and len(text) < 6 else -1


def _expired(key: apb.ApiKey) -> bool:
    return bool(key.expires_at) and datetime.fromisoformat(key.expires_at) <= datetime.now(UTC)


def routes(console: Console) -> list[Route]:
    async def keys_page(request: Request, api: Api, extra: dict[str, Any], status_code: int = 200) -> Response:
        project_id = request.path_params["project_id"]
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "keys": api.call(
                    api.stubs.access.ListApiKeys,
                    apb.ListApiKeysRequest(project_id=project_id),
                    apb.ListApiKeysResponse,
                )
            },
        )
        visitor = console.security.api_key(request)
        context = {
            **data,
            "roles": ROLES,
            "expiries": EXPIRIES,
            "graces": GRACES,
            "expired": _expired,
            "values": {},
            "error": "",
            "yours": lambda key: visitor.startswith(key.prefix + "_"),
            "revoked": request.query_params.get("revoked", ""),
            "project_saved": request.query_params.get("project") == "saved",
            "project_values": {},
            "project_error": "",
            **extra,
        }
        return console.render(request, "keys.html", context, status_code=status_code)

    async def list_keys(request: Request) -> Response:
        return await keys_page(request, console.api(request), {})

    async def create_key(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        values = {k: str(form.get(k, "")) for k in ("name", "role", "expires_in_days")}
        days = values["expires_in_days"]
        try:
            created = await api.call(
                api.stubs.access.CreateApiKey,
                apb.CreateApiKeyRequest(
                    project_id=request.path_params["project_id"],
                    name=values["name"],
                    role=values["role"],
                    expires_in_days=_count(days),
                ),
                apb.CreateApiKeyResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await keys_page(request, api, {"values": values, "error": api_message(exc)}, 400)
        # The secret is in this answer only: never in an address, a cookie, a log or a cache.
        response = await keys_page(request, api, {"created": created})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def key_of_project(api: Api, request: Request) -> str:
        project_id, key_id = request.path_params["project_id"], str(request.path_params["key_id"])
        listed = await api.call(
            api.stubs.access.ListApiKeys, apb.ListApiKeysRequest(project_id=project_id), apb.ListApiKeysResponse
        )
        if key_id not in {k.id for k in listed.keys}:
            raise PageNotFound  # another project's key under this project's address
        return key_id

    async def rotate_key(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        key_id = await key_of_project(api, request)
        grace = _count(str(form.get("grace_hours", "0")))
        try:
            rotated = await api.call(
                api.stubs.access.RotateApiKey,
                apb.RotateApiKeyRequest(key_id=key_id, grace_hours=grace),
                apb.RotateApiKeyResponse,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return await keys_page(request, api, {"error": api_message(exc)}, 400)
        # As for a new key: the secret is in this answer only.
        response = await keys_page(request, api, {"created": rotated, "replaced": rotated.replaced})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def revoke_key(request: Request) -> Response:
        await console.form(request)
        api = console.api(request)
        project_id = request.path_params["project_id"]
        key_id = await key_of_project(api, request)
        revoked = await api.call(api.stubs.access.RevokeApiKey, apb.RevokeApiKeyRequest(key_id=key_id), apb.ApiKey)
        return redirect(f"/projects/{project_id}/keys?revoked={revoked.id}")

    async def update_project(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        project_id = request.path_params["project_id"]
        values = {
            "name": str(form.get("name", "")),
            "description": str(form.get("description", "")),
            "call_retention_days": str(form.get("call_retention_days", "0")).strip() or "0",
        }
        if not values["call_retention_days"].isdigit():
            error = (
                f"Nothing was saved: the days calls are kept is a whole number, got {values['call_retention_days']!r}"
            )
            return await keys_page(request, api, {"project_values": values, "project_error": error}, 400)
        try:
            await api.call(
                api.stubs.catalog.UpdateProject,
                cpb.UpdateProjectRequest(
                    project_id=project_id,
                    name=values["name"],
                    description=values["description"],
                    call_retention_days=min(int(values["call_retention_days"]), 2**31 - 1),
                ),
                cpb.Project,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            extra = {"project_values": values, "project_error": f"Nothing was saved: {api_message(exc)}"}
            return await keys_page(request, api, extra, 400)
        return redirect(f"/projects/{project_id}/keys?project=saved")

    async def create_project(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        values = {"name": str(form.get("name", "")), "description": str(form.get("description", ""))}
        try:
            project = await api.call(
                api.stubs.catalog.CreateProject,
                cpb.CreateProjectRequest(name=values["name"], description=values["description"]),
                cpb.Project,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            projects = await console.projects(api)
            await console.role(request, api)
            context = {"projects": projects, "project": None, "values": values, "error": api_message(exc)}
            return console.render(request, "projects.html", context, status_code=400)
        return redirect(f"/projects/{project.id}/keys")

    base = "/projects/{project_id}/keys"
    return [
        Route(base, list_keys, methods=["GET"]),
        Route(base, create_key, methods=["POST"]),
        Route(base + "/{key_id}/revoke", revoke_key, methods=["POST"]),
        Route(base + "/{key_id}/rotate", rotate_key, methods=["POST"]),
        Route("/projects/{project_id}/settings", update_project, methods=["POST"]),
        Route("/projects", create_project, methods=["POST"]),
    ]
