"""gRPC edge: every bound service, plus health checking and reflection, on one grpc.aio server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from shared.edge.api import BoundMethod, BoundService, Streaming
from shared.edge.errors import MAX_REQUEST_BYTES, ApiError


def _unary(method: BoundMethod) -> grpc.RpcMethodHandler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method.call(request, context.time_remaining())
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=method.request_type.FromString,
        response_serializer=method.response_type.SerializeToString,
    )


def _client_streaming(method: BoundMethod) -> grpc.RpcMethodHandler:
    async def handle(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method.call_client_stream(requests)
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.stream_unary_rpc_method_handler(
        handle,
        request_deserializer=method.request_type.FromString,
        response_serializer=method.response_type.SerializeToString,
    )


def _server_streaming(method: BoundMethod) -> grpc.RpcMethodHandler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in method.call_server_stream(request):
                yield response
        except ApiError as exc:
            await context.abort(exc.code.grpc, exc.message)

    return grpc.unary_stream_rpc_method_handler(
        handle,
        request_deserializer=method.request_type.FromString,
        response_serializer=method.response_type.SerializeToString,
    )


_HANDLERS = {Streaming.UNARY: _unary, Streaming.CLIENT: _client_streaming, Streaming.SERVER: _server_streaming}


class GrpcServer:
    """Serves bound services; the health status follows the service's readiness."""

    def __init__(self, services: list[BoundService], host: str, port: int) -> None:
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
            ]
        )
        for service in services:
            handlers = {m.descriptor.name: _HANDLERS[m.streaming](m) for m in service.methods}
            self._server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service.descriptor.full_name, handlers),)
            )
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
