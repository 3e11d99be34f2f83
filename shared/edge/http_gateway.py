"""HTTP JSON edge: routes built from the ``google.api.http`` annotations of the bound services,
plus /healthz, /readyz and Prometheus /metrics. Same operations and errors as gRPC."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.edge.api import BoundMethod, BoundService
from shared.edge.errors import ApiError, Code

log = logging.getLogger(__name__)


def to_json(message: Message) -> dict[str, Any]:
    """The JSON form used by every HTTP response (proto field names, defaults included)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def error_response(code: Code, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code.name, "message": message}}, status_code=code.http)


def _http_rule(method: BoundMethod) -> tuple[str, str, str] | None:
    options = method.descriptor.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb is None or verb == "custom":
        return None
    return verb.upper(), getattr(rule, verb), rule.body


def _query_value(field: Any, raw: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ApiError(Code.INVALID_ARGUMENT, f"query parameter {field.name} must be true or false")
        return lowered in ("true", "1")
    return raw


def _endpoint(method: BoundMethod, body_rule: str) -> Callable[[Request], Any]:
    fields = method.request_type.DESCRIPTOR.fields_by_name

    async def endpoint(request: Request) -> Response:
        try:
            message = method.request_type()
            if body_rule == "*":
                raw = await request.body()
                if raw.strip():
                    try:
                        json_format.Parse(raw, message)
                    except json_format.ParseError as exc:
                        raise ApiError(Code.INVALID_ARGUMENT, f"malformed request body: {exc}") from exc
            params: dict[str, Any] = {}
            for key, value in request.query_params.multi_items():
                field = fields.get(key)
                if field is None:
                    raise ApiError(Code.INVALID_ARGUMENT, f"unknown query parameter {key!r}")
                if field.is_repeated:
                    params.setdefault(key, []).append(_query_value(field, value))
                else:
                    params[key] = _query_value(field, value)
            params.update(request.path_params)
            try:
                json_format.ParseDict(params, message)
            except json_format.ParseError as exc:
                raise ApiError(Code.INVALID_ARGUMENT, f"bad parameter: {exc}") from exc
            response = await method.call(message)
            return JSONResponse(to_json(response))
        except ApiError as exc:
            return error_response(exc.code, exc.message)
        except Exception:
            log.exception("unhandled error in the HTTP gateway for %s", method.descriptor.full_name)
            return error_response(Code.INTERNAL, f"internal error in {method.descriptor.name}")

    return endpoint


def build_http_app(services: list[BoundService], ready: Callable[[], Awaitable[bool]]) -> Starlette:
    routes: list[Route] = []
    for service in services:
        for method in service.methods:
            rule = _http_rule(method)
            if rule is None:
                continue
            verb, path, body = rule
            routes.append(Route(path, _endpoint(method, body), methods=[verb], name=method.descriptor.full_name))

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok = await ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes += [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(Code.NOT_FOUND, f"no route for {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {
                "error": {
                    "code": "METHOD_NOT_ALLOWED",
                    "message": f"{request.method} is not allowed on {request.url.path}",
                }
            },
            status_code=405,
        )

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
