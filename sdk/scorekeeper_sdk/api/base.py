"""What every group of operations shares: the transport, typed unary calls and paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TypeVar

from google.protobuf.message import Message

from scorekeeper_sdk.transport import Transport

R = TypeVar("R", bound=Message)
T = TypeVar("T")


def path(service: str, method: str) -> str:
    return f"/scorekeeper.v1.{service}/{method}"


class Operations:
    """Base of AsyncScorekeeper's operation groups."""

    _transport: Transport

    async def _unary(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[R],
        *,
        creates: bool = False,
        timeout_s: float | None = None,
    ) -> R:
        return await self._transport.unary(
            path(service, method), request, response_type, creates=creates, timeout_s=timeout_s
        )

    async def _pages(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[R],
        items: Callable[[R], Iterable[T]],
    ) -> AsyncIterator[T]:
        """Every item of every page: the request's page_token is advanced until none is left."""
        while True:
            page = await self._unary(service, method, request, response_type)
            for item in items(page):
                yield item
            token = getattr(page, "next_page_token", "")
            if not token:
                return
            request.page_token = token  # type: ignore[attr-defined]
