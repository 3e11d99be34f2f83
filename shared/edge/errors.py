"""Errors an API operation raises; each edge maps them to its own status codes."""

from __future__ import annotations

from enum import Enum

import grpc


class Code(Enum):
    INVALID_ARGUMENT = (grpc.StatusCode.INVALID_ARGUMENT, 400)
    UNAUTHENTICATED = (grpc.StatusCode.UNAUTHENTICATED, 401)
    PERMISSION_DENIED = (grpc.StatusCode.PERMISSION_DENIED, 403)
    NOT_FOUND = (grpc.StatusCode.NOT_FOUND, 404)
    ALREADY_EXISTS = (grpc.StatusCode.ALREADY_EXISTS, 409)
    FAILED_PRECONDITION = (grpc.StatusCode.FAILED_PRECONDITION, 409)
    DEADLINE_EXCEEDED = (grpc.StatusCode.DEADLINE_EXCEEDED, 504)
    UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, 503)
    RESOURCE_EXHAUSTED = (grpc.StatusCode.RESOURCE_EXHAUSTED, 413)
    INTERNAL = (grpc.StatusCode.INTERNAL, 500)

    @property
    def grpc(self) -> grpc.StatusCode:
        return self.value[0]

    @property
    def http(self) -> int:
        return int(self.value[1])


class ApiError(Exception):
    """A failed operation with a message meant for the caller."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiError:
    return ApiError(Code.NOT_FOUND, message)


# The largest single request body either edge accepts (streamed uploads are not bound by it).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
