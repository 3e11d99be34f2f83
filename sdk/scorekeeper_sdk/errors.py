"""What a failed call raises: one exception class per kind of failure, carrying the server's message.

Every class derives from :class:`ScorekeeperError`, so ``except ScorekeeperError`` catches all of
them; ``code`` is the gRPC status name the server answered (``"NOT_FOUND"`` …).
"""

from __future__ import annotations

import grpc


class ScorekeeperError(Exception):
    """A call to Scorekeeper failed; ``message`` is the server's own explanation."""

    code = "UNKNOWN"

    def __init__(self, message: str, *, method: str = "") -> None:
        super().__init__(message)
        self.message = message
        # The RPC that failed ("GetRun"), for logs and --debug output.
        self.method = method


class InvalidArgument(ScorekeeperError):
    """The request was refused as it stands (a bad field, a malformed file, a bad row)."""

    code = "INVALID_ARGUMENT"


class Unauthenticated(ScorekeeperError):
    """No API key, an unknown one, or a revoked one."""

    code = "UNAUTHENTICATED"


class PermissionDenied(ScorekeeperError):
    """The key's role is too low for the operation (a read key creating a run, say)."""

    code = "PERMISSION_DENIED"


class NotFound(ScorekeeperError):
    """No such entity, or one of another project (the server answers both alike)."""

    code = "NOT_FOUND"


class AlreadyExists(ScorekeeperError):
    """A name already taken, or an immutable version with another content."""

    code = "ALREADY_EXISTS"


class FailedPrecondition(ScorekeeperError):
    """The entity is in a state that refuses the operation (records for a cancelled run, say)."""

    code = "FAILED_PRECONDITION"


class Unavailable(ScorekeeperError):
    """The server could not be reached or answered 503/429, still so after the retries."""

    code = "UNAVAILABLE"


class DeadlineExceeded(ScorekeeperError):
    """The call took longer than its deadline."""

    code = "DEADLINE_EXCEEDED"


class ResourceExhausted(ScorekeeperError):
    """A message too large for the server (not a rate limit: those answer UNAVAILABLE)."""

    code = "RESOURCE_EXHAUSTED"


class ServerError(ScorekeeperError):
    """Any other failure (INTERNAL, UNIMPLEMENTED …)."""


_BY_CODE: dict[grpc.StatusCode, type[ScorekeeperError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
}


def from_rpc_error(exc: grpc.RpcError, method: str, address: str) -> ScorekeeperError:
    """The exception for a failed gRPC call; transport-level failures say which address failed."""
    code: grpc.StatusCode = exc.code()
    details: str = exc.details() or code.name.lower()
    kind = _BY_CODE.get(code, ServerError)
    if code is grpc.StatusCode.UNAVAILABLE and _transport_failure(details):
        details = f"cannot reach Scorekeeper at {address}: {details}"
    elif code is grpc.StatusCode.UNIMPLEMENTED:
        details = (
            f"the server at {address} does not serve {method} (is this the right address? reads go to the"
            f" query service: set SCOREKEEPER_QUERY_URL)"
        )
    error = kind(details, method=method.rsplit("/", 1)[-1])
    if kind is ServerError:
        error.code = code.name
    return error


def _transport_failure(details: str) -> bool:
    """Whether UNAVAILABLE came from the connection rather than from the server's own answer."""
    lowered = details.lower()
    # Only failures before the request left: a write that creates may then be sent again safely.
    return any(hint in lowered for hint in ("failed to connect", "connection refused", "dns resolution"))
