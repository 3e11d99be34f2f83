"""What a schedule is, as pure functions: its cron expression checked, its next due time, and the
id of the run a firing makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from croniter import croniter

# The namespace of firing run ids: uuid5(FIRINGS, "<schedule id>@<due time>").
FIRINGS = uuid.UUID("5c4e0d1e-7a51-4c3b-9a55-6f1f0c3e2b7d")


def check_cron(expression: str) -> str:
    """Five fields (minute hour day-of-month month day-of-week), UTC; ValueError otherwise."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            "cron must have 5 fields (minute hour day-of-month month day-of-week, UTC),"
            f" got {len(fields)}: {expression!r}"
        )
    text = " ".join(fields)
    if not croniter.is_valid(text):
        raise ValueError(f"cron {text!r} is not a cron expression (e.g. '0 2 * * *': every day at 02:00 UTC)")
    return text


def next_due(expression: str, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    due: datetime = croniter(expression, after.astimezone(UTC)).get_next(datetime)
    return due


def firing_run_id(schedule_id: uuid.UUID, due_at: datetime) -> uuid.UUID:
    """The run of the schedule's firing at ``due_at``: the same for a replica that fires it again."""
    return uuid.uuid5(FIRINGS, f"{schedule_id}@{due_at.astimezone(UTC).isoformat()}")
