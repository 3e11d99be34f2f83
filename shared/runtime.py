"""Running a service process: HTTP + gRPC edges, the bus, background tasks, graceful drain.

Each service's ``app.py`` builds a ``ServiceParts`` inside the exit stack it is given; this module
starts the parts in order and, on SIGTERM/SIGINT, stops taking work, drains in-flight messages
and requests, then closes everything in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import uvicorn
import uvloop

from shared import logs
from shared.auth.guard import Guard
from shared.config import ServiceSettings
from shared.edge.api import BoundService
from shared.edge.grpc_server import GrpcServer
from shared.edge.http_gateway import build_http_app
from shared.embedded import embedded_database_url, embedded_nats_url
from shared.messaging.bus import Bus

log = logging.getLogger(__name__)


@dataclass
class ServiceParts:
    """What a composition root hands to the runtime."""

    bus: Bus | None = None
    apis: list[BoundService] = field(default_factory=list)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Dependencies /readyz checks on every call (the database, the broker connection).
    readiness: list[Callable[[], Awaitable[bool]]] = field(default_factory=list)
    # Admits every call of the APIs (required with apis).
    guard: Guard | None = None


async def database_url(settings: ServiceSettings) -> str:
    """The configured database, or the embedded PostgreSQL under data_dir."""
    return settings.database_url or await embedded_database_url(settings.data_dir)


async def make_bus(settings: ServiceSettings, service: str) -> Bus:
    """The configured bus, or the embedded broker ``settings.bus`` names under data_dir (NATS
    JetStream, or Tansu with this prefix's topics created and fast group joins)."""
    url, timing = settings.bus_url, settings.group_timing()
    if not url and settings.bus == "kafka":
        from shared.embedded_kafka import FAST_JOIN, embedded_kafka_url
        from shared.messaging.kafka_topics import create_topics

        url = await asyncio.to_thread(embedded_kafka_url, settings.data_dir)
        await create_topics(url, settings.topic_prefix)
        timing = timing or FAST_JOIN
    elif not url:
        url = await asyncio.to_thread(embedded_nats_url, settings.data_dir)
    return Bus(
        url,
        service=service,
        topic_prefix=settings.topic_prefix,
        concurrency=settings.consumer_concurrency,
        attempts=settings.handler_attempts,
        max_deliveries=settings.max_deliveries,
        ack_wait_s=settings.ack_wait_s,
        max_backoff_s=settings.redelivery_max_s,
        group_timing=timing,
    )


async def run_service(
    name: str,
    settings: ServiceSettings,
    build: Callable[[AsyncExitStack], Awaitable[ServiceParts]],
) -> None:
    logs.configure(name, settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    ready = False
    async with AsyncExitStack() as stack:
        parts = await build(stack)

        grpc_server: GrpcServer | None = None
        if parts.apis:
            if parts.guard is None:
                raise TypeError(f"{name} serves an API without a guard")
            grpc_server = GrpcServer(parts.apis, parts.guard, settings.http_host, settings.grpc_port)
            await grpc_server.start()

        async def is_ready() -> bool:
            if not ready:
                return False
            try:
                checks = await asyncio.wait_for(asyncio.gather(*(check() for check in parts.readiness)), 2.0)
            except Exception:
                return False
            return all(checks)

        app = build_http_app(parts.apis, parts.guard, ready=is_ready, title=name)
        http = uvicorn.Server(
            uvicorn.Config(
                app, host=settings.http_host, port=settings.http_port, log_config=None, lifespan="off", access_log=False
            )
        )
        http_task = asyncio.create_task(http.serve())
        if parts.bus is not None:
            await parts.bus.start()
        background = [*parts.background, *([parts.guard.keys.run] if parts.guard is not None else [])]
        tasks = [asyncio.create_task(job()) for job in background]
        # Everything built so far lives as long as the process: move it out of the collector's
        # sight, so a full collection walks only what requests create (tails of the reads).
        gc.collect()
        gc.freeze()
        ready = True
        if grpc_server is not None:
            await grpc_server.set_serving(True)
        log.info("service started", extra={"http_port": settings.http_port, "grpc_port": settings.grpc_port})

        await stop.wait()
        log.info("draining")
        ready = False
        if grpc_server is not None:
            await grpc_server.set_serving(False)
        if parts.bus is not None:
            await parts.bus.drain(settings.drain_timeout_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if grpc_server is not None:
            await grpc_server.stop(grace_s=5)
        http.should_exit = True
        await http_task
    log.info("stopped")


S = TypeVar("S", bound=ServiceSettings)


def main(name: str, settings_type: type[S], build: Callable[..., Awaitable[ServiceParts]]) -> None:
    """Entry point of ``python -m services.<name>``: settings are read here, once."""
    settings = settings_type()
    uvloop.run(run_service(name, settings, partial(build, settings=settings)))
