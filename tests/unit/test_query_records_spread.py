"""How records spread over created_at (services/query/records/spread.py) and where the first of
two windows ends (plans/two_windows.py): pure functions of the planner's histogram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.query.records.plans.two_windows import first_bound
from services.query.records.spread import Spread

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# Four buckets of as many records each, ever wider: records come ever more slowly.
SPREAD = Spread([at(0), at(10), at(20), at(40), at(80)])


@pytest.mark.parametrize(
    ("seconds", "below"),
    [(-5, 0.0), (0, 0.0), (5, 0.125), (10, 0.25), (30, 0.625), (60, 0.875), (80, 1.0), (100, 1.0)],
)
def test_the_share_of_records_older_than_a_time(seconds: float, below: float) -> None:
    assert SPREAD.below(at(seconds)) == pytest.approx(below)


@pytest.mark.parametrize(("fraction", "seconds"), [(0.125, 5), (0.25, 10), (0.625, 30), (0.875, 60), (0.999, 79.84)])
def test_the_time_a_share_of_records_is_older_than(fraction: float, seconds: float) -> None:
    assert SPREAD.at(fraction) == at(seconds)
    assert SPREAD.below(SPREAD.at(fraction)) == pytest.approx(fraction)


def test_a_bucket_of_one_instant_holds_its_share() -> None:
    spread = Spread([at(0), at(10), at(10), at(20)])
    assert spread.below(at(10)) == pytest.approx(2 / 3)  # the instant's bucket is older than it
    assert spread.at(0.5) == at(10)  # any share within that bucket is the instant


@pytest.mark.parametrize(
    ("descending", "start", "bound"),
    [
        # the newest 40% first: from the newest record, the window ends where 60% are older
        (True, None, 0.6),
        (True, 0.9, 0.5),
        (True, 0.55, 0.15),
        (True, 0.45, None),  # less than 10% would lie beyond the window: one statement
        (False, None, 0.4),
        (False, 0.25, 0.65),
        (False, 0.45, 0.85),
        (False, 0.55, None),
    ],
)
def test_the_first_window_holds_40_percent_of_the_records_ahead(
    descending: bool, start: float | None, bound: float | None
) -> None:
    started = SPREAD.at(start) if start is not None else None
    found = first_bound(SPREAD, descending, started)
    if bound is None:
        assert found is None
    else:
        assert found is not None
        assert SPREAD.below(found) == pytest.approx(bound)
