"""Running the console process: uvicorn over the app, stopped gracefully on SIGTERM / SIGINT.

The other services run through ``shared.runtime``, which serves a proto-described API; the
console serves pages, so it runs its own HTTP server with the same logs and signals.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import uvicorn
import uvloop
from starlette.types import ASGIApp

from services.console.settings import ConsoleSettings
from shared import logs

log = logging.getLogger(__name__)


async def serve(
    name: str, settings: ConsoleSettings, build: Callable[[AsyncExitStack, ConsoleSettings], Awaitable[ASGIApp]]
) -> None:
    logs.configure(name, settings.log_level)
    async with AsyncExitStack() as stack:
        app = await build(stack, settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=int(settings.drain_timeout_s),
            )
        )
        # uvicorn takes SIGTERM / SIGINT while serving (then drains requests) and raises the signal
        # again when done: these handlers take that one, so the exit stack still closes the channels.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        log.info("service started", extra={"http_port": settings.http_port})
        await server.serve()
    log.info("stopped")


def main(
    name: str,
    settings_type: type[ConsoleSettings],
    build: Callable[[AsyncExitStack, ConsoleSettings], Awaitable[ASGIApp]],
) -> None:
    """Entry point of ``python -m services.console``: settings are read here, once."""
    uvloop.run(serve(name, settings_type(), build))
