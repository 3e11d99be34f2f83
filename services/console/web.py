"""What every page shares: the visitor's API, rendering, form checks and the error pages."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import grpc
from jinja2 import Environment
from scorekeeper.v1 import access_pb2 as apb
from scorekeeper.v1 import catalog_pb2 as cpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from services.console.backend import Api, Stubs
from services.console.security import CSRF_FIELD, CSRF_HEADER, CsrfRejected, Security
from services.console.settings import ConsoleSettings
from services.console.theme import theme_of

log = logging.getLogger(__name__)

# What the API answers to input a visitor can fix: the form comes back with its message.
INPUT_ERRORS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS)
# The same, for forms that name other entities by id (one chosen may be gone meanwhile).
CHOICE_ERRORS = (*INPUT_ERRORS, grpc.StatusCode.NOT_FOUND)

# Keys whose role a console process remembers (a key's role never changes; a revoked key is
# refused by the API on the page's own calls).
_ROLES_KEPT = 10_000


class SignInRequired(Exception):
    """No key, or the API refused it (unknown, revoked)."""


class PageNotFound(Exception):
    """An id the visitor's key cannot see: unknown, or another project's."""


@dataclass
class Console:
    """Everything a page handler needs, built once by the composition root."""

    settings: ConsoleSettings
    stubs: Stubs
    templates: Environment
    security: Security
    _roles: dict[bytes, str] = field(default_factory=dict)

    def api(self, request: Request) -> Api:
        key = self.security.api_key(request)
        if not key:
            raise SignInRequired
        return Api(self.stubs, key, self.settings.call_timeout_s)

    async def role(self, request: Request, api: Api) -> str:
        """The visitor's key's role (WhoAmI, once per key and process); pages show the controls
        that write (kick off, import, save, review …) only when it is not ``read``."""
        digest = hashlib.sha256(self.security.api_key(request).encode()).digest()
        role = self._roles.get(digest)
        if role is None:
            me = await api.call(api.stubs.access.WhoAmI, apb.WhoAmIRequest(), apb.WhoAmIResponse)
            role = me.key.role
            if len(self._roles) >= _ROLES_KEPT:
                self._roles.clear()
            self._roles[digest] = role
        request.state.role = role
        return role

    def is_fragment(self, request: Request) -> bool:
        """An htmx request for part of a page (a history restore wants the whole page)."""
        return (
            request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"
        )

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            request=request,
            csrf=self.security.csrf_token(request),
            can_write=getattr(request.state, "role", "") != "read",
            can_admin=getattr(request.state, "role", "") in ("admin", "instance_admin"),
            key_role=getattr(request.state, "role", ""),
            theme=theme_of(request),
            **context,
        )
        return HTMLResponse(body, status_code=status_code, headers=headers)

    async def form(self, request: Request) -> FormData:
        """The posted form, once its CSRF token checks out."""
        form = await request.form()
        token = request.headers.get(CSRF_HEADER) or str(form.get(CSRF_FIELD, ""))
        self.security.check_csrf(request, token)
        return form

    async def projects(self, api: Api) -> list[cpb.Project]:
        response = await api.call(api.stubs.catalog.ListProjects, cpb.ListProjectsRequest(), cpb.ListProjectsResponse)
        return list(response.projects)

    async def project_page(
        self, request: Request, api: Api, project_id: str, loads: Mapping[str, Awaitable[Any]]
    ) -> dict[str, Any]:
        """The project switcher's projects, the current project and the page's own reads, at once."""
        names = list(loads)
        results = await asyncio.gather(self.projects(api), self.role(request, api), *loads.values())
        projects: list[cpb.Project] = results[0]
        project = next((p for p in projects if p.id == project_id), None)
        if project is None:
            raise PageNotFound
        return {"projects": projects, "project": project, **dict(zip(names, results[2:], strict=True))}


def redirect(url: str, request: Request | None = None) -> Response:
    """303 after a post; for htmx, a client-side redirect (htmx would swap a 303's page in place)."""
    if request is not None and request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# Downloads the console streams from the API: (media type, file suffix) by export format.
EXPORTS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson", "jsonl")}


async def download(chunks: AsyncIterator[Any], media_type: str, filename: str) -> StreamingResponse:
    """An export streamed from the API as a file download. Its first chunk is read before answering,
    so a refusal is still an error page, not a cut file."""
    first = await anext(aiter(chunks), None)

    async def body() -> AsyncIterator[bytes]:
        if first is not None and first.data:
            yield first.data
        async for chunk in chunks:
            if chunk.data:
                yield chunk.data

    quoted = filename.replace('"', "")
    return StreamingResponse(
        body(), media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{quoted}"'}
    )


def api_message(exc: grpc.aio.AioRpcError) -> str:
    details: str | None = exc.details()
    return details or str(exc.code().name)


def refusal(exc: Exception, codes: tuple[grpc.StatusCode, ...]) -> str:
    """What a form says when it is refused: the form's own error in its words, or the API's message
    for one of ``codes``; any other API failure is raised again (an error page)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        if exc.code() not in codes:
            raise exc
        return api_message(exc)
    return str(exc)


def _project_in_path(request: Request) -> str:
    """The project id the address names (``/projects/{id}/…``), when it is one."""
    parts = request.url.path.split("/")
    if len(parts) > 2 and parts[1] == "projects":
        try:
            return str(uuid.UUID(parts[2]))
        except ValueError:
            return ""
    return ""


def error_page(console: Console, request: Request, status: int, title: str, message: str) -> Response:
    context = {"title": title, "message": message, "project_id": _project_in_path(request)}
    try:
        return console.render(request, "error.html", context, status_code=status)
    except Exception:
        # The error page itself failed: still say something a person can read.
        log.exception("error page failed", extra={"path": request.url.path})
        return HTMLResponse(
            f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{title}</p>", status_code=status
        )


def _malformed_id_in_path(request: Request) -> bool:
    for name, value in request.path_params.items():
        if name.endswith("_id"):
            try:
                uuid.UUID(str(value))
            except ValueError:
                return True
    return False


def handle_errors(console: Console) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Every failure as a page a person can read: sign in again, not found, refused, or our fault."""

    async def handler(request: Request, exc: Exception) -> Response:
        if isinstance(exc, grpc.aio.AioRpcError):
            code = exc.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                exc = SignInRequired()
            elif code == grpc.StatusCode.NOT_FOUND or (
                code == grpc.StatusCode.INVALID_ARGUMENT and request.method == "GET" and _malformed_id_in_path(request)
            ):
                # An address whose id could never exist is not found, like an unknown one.
                exc = PageNotFound()
            elif code == grpc.StatusCode.PERMISSION_DENIED:
                return error_page(
                    console, request, 403, "Not allowed", f"Your API key's role does not allow this: {api_message(exc)}"
                )
            elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
                return error_page(console, request, 400, "That did not work", api_message(exc))
            elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning("API unavailable", extra={"path": request.url.path, "code": code.name})
                return error_page(
                    console,
                    request,
                    503,
                    "Scorekeeper is not answering",
                    "The service behind this page did not answer in time. Try again in a moment.",
                )
        if isinstance(exc, SignInRequired):
            target = f"/sign-in?next={quote(request.url.path + ('?' + request.url.query if request.url.query else ''))}"
            return redirect(target, request) if request.method == "GET" else redirect("/sign-in", request)
        if isinstance(exc, PageNotFound):
            return error_page(
                console,
                request,
                404,
                "Not found",
                "There is nothing at this address for your API key: the id is unknown, or it belongs to a project "
                "your key cannot see.",
            )
        if isinstance(exc, CsrfRejected):
            return error_page(
                console, request, 403, "Form expired", "This form could not be verified. Reload the page and try again."
            )
        reference = uuid.uuid4().hex[:8]
        log.exception("page failed", extra={"path": request.url.path, "reference": reference})
        return error_page(
            console,
            request,
            500,
            "Something went wrong on our side",
            f"The page could not be shown. The error is logged with reference {reference}.",
        )

    return handler
