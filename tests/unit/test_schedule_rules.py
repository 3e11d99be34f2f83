"""A schedule's clock: its cron read on its time zone's wall clock, through summer time and back,
each due time strictly after the last; bad crons and time zones refused with what was wrong."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from services.run_orchestrator.schedules.rules import check_cron, check_timezone, firing_run_id, next_due


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _dues(cron: str, zone: str, after: datetime, n: int) -> list[datetime]:
    dues = []
    for _ in range(n):
        after = next_due(cron, after, zone)
        dues.append(after)
    return dues


def test_utc_is_the_default_and_the_wall_clock_of_a_zone_moves_with_summer_time() -> None:
    assert next_due("0 2 * * *", _utc(2026, 12, 5, 10)) == _utc(2026, 12, 6, 2)
    assert next_due("0 2 * * *", _utc(2026, 12, 5, 10), "Europe/Berlin") == _utc(2026, 12, 6, 1)  # CET, +1
    assert next_due("0 2 * * *", _utc(2027, 6, 5, 10), "Europe/Berlin") == _utc(2027, 6, 6, 0)  # CEST, +2
    assert next_due("30 9 * * 1", _utc(2026, 12, 5), "Asia/Kolkata") == _utc(2026, 12, 7, 4)  # Monday, +5:30


def test_a_wall_time_skipped_in_spring_fires_an_hour_on_and_the_next_day_as_usual() -> None:
    # 2027-03-28 02:00 → 03:00 in Berlin: 02:30 does not exist that night.
    assert _dues("30 2 * * *", "Europe/Berlin", _utc(2027, 3, 27, 10), 2) == [
        _utc(2027, 3, 28, 1, 30),  # 03:30 CEST
        _utc(2027, 3, 29, 0, 30),  # 02:30 CEST
    ]


def test_a_wall_time_repeated_in_autumn_fires_once() -> None:
    # 2027-10-31 03:00 → 02:00 in Berlin: 02:30 comes twice that night.
    assert _dues("30 2 * * *", "Europe/Berlin", _utc(2027, 10, 30, 10), 3) == [
        _utc(2027, 10, 31, 0, 30),  # the first 02:30 (CEST)
        _utc(2027, 11, 1, 1, 30),  # not the second one (01:30 UTC on the 31st)
        _utc(2027, 11, 2, 1, 30),
    ]
    # Asked during the repeated hour, after its first 02:30: the next day's.
    assert next_due("30 2 * * *", _utc(2027, 10, 31, 1, 15), "Europe/Berlin") == _utc(2027, 11, 1, 1, 30)
    hourly = _dues("0 * * * *", "Europe/Berlin", _utc(2027, 10, 30, 23, 30), 4)
    assert hourly == [_utc(2027, 10, 31, h) for h in (0, 2, 3, 4)]  # 02:00 CET would repeat 02:00 CEST
    assert all(a < b for a, b in itertools.pairwise(hourly))


def test_crons_and_time_zones_are_checked() -> None:
    assert check_cron("  0  2 * * * ") == "0 2 * * *"
    fields = r"cron must have 5 fields \(minute hour day-of-month month day-of-week\), got 4"
    with pytest.raises(ValueError, match=fields):
        check_cron("0 2 * *")
    with pytest.raises(ValueError, match="cron '61 \\* \\* \\* \\*' is not a cron expression"):
        check_cron("61 * * * *")
    assert check_timezone("") == "UTC"
    assert check_timezone(" America/New_York ") == "America/New_York"
    for bad in ("Mars/Olympus", "../../etc/passwd", "europe/berlin", "CEST"):
        with pytest.raises(ValueError, match=f"timezone '{bad}' is not an IANA time zone"):
            check_timezone(bad)


def test_a_firings_run_id_is_the_same_for_the_same_instant_in_any_zone() -> None:
    schedule = uuid.uuid4()
    due = _utc(2027, 3, 28, 1, 30)
    assert firing_run_id(schedule, due) == firing_run_id(schedule, due.astimezone(datetime.now().astimezone().tzinfo))
    assert firing_run_id(schedule, due) != firing_run_id(uuid.uuid4(), due)
