"""HTTP JSON edge: routes built from the ``google.api.http`` annotations of the bound services,
plus /healthz, /readyz and Prometheus /metrics. Same operations and errors as gRPC.

Streaming RPCs:
- client streaming: the rule's ``body`` names a ``bytes`` field of the request; the raw request
  body is streamed into it, one request message per received chunk. Path and query parameters
  fill the first message.
- server streaming: with ``response_body`` naming a ``bytes`` field of the response, the response
  body is those bytes, chunked as the messages come (media type from the first message's
  ``content_type`` field when it has one); without it, one JSON message per line (NDJSON). An
  error before the first message is a normal JSON error; a later one aborts the connection so
  that a truncated body is never mistaken for a complete one.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from scorekeeper_sdk.exact_json import from_wire, to_wire
from shared.auth.audit import CLIENT_HEADER, client_of
from shared.auth.guard import Guard
from shared.edge.api import BoundMethod, BoundService, Streaming, api_error
from shared.edge.convert import map_json_fields
from shared.edge.docs import docs_routes
from shared.edge.errors import MAX_REQUEST_BYTES, ApiError, Code
from shared.edge.openapi import API_VERSION, openapi_document
from shared.edge.rules import http_rules

log = logging.getLogger(__name__)

MessageT = TypeVar("MessageT", bound=Message)


def to_json(message: Message) -> dict[str, Any]:
    """The JSON form used by every HTTP response (proto field names, defaults included); JSON
    values (Struct fields) with their numbers as they were stored (``exact_json``)."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    result: dict[str, Any] = map_json_fields(data, message.DESCRIPTOR, from_wire)
    return result


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text} is out of range")
    return number


def _not_a_number(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def parse_json(text: str, message: Message) -> None:
    """A request body into ``message``: JSON values (Struct fields) keep their numbers exactly
    (``exact_json``), which protobuf's own parser would turn into doubles."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_float=_finite, parse_constant=_not_a_number)
    except ValueError as exc:
        raise json_format.ParseError(f"Failed to load JSON: {exc}") from exc
    json_format.ParseDict(map_json_fields(data, message.DESCRIPTOR, to_wire), message)


def error_response(code: Code, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="scorekeeper"'} if code is Code.UNAUTHENTICATED else None
    return JSONResponse({"error": {"code": code.name, "message": message}}, status_code=code.http, headers=headers)


def _query_value(field: Any, raw: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ApiError(Code.INVALID_ARGUMENT, f"query parameter {field.name} must be true or false")
        return lowered in ("true", "1")
    return raw


def _apply_params(message: Message, request: Request) -> None:
    """Query and path parameters into the request message (path parameters win)."""
    fields = message.DESCRIPTOR.fields_by_name
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


_TOO_LARGE = f"request body larger than {MAX_REQUEST_BYTES} bytes; split it into smaller calls"


async def _body(request: Request) -> bytes:
    """The request's body, at most MAX_REQUEST_BYTES; gzip (Content-Encoding) decompressed."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_REQUEST_BYTES:
            raise ApiError(Code.RESOURCE_EXHAUSTED, _TOO_LARGE)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return bytes(raw)
    if encoding != "gzip":
        raise ApiError(Code.INVALID_ARGUMENT, f"Content-Encoding {encoding[:40]!r} is not taken; send gzip or none")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(bytes(raw), MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise ApiError(Code.INVALID_ARGUMENT, f"the gzip body cannot be decompressed: {exc}") from None
    if len(data) > MAX_REQUEST_BYTES or inflate.unconsumed_tail:
        raise ApiError(Code.RESOURCE_EXHAUSTED, _TOO_LARGE)
    return data


async def _request_message(method: BoundMethod, body_rule: str, request: Request) -> Message:
    """The request message: its fields from the JSON body (body "*") or the body's bytes (a bytes
    field named by the rule: an OTLP export), then the query and path parameters."""
    message = method.request_type()
    if body_rule not in ("*", ""):
        setattr(message, body_rule, await _body(request))
    elif body_rule == "*":
        raw = await _body(request)
        if raw.strip():
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(
                    Code.INVALID_ARGUMENT, f"the request body is not UTF-8 (byte {exc.start}); send JSON in UTF-8"
                ) from None
            try:
                parse_json(text, message)
            except json_format.ParseError as exc:
                raise ApiError(Code.INVALID_ARGUMENT, f"malformed request body: {exc}") from exc
            except (ValueError, TypeError, RecursionError) as exc:
                # Text protobuf cannot hold (an unpaired surrogate), nesting beyond its limit …
                raise ApiError(Code.INVALID_ARGUMENT, f"malformed request body: {exc!r}") from exc
    _apply_params(message, request)
    return message


def _admitted(
    method: BoundMethod, guard: Guard, request: Request, read_request: Callable[[], Awaitable[MessageT]]
) -> Awaitable[MessageT]:
    """The request, once the guard admitted its caller (``Authorization: Bearer <key>``)."""
    client = client_of(request.headers.get(CLIENT_HEADER), request.headers.get("user-agent"))
    return method.admit(guard, request.headers.get("authorization"), read_request, edge="http", client=client)


async def _json_answer(method: BoundMethod, call: Callable[[], Awaitable[Message]]) -> Response:
    """The response as JSON, or the error every HTTP route answers with."""
    try:
        return JSONResponse(to_json(await call()))
    except ApiError as exc:
        return error_response(exc.code, exc.message)
    except Exception as exc:
        error = api_error(exc, method.descriptor)
        return error_response(error.code, error.message)


def _endpoint(method: BoundMethod, guard: Guard, body_rule: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        async def call() -> Message:
            message = await _admitted(method, guard, request, partial(_request_message, method, body_rule, request))
            timeout_s = request_timeout_s(request.headers.get("grpc-timeout"))
            return await method.call(message, timeout_s)

        return await _json_answer(method, call)

    return endpoint


_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def request_timeout_s(header: str | None) -> float | None:
    """An HTTP caller's deadline, in the ``grpc-timeout`` header as gRPC gateways send it
    (``500m``, ``2S``: at most 8 digits and a unit), so it bounds the work as a gRPC deadline does."""
    if header is None:
        return None
    value, unit = header[:-1], header[-1:]
    if not (value.isascii() and value.isdigit() and len(value) <= 8 and unit in _TIMEOUT_UNITS):
        raise ApiError(
            Code.INVALID_ARGUMENT,
            f"grpc-timeout header {header!r} is malformed: use up to 8 digits and a unit of H, M, S, m, u or n",
        )
    if int(value) == 0:
        raise ApiError(Code.INVALID_ARGUMENT, f"grpc-timeout header {header!r} must be positive")
    return int(value) * _TIMEOUT_UNITS[unit]


def _bytes_field(message_type: type[Message], name: str, method: BoundMethod, role: str) -> str:
    field = message_type.DESCRIPTOR.fields_by_name.get(name)
    if field is None or field.type != FieldDescriptor.TYPE_BYTES or field.is_repeated:
        raise TypeError(f"{method.descriptor.full_name}: the http rule's {role} must name a bytes field, got {name!r}")
    return name


def _upload_endpoint(method: BoundMethod, guard: Guard, body_field: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        async def params() -> Message:
            first = method.request_type()
            _apply_params(first, request)
            return first

        async def call() -> Message:
            first = await _admitted(method, guard, request, params)

            async def messages() -> AsyncIterator[Message]:
                sent_first = False
                async for chunk in request.stream():
                    if not chunk:
                        continue
                    message = method.request_type() if sent_first else first
                    setattr(message, body_field, chunk)
                    sent_first = True
                    yield message
                if not sent_first:
                    yield first

            return await method.call_client_stream(messages())

        return await _json_answer(method, call)

    return endpoint


def _download_endpoint(
    method: BoundMethod, guard: Guard, body_rule: str, response_field: str
) -> Callable[[Request], Any]:
    has_content_type = "content_type" in method.response_type.DESCRIPTOR.fields_by_name

    def encode(message: Message) -> bytes:
        if response_field:
            data: bytes = getattr(message, response_field)
            return data
        return json.dumps(to_json(message), separators=(",", ":")).encode() + b"\n"

    async def endpoint(request: Request) -> Response:
        try:
            message = await _admitted(method, guard, request, partial(_request_message, method, body_rule, request))
            stream = method.call_server_stream(message)
            first = await anext(stream, None)
        except ApiError as exc:
            return error_response(exc.code, exc.message)
        except Exception as exc:
            error = api_error(exc, method.descriptor)
            return error_response(error.code, error.message)
        media_type = "application/x-ndjson"
        if response_field:
            declared = getattr(first, "content_type", "") if has_content_type and first is not None else ""
            media_type = declared or "application/octet-stream"

        async def body() -> AsyncIterator[bytes]:
            if first is None:
                return
            yield encode(first)
            try:
                async for message in stream:
                    yield encode(message)
            except Exception:
                log.warning("%s failed mid-stream; aborting the response", method.descriptor.full_name, exc_info=True)
                raise

        return StreamingResponse(body(), media_type=media_type)

    return endpoint


def _route_endpoint(method: BoundMethod, guard: Guard, body_rule: str, response_body: str) -> Callable[[Request], Any]:
    if method.streaming is Streaming.CLIENT:
        return _upload_endpoint(method, guard, _bytes_field(method.request_type, body_rule, method, "body"))
    if method.streaming is Streaming.SERVER:
        if response_body:
            _bytes_field(method.response_type, response_body, method, "response_body")
        return _download_endpoint(method, guard, body_rule, response_body)
    if body_rule not in ("*", ""):
        _bytes_field(method.request_type, body_rule, method, "body")
    return _endpoint(method, guard, body_rule)


def build_http_app(
    services: list[BoundService], guard: Guard | None, ready: Callable[[], Awaitable[bool]], title: str = ""
) -> Starlette:
    """Every route of the services (each call admitted by ``guard``), the open /healthz, /readyz
    and /metrics, and (with services) the OpenAPI document at /openapi.json with its /docs page."""
    routes: list[BaseRoute] = []
    if services and guard is None:
        raise TypeError("an edge serving an API needs a guard")
    for service in services:
        assert guard is not None
        for method in service.methods:
            for verb, path, body, response_body in http_rules(method.descriptor):
                endpoint = _route_endpoint(method, guard, body, response_body)
                routes.append(Route(path, endpoint, methods=[verb], name=method.descriptor.full_name))

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok = await ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes += [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    if services:
        routes += docs_routes(openapi_document(services, f"Scorekeeper {title}".strip(), API_VERSION))

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
            # The route's own methods (RFC 9110), as the router found them.
            headers=getattr(exc, "headers", None),
        )

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
