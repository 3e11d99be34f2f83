"""Calls over gRPC: the key on every call, transient failures retried, failures turned into exceptions.

A transient failure is UNAVAILABLE: an unreachable server, or the server's own 503 (its database is
unreachable), and what a proxy's 429 / 502 / 503 / 504 become under gRPC's HTTP-to-status mapping.
The server answers UNAVAILABLE before it did anything, so retrying a write is safe; writes that
may create twice (CreateRun, CreateMetric) are retried only when the connection itself failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from scorekeeper_sdk.config import Endpoint, Settings
from scorekeeper_sdk.errors import ScorekeeperError, Unavailable, from_rpc_error

R = TypeVar("R", bound=Message)

_QUERY_SERVICE = "scorekeeper.v1.QueryService"
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: full-jitter exponential backoff, bounded attempts."""

    attempts: int = 5
    initial_s: float = 0.2
    max_wait_s: float = 5.0

    def retrying(self, *, connection_only: bool) -> AsyncRetrying:
        def transient(exc: BaseException) -> bool:
            if not isinstance(exc, Unavailable):
                return False
            return not connection_only or exc.message.startswith("cannot reach")

        return AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_random_exponential(multiplier=self.initial_s, max=self.max_wait_s),
            retry=retry_if_exception(transient),
            reraise=True,
        )


def _channel(endpoint: Endpoint) -> grpc.aio.Channel:
    if endpoint.tls:
        return grpc.aio.secure_channel(endpoint.target, grpc.ssl_channel_credentials(), options=_OPTIONS)
    return grpc.aio.insecure_channel(endpoint.target, options=_OPTIONS)


class Transport:
    """The two channels of a client (one when both services share an address) and typed calls."""

    def __init__(self, settings: Settings, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._orchestrator = settings.orchestrator
        self._query = settings.query
        self._channels = {self._orchestrator: _channel(self._orchestrator)}
        self._channels.setdefault(self._query, _channel(self._query))
        self._metadata = (("authorization", f"Bearer {settings.api_key}"), ("x-scorekeeper-client", settings.client))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    def _route(self, path: str) -> tuple[grpc.aio.Channel, Endpoint]:
        endpoint = self._query if path.startswith(f"/{_QUERY_SERVICE}/") else self._orchestrator
        return self._channels[endpoint], endpoint

    def _error(self, exc: grpc.RpcError, path: str) -> ScorekeeperError:
        return from_rpc_error(exc, path, str(self._route(path)[1]))

    async def unary(
        self,
        path: str,
        request: Message,
        response_type: type[R],
        *,
        timeout_s: float | None = None,
        creates: bool = False,
    ) -> R:
        """One unary call; ``creates``: a retry could create the entity twice (connection failures only)."""
        channel, _ = self._route(path)
        call = channel.unary_unary(
            path, request_serializer=type(request).SerializeToString, response_deserializer=response_type.FromString
        )
        timeout = timeout_s if timeout_s is not None else self.settings.timeout_s
        async for attempt in self.retry.retrying(connection_only=creates):
            with attempt:
                try:
                    response = await call(request, metadata=self._metadata, timeout=timeout)
                except grpc.RpcError as exc:
                    raise self._error(exc, path) from None
        if not isinstance(response, response_type):
            raise TypeError(f"expected {response_type.__name__}, got {type(response).__name__}")
        return response

    async def server_stream(
        self, path: str, request: Message, response_type: type[R], *, timeout_s: float | None = None
    ) -> AsyncIterator[R]:
        """Every message of a server stream; retried only until the first message arrived."""
        channel, _ = self._route(path)
        call = channel.unary_stream(
            path, request_serializer=type(request).SerializeToString, response_deserializer=response_type.FromString
        )
        first: Any = None
        async for attempt in self.retry.retrying(connection_only=False):
            with attempt:
                stream = call(request, metadata=self._metadata, timeout=timeout_s)
                messages = stream.__aiter__()
                try:
                    first = await messages.__anext__()
                except StopAsyncIteration:
                    return
                except grpc.RpcError as exc:
                    raise self._error(exc, path) from None
        try:
            yield first
            async for message in messages:
                yield message
        except grpc.RpcError as exc:
            # Part of the stream was handed out already: a retry would repeat it, so no retry.
            raise self._error(exc, path) from None
        finally:
            stream.cancel()

    async def client_stream(
        self,
        path: str,
        requests: AsyncIterable[Message],
        request_type: type[Message],
        response_type: type[R],
        *,
        timeout_s: float | None = None,
    ) -> R:
        """A client stream (an upload); not retried, the stream cannot be replayed."""
        channel, _ = self._route(path)
        call = channel.stream_unary(
            path, request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString
        )
        try:
            response: Any = await call(requests, metadata=self._metadata, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc, path) from None
        if not isinstance(response, response_type):
            raise TypeError(f"expected {response_type.__name__}, got {type(response).__name__}")
        return response
