"""What every group of client methods shares: typed unary calls and Struct building."""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.message import Message

R = TypeVar("R", bound=Message)


class Calls:
    """Base of the client: one unary call with the client's deadline, typed (the stubs are not)."""

    _timeout: float

    async def _call(self, method: Any, request: Message, response_type: type[R]) -> R:
        response = await method(request, timeout=self._timeout)
        if not isinstance(response, response_type):
            raise TypeError(f"expected {response_type.__name__}, got {type(response).__name__}")
        return response
