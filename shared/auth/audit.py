"""The audit log's writing side: every change a key made through the API, and every refused attempt.

The edge records one event per call of an audited RPC (``audited``: each that needs the write role
or more, but for reads and the data plane) once the call has answered: who (the key's id, name,
prefix and role), what (the RPC, the ids its request named, the id of what it made, the name it
gave), through which edge, and the outcome (OK, or the error's code and message). Never the
request's body: it may hold secrets and data.

An admitted call's event is written **before** the operation runs (outcome ``NO_ANSWER``) and
completed with its outcome once it answers: a process killed in between leaves the event as it was
— the change was asked and may or may not have been made, and the log says so rather than saying
nothing. A call whose event cannot be written (the database gone) is refused (UNAVAILABLE) before
anything is changed. A refused call's event is written once refused; completing an event that
cannot be written is logged, not answered as the call's error.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from shared.auth.access import Principal, Role
from shared.auth.scope import Owners, scoped_ids
from shared.edge.errors import ApiError, Code

log = logging.getLogger(__name__)

# Write-role RPCs left out: data-plane traffic (production calls, as logged or as OpenTelemetry
# traces, and their users' feedback, records made elsewhere: thousands a minute) and a reviewer
# moving through the queue (SubmitReview, the change, is audited).
UNAUDITED = frozenset(
    {
        "LogCalls",
        "IngestTraces",
        "SendFeedback",
        "IngestRecords",
        "NextReviewItem",
        "PreviousReviewItem",
        "OpenReviewItem",
        "SkipReviewItem",
    }
)
# The ids of one request field an event keeps (the whole number besides, when there are more).
MAX_IDS = 10
# The longest error message an event keeps.
MAX_ERROR = 1_000


# The outcome of an admitted call's event until it answers: still running, or its process stopped
# before it answered (the change may or may not have been made).
NO_ANSWER = "NO_ANSWER"


def _outcome(error: ApiError | None) -> tuple[str, str]:
    """The event's outcome and error: OK, or the error's code and message."""
    return ("OK", "") if error is None else (error.code.name, error.message[:MAX_ERROR])


# The header (gRPC metadata) naming the program a call comes from; the SDK, CLI and console send it.
CLIENT_HEADER = "x-scorekeeper-client"


def client_of(named: str | None, user_agent: str | None) -> str:
    """The program a call came from: what it named in x-scorekeeper-client, else the first word of
    its User-Agent; printable, at most 100 characters."""
    text = (named or "").strip() or ((user_agent or "").split() or [""])[0]
    return "".join(c for c in text if c.isprintable())[:100]


def audited(method: MethodDescriptor, role: Role) -> bool:
    """Whether calls of the RPC are recorded: every one that changes something."""
    return role >= Role.WRITE and method.name not in UNAUDITED and not method.name.startswith(("List", "Get"))


def targets(request: Message | None, response: Message | None) -> list[dict[str, Any]]:
    """The ids the request named, by field in the request's order (at most MAX_IDS each, with how
    many it held), then ``created``: the id of what the call made."""
    named: dict[str, list[str]] = {}
    if request is not None:
        for field, _, text in scoped_ids(request):
            named.setdefault(field, []).append(text)
    found = [{"field": field, "ids": ids[:MAX_IDS], "count": len(ids)} for field, ids in named.items()]
    made = _made_id(response)
    if made and made not in {i for ids in named.values() for i in ids}:
        found.append({"field": "created", "ids": [made], "count": 1})
    return found


def _made_id(response: Message | None) -> str:
    """The id the response carries (its own ``id``, or that of its first message field with one)."""
    if response is None:
        return ""
    fields = response.DESCRIPTOR.fields_by_name
    if "id" in fields and fields["id"].type == FieldDescriptor.TYPE_STRING:
        return str(cast(Any, response).id)
    for field in response.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated and response.HasField(field.name):
            inner = getattr(response, field.name)
            if "id" in inner.DESCRIPTOR.fields_by_name and isinstance(inner.id, str):
                return str(inner.id)
    return ""


def _name(request: Message | None) -> str:
    field = request.DESCRIPTOR.fields_by_name.get("name") if request is not None else None
    if field is None or field.type != FieldDescriptor.TYPE_STRING or field.is_repeated:
        return ""
    return str(cast(Any, request).name)[:200]


@dataclass(frozen=True)
class Attempt:
    """An admitted (or refused) call of an audited RPC, waiting for its outcome."""

    action: str
    edge: str
    principal: Principal
    request: Message | None
    # The program that made the call (see client_of).
    client: str = ""


class AuditLog:
    def __init__(self, pool: asyncpg.Pool, owners: Owners) -> None:
        self._pool = pool
        self._owners = owners

    async def begin(self, attempt: Attempt) -> uuid.UUID:
        """The admitted call's event, written before it runs (outcome NO_ANSWER); UNAVAILABLE when
        it cannot be written, so that no change is made unrecorded."""
        try:
            return await self._insert(attempt, None, NO_ANSWER, "")
        except Exception as exc:
            log.warning("the audit event of %s was not written: the call is refused", attempt.action, exc_info=True)
            raise ApiError(
                Code.UNAVAILABLE, "the audit log cannot be written just now: nothing was changed; try again"
            ) from exc

    async def finish(
        self, event_id: uuid.UUID, attempt: Attempt, response: Message | None, error: ApiError | None
    ) -> None:
        """The event ``begin`` wrote, with the call's outcome and what it made (logged, not raised,
        when it cannot be written)."""
        try:
            await self._pool.execute(
                "UPDATE audit_events SET project_id = coalesce(project_id, $2), targets = $3, outcome = $4,"
                " error = $5 WHERE id = $1",
                event_id,
                await self._project(attempt, response),
                targets(attempt.request, response),
                *_outcome(error),
            )
        except Exception:
            log.warning("the outcome of the audit event of %s was not written", attempt.action, exc_info=True)

    async def unanswered(self, event_id: uuid.UUID, attempt: Attempt, why: str) -> None:
        """The event ``begin`` wrote stays without an answer (NO_ANSWER), saying ``why``."""
        await self._pool.execute("UPDATE audit_events SET error = $2 WHERE id = $1", event_id, why[:MAX_ERROR])
        log.info("the audited call %s was not answered: %s", attempt.action, why)

    async def record(self, attempt: Attempt, response: Message | None, error: ApiError | None) -> None:
        """Write the event of a call refused before it ran (logged, not raised, when it cannot be)."""
        try:
            await self._insert(attempt, response, *_outcome(error))
        except Exception:
            log.warning("the audit event of %s was not written", attempt.action, exc_info=True)

    async def _insert(self, attempt: Attempt, response: Message | None, outcome: str, error: str) -> uuid.UUID:
        event_id = uuid.uuid4()
        principal = attempt.principal
        await self._pool.execute(
            "INSERT INTO audit_events (id, project_id, key_id, key_name, key_prefix, key_role, action, edge,"
            " targets, name, outcome, error, client)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            event_id,
            await self._project(attempt, response),
            principal.key_id,
            principal.name,
            principal.prefix,
            principal.role.label,
            attempt.action,
            attempt.edge,
            targets(attempt.request, response),
            _name(attempt.request),
            outcome,
            error,
            attempt.client,
        )
        return event_id

    async def _project(self, attempt: Attempt, response: Message | None) -> uuid.UUID | None:
        """The key's project; the instance admin's: the owner of the first id its request named, or
        the project its call made."""
        if attempt.principal.project_id is not None:
            return attempt.principal.project_id
        if attempt.request is not None:
            for _, entity, text in scoped_ids(attempt.request):
                return await self._owners.project_of(entity, text)
        if response is not None and response.DESCRIPTOR.name == "Project":
            return uuid.UUID(str(cast(Any, response).id))
        return None

    async def purge(self, days: int, batch: int = 10_000) -> int:
        """Delete the events older than ``days``, ``batch`` at a time; how many."""
        deleted = 0
        while True:
            done: str = await self._pool.execute(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
                " WHERE at < now() - make_interval(days => $1) ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                days,
                batch,
            )
            count = int(done.split()[-1])
            deleted += count
            if count < batch:
                return deleted
