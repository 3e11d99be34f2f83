"""gRPC edge: every bound service, plus health checking and reflection, on one grpc.aio server.

Every call is admitted by the guard (its ``authorization`` metadata, the role the RPC needs, the
ids the request names) before its operation runs; health checking and reflection stay open.
Where IngestTraces is served, OpenTelemetry's OTLP trace service is too (``otlp_grpc``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shared.auth.guard import Guard
from shared.edge import otlp_grpc
from shared.edge.api import BoundMethod, BoundService, Streaming
from shared.edge.errors import MAX_REQUEST_BYTES, ApiError, invalid
from shared.edge.grpc_metadata import authorization, client


class _Undecodable:
    """A request message that did not parse; refused as INVALID_ARGUMENT by the handler (a
    deserializer that raised would make gRPC answer INTERNAL)."""

    def __init__(self, type_name: str, error: Exception) -> None:
        self.message = f"the request is not a valid {type_name} message: {error}"


def _deserializer(message_type: type[Message]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Message | _Undecodable:
        try:
            return message_type.FromString(data)
        except Exception as exc:
            return _Undecodable(message_type.DESCRIPTOR.full_name, exc)

    return parse


async def _decoded(request: Any) -> Message:
    if isinstance(request, _Undecodable):
        raise invalid(request.message)
    assert isinstance(request, Message)
    return request


def _unary(method: BoundMethod, guard: Guard) -> grpc.RpcMethodHandler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            message = await method.admit(
                guard, authorization(context), partial(_decoded, request), client=client(context)
            )
            return await method.call(message, context.time_remaining())
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=_deserializer(method.request_type),
        response_serializer=method.response_type.SerializeToString,
    )


def _client_streaming(method: BoundMethod, guard: Guard) -> grpc.RpcMethodHandler:
    async def handle(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:

            async def read_first() -> Message | None:
                first = await anext(aiter(requests), None)
                return None if first is None else await _decoded(first)

            first = await method.admit(guard, authorization(context), read_first, client=client(context))

            async def messages() -> AsyncIterator[Message]:
                if first is not None:
                    yield first
                async for request in requests:
                    yield await _decoded(request)

            return await method.call_client_stream(messages())
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.stream_unary_rpc_method_handler(
        handle,
        request_deserializer=_deserializer(method.request_type),
        response_serializer=method.response_type.SerializeToString,
    )


def _server_streaming(method: BoundMethod, guard: Guard) -> grpc.RpcMethodHandler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            message = await method.admit(
                guard, authorization(context), partial(_decoded, request), client=client(context)
            )
            async for response in method.call_server_stream(message):
                yield response
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.unary_stream_rpc_method_handler(
        handle,
        request_deserializer=_deserializer(method.request_type),
        response_serializer=method.response_type.SerializeToString,
    )


_HANDLERS = {Streaming.UNARY: _unary, Streaming.CLIENT: _client_streaming, Streaming.SERVER: _server_streaming}


class GrpcServer:
    """Serves bound services; the health status follows the service's readiness."""

    def __init__(self, services: list[BoundService], guard: Guard, host: str, port: int) -> None:
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
            ]
        )
        for service in services:
            handlers = {m.descriptor.name: _HANDLERS[m.streaming](m, guard) for m in service.methods}
            self._server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service.descriptor.full_name, handlers),)
            )
            for method in service.methods:
                if method.descriptor.name == otlp_grpc.ANSWERED_BY:
                    self._server.add_generic_rpc_handlers((otlp_grpc.handler(method, guard),))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [s.descriptor.full_name for s in services]
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server)
        self._names = names
        self.port = self._server.add_insecure_port(f"{host}:{port}")

    async def start(self) -> None:
        await self._server.start()

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        await self._server.stop(grace_s)
