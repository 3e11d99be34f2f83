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
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast

import asyncpg
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from shared.auth.access import Principal, Role, current_principal, required_role
from shared.auth.audit import Attempt, AuditLog, audited
from shared.db.pool import unavailable
from shared.edge.errors import ApiError, Code, invalid
from shared.edge.validation import nul_field

if TYPE_CHECKING:
    from shared.auth.guard import Guard

log = logging.getLogger(__name__)

# The longest deadline a call may ask for: beyond it (a grpc-timeout of 99999999H, say) the call is
# bounded by this instead; PostgreSQL's statement_timeout holds at most ~24 days.
MAX_DEADLINE_S = 24 * 3600.0

# The audited call in progress and its event (written by BoundMethod.admit, completed once by the
# call that follows).
_attempt: ContextVar[tuple[AuditLog, Attempt, uuid.UUID] | None] = ContextVar("audit_attempt", default=None)

# When the caller stops waiting for the current unary call (time.monotonic()), None without a
# deadline: operations may bound their own work by it (a database statement timeout, say).
request_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)

Operation = Callable[[Any], Awaitable[Message]]
M = TypeVar("M", bound=Message | None)
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
    role: Role
    # Whether its calls go to the audit log (shared/auth/audit.py).
    audited: bool = False

    @property
    def streaming(self) -> Streaming:
        if self.descriptor.client_streaming:
            return Streaming.CLIENT
        return Streaming.SERVER if self.descriptor.server_streaming else Streaming.UNARY

    async def call(self, request: Message, timeout_s: float | None = None) -> Message:
        """Run a unary operation; every failure comes out as an ApiError."""
        if timeout_s is not None:
            timeout_s = min(timeout_s, MAX_DEADLINE_S)
        token = request_deadline.set(None if timeout_s is None else time.monotonic() + timeout_s)
        try:
            work = self.operation(request)
            return await self._answered(asyncio.wait_for(work, timeout_s) if timeout_s is not None else work)
        finally:
            request_deadline.reset(token)

    async def call_client_stream(self, requests: AsyncIterator[Message]) -> Message:
        """Run a client-streaming operation over the request messages; failures as ApiError."""
        return await self._answered(self.operation(requests))

    async def _answered(self, work: Awaitable[Any]) -> Message:
        """The operation's answer, every failure as an ApiError; its outcome goes to the audit log
        when the call is audited."""
        try:
            response = cast(Message, await work)
        except asyncio.CancelledError:
            await _audit_cancelled()
            raise
        except ApiError as exc:
            await _audit(None, exc)
            raise
        except Exception as exc:
            error = self._api_error(exc)
            await _audit(None, error)
            raise error from exc
        await _audit(response, None)
        return response

    async def call_server_stream(self, request: Message) -> AsyncIterator[Message]:
        """The response messages of a server-streaming operation; failures as ApiError."""
        stream = cast(StreamOperation, self.operation)(request)
        try:
            async for response in stream:
                yield response
        except ApiError as exc:
            await _audit(None, exc)
            raise
        except Exception as exc:
            error = self._api_error(exc)
            await _audit(None, error)
            raise error from exc
        finally:
            await cast(Any, stream).aclose()
        await _audit(None, None)  # (today's server streams are reads, which are not audited)

    def _api_error(self, exc: Exception) -> ApiError:
        return api_error(exc, self.descriptor)

    async def admit(
        self,
        guard: Guard,
        authorization: str | None,
        read_request: Callable[[], Awaitable[M]],
        edge: str = "grpc",
        client: str = "",
    ) -> M:
        """The one check before the operation runs, in this order: the key and its role (so a
        caller without one learns nothing of the request's faults), then the request itself
        (``read_request``, which may refuse it), then the text it holds and the ids it names.
        The admitted caller becomes the current principal. A call of an audited RPC by a known
        key is recorded (through ``edge``) once it answers, or here when it is refused."""
        _attempt.set(None)
        principal: Principal | None = None
        request: M | None = None

        async def refused(error: ApiError) -> None:
            """A refused call of an audited RPC by a known key (one without a key is not recorded:
            no one to tell of)."""
            if self.audited and guard.audit is not None and principal is not None:
                await guard.audit.record(Attempt(self.descriptor.name, edge, principal, request, client), None, error)

        try:
            principal = await guard.identify(authorization)
            current_principal.set(principal)
            guard.authorize(principal, self.descriptor.name, self.role)
            request = await read_request()
            if request is not None:
                if not getattr(self.operation, CHECKS_OWN_TEXT, False):
                    check_text(request)
                await guard.check_scope(principal, request)
            if self.audited and guard.audit is not None:
                attempt = Attempt(self.descriptor.name, edge, principal, request, client)
                _attempt.set((guard.audit, attempt, await guard.audit.begin(attempt)))
            return request
        except ApiError as exc:
            if exc.code is Code.PERMISSION_DENIED and principal is not None and self.audited:
                with contextlib.suppress(Exception):  # what it was refused, for the audit log only
                    request = await read_request()
            await refused(exc)
            raise
        except Exception as exc:
            error = self._api_error(exc)
            await refused(error)
            raise error from exc


async def _audit(response: Message | None, error: ApiError | None) -> None:
    """Record the outcome of the audited call admitted in this context, once."""
    attempt = _attempt.get()
    if attempt is not None:
        _attempt.set(None)
        audit, admitted, event_id = attempt
        await audit.finish(event_id, admitted, response, error)


async def _audit_cancelled() -> None:
    """The audited call admitted in this context was cancelled (its caller went away, or its
    deadline passed, before the answer): its event keeps no answer, saying why."""
    attempt = _attempt.get()
    if attempt is not None:
        _attempt.set(None)
        audit, admitted, event_id = attempt
        with contextlib.suppress(Exception):
            await asyncio.wait_for(audit.unanswered(event_id, admitted, "the caller went away before the answer"), 5)


CHECKS_OWN_TEXT = "checks_own_text"
F = TypeVar("F", bound=Callable[..., Any])


def checks_own_text(operation: F) -> F:
    """Marks an operation that keeps every text it stores free of NUL characters itself, so the
    edge does not walk its request first (LogCalls: 1,000 calls, three JSON documents each, are
    converted in one walk that checks them; a call holding a NUL is kept as errored, naming it)."""
    setattr(operation, CHECKS_OWN_TEXT, True)
    return operation


def check_text(request: Message) -> None:
    """INVALID_ARGUMENT naming the first field holding a NUL character (PostgreSQL stores none)."""
    field = nul_field(request)
    if field is not None:
        raise invalid(f"{field} contains a NUL character (\\u0000), which cannot be stored")


def api_error(exc: Exception, method: MethodDescriptor) -> ApiError:
    """What the caller is told of an operation's unexpected failure."""
    if isinstance(exc, TimeoutError):
        return ApiError(Code.DEADLINE_EXCEEDED, f"{method.name} did not finish within the deadline")
    if unavailable(exc):
        log.warning("%s: the database is unavailable", method.full_name, exc_info=exc)
        return ApiError(Code.UNAVAILABLE, "the database is unavailable; try again shortly")
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError):
        return invalid(f"the request holds text that cannot be stored: {exc}")
    log.error("unhandled error in %s", method.full_name, exc_info=exc)
    return ApiError(Code.INTERNAL, f"internal error in {method.name}")


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
        role = required_role(method)
        methods.append(
            BoundMethod(
                descriptor=method,
                request_type=GetMessageClass(method.input_type),
                response_type=GetMessageClass(method.output_type),
                operation=operation,
                role=role,
                audited=audited(method, role),
            )
        )
    return BoundService(descriptor, tuple(methods))
