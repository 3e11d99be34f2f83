"""How an API implementation is bound to a proto service: one async method per RPC.

``CreateProject`` is served by ``impl.create_project(request) -> response``; both edges (gRPC and
the HTTP JSON gateway) call the same method, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from shared.edge.errors import ApiError, Code

log = logging.getLogger(__name__)

Operation = Callable[[Any], Awaitable[Message]]


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class BoundMethod:
    descriptor: MethodDescriptor
    request_type: type[Message]
    response_type: type[Message]
    operation: Operation

    async def call(self, request: Message, timeout_s: float | None = None) -> Message:
        """Run the operation; every failure comes out as an ApiError."""
        try:
            if timeout_s is not None:
                return await asyncio.wait_for(self.operation(request), timeout_s)
            return await self.operation(request)
        except ApiError:
            raise
        except TimeoutError as exc:
            raise ApiError(
                Code.DEADLINE_EXCEEDED, f"{self.descriptor.name} did not finish within the deadline"
            ) from exc
        except Exception as exc:
            log.exception("unhandled error in %s", self.descriptor.full_name)
            raise ApiError(Code.INTERNAL, f"internal error in {self.descriptor.name}") from exc


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
        methods.append(
            BoundMethod(
                descriptor=method,
                request_type=GetMessageClass(method.input_type),
                response_type=GetMessageClass(method.output_type),
                operation=operation,
            )
        )
    return BoundService(descriptor, tuple(methods))
