"""The API key on every call: ``authorization: Bearer <key>`` metadata, added by a channel interceptor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


def _with_key(details: grpc.aio.ClientCallDetails, value: str) -> grpc.aio.ClientCallDetails:
    metadata = [(k, v) for k, v in (details.metadata or ()) if k != "authorization"]
    metadata.append(("authorization", value))
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=grpc.aio.Metadata(*metadata),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class _Key:
    def __init__(self, api_key: str) -> None:
        self._value = f"Bearer {api_key}"


# grpc.aio files an interceptor under one kind only, so each kind has its own class; grpc is
# untyped here, so mypy sees each base as Any.
class _UnaryUnary(_Key, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self._value), request)


class _UnaryStream(_Key, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(_with_key(details, self._value), request)


class _StreamUnary(_Key, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return await continuation(_with_key(details, self._value), requests)


class _StreamStream(_Key, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return await continuation(_with_key(details, self._value), requests)


def interceptors(api_key: str | None) -> list[Any]:
    """The channel interceptors that send ``api_key`` with every call (none without a key)."""
    if not api_key:
        return []
    return [kind(api_key) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]
