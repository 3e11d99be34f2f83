"""Composition root of the console: gRPC channels, templates, security, and every page's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console import previous_run, steps, telemetry
from services.console.backend import Channels
from services.console.formatting import FILTERS
from services.console.pages import (
    audit,
    calls,
    catalog,
    compare,
    compare_testcase,
    conversations,
    curation,
    dialogs,
    home,
    keys,
    matrix,
    monitors,
    playground,
    records,
    review,
    run,
    run_steps,
    run_vs_previous,
    runs,
    schedules,
    systems,
    testset_changes,
    testset_edits,
    testsets,
    webhooks,
)
from services.console.security import CsrfRejected, Security
from services.console.settings import ConsoleSettings
from services.console.web import Console, PageNotFound, SignInRequired, handle_errors

SERVICE = "console"
HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR_FILES = ("htmx.min.js", "echarts.min.js", "pico.min.css")

# Scripts and styles come only from the console itself (no CDN, no inline script but speculation
# rules, which are JSON the browser reads to prefetch a page); htmx adds an inline style for its
# indicators.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'inline-speculation-rules'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class MissingAssets(RuntimeError):
    """The browser assets were not installed (``make setup`` runs npm ci and copies them)."""


def _with_headers(app: ASGIApp) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await app(scope, receive, send_with)

    return asgi


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    # A run against its previous run, as every page says it (the run page's and the runs list's).
    env.globals.update(paired=previous_run.paired, against_url=previous_run.against_url)
    # A record's or a call's steps, as a tree on the call's timeline.
    env.globals.update(steps=steps.steps)
    return env


async def build(stack: AsyncExitStack, settings: ConsoleSettings) -> ASGIApp:
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
    if missing:
        raise MissingAssets(f"missing {', '.join(missing)} in {STATIC / 'vendor'}: run `make setup`")
    channels = await stack.enter_async_context(Channels(settings.orchestrator_grpc, settings.query_grpc))
    security = Security(settings.console_secret.get_secret_value(), secure_cookies=settings.cookie_secure)
    console = Console(settings=settings, stubs=channels.stubs, templates=templates(), security=security)
    return create_app(console, telemetry.routes(channels))


def create_app(console: Console, probes: list[Route]) -> ASGIApp:
    """Every page, the static assets and the probes, behind the console's middleware."""
    pages = [
        *home.routes(console),
        *runs.routes(console),
        *dialogs.routes(console),
        *run.routes(console),
        *run_vs_previous.routes(console),
        *run_steps.routes(console),
        *records.routes(console),
        *curation.routes(console),
        *review.routes(console),
        *compare_testcase.routes(console),
        *compare.routes(console),
        *matrix.routes(console),
        *testsets.routes(console),
        *testset_edits.routes(console),
        *testset_changes.routes(console),
        *catalog.routes(console),
        *systems.routes(console),
        *playground.routes(console),
        *calls.routes(console),
        *conversations.routes(console),
        *monitors.routes(console),
        *schedules.routes(console),
        *keys.routes(console),
        *webhooks.routes(console),
        *audit.routes(console),
    ]
    errors = handle_errors(console)
    app = Starlette(
        routes=[*probes, *pages, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        exception_handlers={
            grpc.aio.AioRpcError: errors,
            SignInRequired: errors,
            PageNotFound: errors,
            CsrfRejected: errors,
            404: errors_404(console),
            Exception: errors,
        },
    )
    return telemetry.timed(_with_headers(console.security.middleware(app)))


def errors_404(console: Console) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An address no route serves gets the same not-found page as an unknown id."""
    handler = handle_errors(console)

    async def not_found(request: Request, exc: Exception) -> Response:
        return await handler(request, PageNotFound())

    return not_found
