"""What a schedule is, as pure functions: its cron expression and time zone checked, its next due
time, and the id of the run a firing makes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter

# The namespace of firing run ids: uuid5(FIRINGS, "<schedule id>@<due time>").
FIRINGS = uuid.UUID("5c4e0d1e-7a51-4c3b-9a55-6f1f0c3e2b7d")


def check_cron(expression: str) -> str:
    """Five fields (minute hour day-of-month month day-of-week); ValueError otherwise."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}: {expression!r}"
        )
    text = " ".join(fields)
    if not croniter.is_valid(text):
        raise ValueError(f"cron {text!r} is not a cron expression (e.g. '0 2 * * *': every day at 02:00)")
    return text


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """An IANA time zone name ("" is UTC); ValueError otherwise."""
    name = name.strip() or "UTC"
    if name not in _zones():
        raise ValueError(
            f"timezone {name!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'America/New_York', 'UTC')"
        )
    return name


def next_due(expression: str, after: datetime, timezone: str = "UTC") -> datetime:
    """The first due time strictly after ``after``, in UTC. The cron is read on the zone's wall
    clock: a wall time that a clock change skips is taken at the offset before the change (02:30 on
    the night summer time starts fires at 03:30), and one it repeats fires once, the first time."""
    zone = ZoneInfo(timezone)
    wall = croniter(expression, after.astimezone(zone).replace(tzinfo=None))
    while True:
        wall_time: datetime = wall.get_next(datetime)
        due = wall_time.replace(tzinfo=zone).astimezone(UTC)
        if due > after:  # the wall clock's second pass over a repeated hour is behind ``after``
            return due


def firing_run_id(schedule_id: uuid.UUID, due_at: datetime) -> uuid.UUID:
    """The run of the schedule's firing at ``due_at``: the same for a replica that fires it again."""
    return uuid.uuid5(FIRINGS, f"{schedule_id}@{due_at.astimezone(UTC).isoformat()}")
