"""How an API implementation is bound to a proto service: one async method per RPC.

``CreateProject`` is served by ``impl.create_project(request) -> response``; both edges (gRPC and
the HTTP JSON gateway) call the same method, so they cannot drift apart. Streaming RPCs:

- client streaming (``rpc Import(stream Chunk) returns (Result)``):
  ``async def import_(self, requests: AsyncIterator[Chunk]) -> Result``;
- server streaming (``rpc Export(Request) returns (stream Chunk)``): an async generator,
  ``async def export(self, request: Request) -> AsyncIterator[Chunk]``.

Bidirectional streaming is not supported.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from shared.edge.errors import ApiError, Code

log = logging.getLogger(__name__)

# When the caller stops waiting for the current unary call (time.monotonic()), None without a
# deadline: operations may bound their own work by it (a database statement timeout, say).
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)

Operation = Callable[[Any], Awaitable[Message]]
StreamOperation = Callable[[Any], AsyncIterator[Message]]


class Streaming(Enum):
    UNARY = "unary"
    CLIENT = "client streaming"
    SERVER = "server streaming"


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class BoundMethod:
    descriptor: MethodDescriptor
    request_type: type[Message]
    response_type: type[Message]
    operation: Callable[[Any], Any]

    @property
    def streaming(self) -> Streaming:
        if self.descriptor.client_streaming:
            return Streaming.CLIENT
        return Streaming.SERVER if self.descriptor.server_streaming else Streaming.UNARY

    async def call(self, request: Message, timeout_s: float | None = None) -> Message:
        """Run a unary operation; every failure comes out as an ApiError."""
        token = request_deadline.set(None if timeout_s is None else time.monotonic() + timeout_s)
        try:
            if timeout_s is not None:
                return cast(Message, await asyncio.wait_for(self.operation(request), timeout_s))
            return cast(Message, await self.operation(request))
        except ApiError:
            raise
        except Exception as exc:
            raise self._api_error(exc) from exc
        finally:
            request_deadline.reset(token)

    async def call_client_stream(self, requests: AsyncIterator[Message]) -> Message:
        """Run a client-streaming operation over the request messages; failures as ApiError."""
        try:
            return cast(Message, await self.operation(requests))
        except ApiError:
            raise
        except Exception as exc:
            raise self._api_error(exc) from exc

    async def call_server_stream(self, request: Message) -> AsyncIterator[Message]:
        """The response messages of a server-streaming operation; failures as ApiError."""
        stream = cast(StreamOperation, self.operation)(request)
        try:
            async for response in stream:
                yield response
        except ApiError:
            raise
        except Exception as exc:
            raise self._api_error(exc) from exc
        finally:
            await cast(Any, stream).aclose()

    def _api_error(self, exc: Exception) -> ApiError:
        if isinstance(exc, TimeoutError):
            return ApiError(Code.DEADLINE_EXCEEDED, f"{self.descriptor.name} did not finish within the deadline")
        log.error("unhandled error in %s", self.descriptor.full_name, exc_info=exc)
        return ApiError(Code.INTERNAL, f"internal error in {self.descriptor.name}")


@dataclass(frozen=True)
class BoundService:
    descriptor: ServiceDescriptor
    methods: tuple[BoundMethod, ...]


def bind(descriptor: ServiceDescriptor, impl: object) -> BoundService:
    methods = []
    for method in descriptor.methods:
        operation = getattr(impl, snake_case(method.name), None)
        if operation is None:
            raise TypeError(f"{type(impl).__name__} does not implement {method.full_name}")
        if method.client_streaming and method.server_streaming:
            raise TypeError(f"{method.full_name}: bidirectional streaming is not supported")
        methods.append(
            BoundMethod(
                descriptor=method,
                request_type=GetMessageClass(method.input_type),
                response_type=GetMessageClass(method.output_type),
                operation=operation,
            )
        )
    return BoundService(descriptor, tuple(methods))
