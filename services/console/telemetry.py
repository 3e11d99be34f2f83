"""/healthz, /readyz and /metrics, and the server time of every page (what the bench and
dashboards read)."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.backend import Channels

PAGE_SECONDS = Histogram(
    "scorekeeper_console_request_seconds",
    "Server time of the console's pages and fragments, by handler and status.",
    ["handler", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10),
)
# Read by benchmarks and tests: the server time of this response, in ms (as Server-Timing).
SERVER_TIMING = "server-timing"


def timed(app: ASGIApp) -> ASGIApp:
    """Times every request and adds ``Server-Timing: app;dur=<ms>`` to the response."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = [*message.get("headers", []), (SERVER_TIMING.encode(), f"app;dur={elapsed_ms:.1f}".encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_timed)
        finally:
            endpoint = scope.get("endpoint")
            handler = getattr(endpoint, "__name__", "static" if scope["path"].startswith("/static/") else "none")
            PAGE_SECONDS.labels(handler, str(status)).observe(time.perf_counter() - started)

    return asgi


def routes(channels: Channels) -> list[Route]:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Ready when both APIs answer their gRPC health check."""

        async def serving(channel: grpc.aio.Channel) -> bool:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        checks = await asyncio.gather(serving(channels.orchestrator), serving(channels.query))
        ok = all(checks)
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "orchestrator": checks[0], "query": checks[1]},
            status_code=200 if ok else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
