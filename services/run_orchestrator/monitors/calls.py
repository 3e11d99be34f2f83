"""Logging production calls: every call checked, the new ones stored and sampled by the project's
active monitors, in one transaction per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from services.run_orchestrator.monitors import rules
from services.run_orchestrator.monitors.repository import CallRow, MonitorRepository, Sample, Sampler
from shared.db.pool import Connection
from shared.edge.errors import invalid
from shared.json_limits import clean_text, unstorable


@dataclass(frozen=True)
class Refused:
    index: int
    call_id: uuid.UUID
    reason: str


@dataclass
class LogOutcome:
    stored: int = 0
    duplicates: int = 0
    sampled: int = 0
    refused: list[Refused] = field(default_factory=list)

    def add(self, other: LogOutcome) -> None:
        """Counts another request's outcome in this one (an export logged in parts)."""
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.sampled += other.sampled
        self.refused += other.refused


def kept(call: CallRow) -> tuple[CallRow, str | None]:
    """The call as it can be stored, and why part of it was not (or None): inputs, outputs or
    metadata that break a documented limit are dropped and the call is errored naming the limit."""
    error = clean_text(call.error)
    if error != call.error:
        call = replace(call, error=error)
    for name in ("outputs", "inputs", "metadata"):
        reason = unstorable(getattr(call, name))
        if reason is not None:
            reason = f"the {name} were not kept: {reason}"
            emptied: dict[str, Any] = {name: {}, "status": "errored", "error": reason}
            return replace(call, **emptied), reason
    return call, None


def sampler(metadata: dict[uuid.UUID, dict[str, Any]]) -> Sampler:
    """The samples the project's active monitors take of the calls just inserted."""

    def sample(monitors: list[asyncpg.Record], inserted: list[asyncpg.Record]) -> list[Sample]:
        return [
            (m["id"], row["id"], row["logged_at"])
            for row in inserted
            for m in monitors
            if rules.sampled(row["id"], m["sample_rate"]) and rules.matches(metadata[row["id"]], m["metadata_filter"])
        ]

    return sample


class LogCalls:
    def __init__(self, monitors: MonitorRepository) -> None:
        self._monitors = monitors

    async def __call__(self, project_id: uuid.UUID, calls: list[CallRow], conn: Connection | None = None) -> LogOutcome:
        """The calls logged (within the caller's transaction on ``conn``, when given)."""
        if not calls:
            raise invalid("calls must hold at least one call")
        if len(calls) > rules.MAX_CALLS_PER_REQUEST:
            raise invalid(f"at most {rules.MAX_CALLS_PER_REQUEST:,} calls per request, got {len(calls):,}")
        seen: dict[uuid.UUID, int] = {}
        for i, call in enumerate(calls):
            if call.id in seen:
                raise invalid(f"calls[{i}] repeats the call id of calls[{seen[call.id]}] ({call.key or call.id})")
            seen[call.id] = i
        rows, refused = [], []
        for i, call in enumerate(calls):
            row, reason = kept(call)
            if reason is not None:
                refused.append(Refused(i, call.id, reason))
            rows.append(row)
        logged = await self._monitors.log_calls(project_id, rows, sampler({r.id: r.metadata for r in rows}), conn)
        return LogOutcome(
            stored=len(logged.inserted),
            duplicates=len(rows) - len(logged.inserted),
            sampled=logged.sampled,
            refused=[r for r in refused if r.call_id in logged.inserted],
        )
