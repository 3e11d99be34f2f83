"""Which way a ListRecords page is read (services/query/records/choose.py): a pure function of the
request and of what the newest records say of its search."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from services.query import filters, search_keys
from services.query.records.choose import MATCHES_FIRST_MAX, WINDOWED_MATCHES, Plan, Way, choose, needs_estimate
from services.query.records.estimate import NO_TERMS, Estimate
from services.query.records.query import Condition, RecordQuery

PROJECT, RUN, TESTCASE, VERSION = (uuid.UUID(int=n) for n in range(1, 5))
FAILED = Condition(filters.Condition("exact", "failed"), (VERSION,))
NEWEST = filters.Order("created_at", descending=True)
OLDEST = filters.Order("created_at", descending=False)
BY_VALUE = filters.Order("score", descending=True, metric="similarity")
LATENCY = filters.Order("latency_ms", descending=True)
WORDS = search_keys.Terms(["renew", "coupon"], True)


def query(**asked: Any) -> RecordQuery:
    """A project-wide page of 100, newest first, unless ``asked`` says otherwise."""
    return RecordQuery(**{"project_id": PROJECT, "order": NEWEST, "size": 100, **asked})


def estimate(matches: float, share: float = 0.0, terms: search_keys.Terms = NO_TERMS) -> Estimate:
    return Estimate(matches, share, terms, 1_000_000)


SEARCHED = {"search": "renew coupon", "conditions": (FAILED,)}
VALUED = {"order": BY_VALUE, "order_versions": (VERSION,)}
BY_VALUE_SEARCHED = {"search": "renew", **VALUED}

CASES: list[tuple[str, RecordQuery, Estimate | None, Way]] = [
    # No search, or no choice for it to make: the plain statement.
    ("one run's records", query(run_id=RUN), None, Way.PLAIN),
    ("a project's records", query(), None, Way.PLAIN),
    ("a project's records with conditions", query(conditions=(FAILED,)), None, Way.PLAIN),
    ("a search without conditions", query(search="renew"), None, Way.PLAIN),
    ("a search with conditions in one run", query(run_id=RUN, **SEARCHED), None, Way.PLAIN),
    ("a search with conditions in chosen runs", query(run_ids=(RUN,), **SEARCHED), None, Way.PLAIN),
    ("a search with conditions of one testcase", query(testcase_id=TESTCASE, **SEARCHED), None, Way.PLAIN),
    ("a search with conditions by latency", query(order=LATENCY, **SEARCHED), None, Way.PLAIN),
    # A search with conditions by time: by its keys while it matches few enough records ...
    ("keys, rare", query(**SEARCHED), estimate(500, 0.0005, WORDS), Way.KEY_WINDOWS),
    ("keys, oldest first", query(order=OLDEST, **SEARCHED), estimate(500, 0.0005, WORDS), Way.KEY_WINDOWS),
    ("keys, at the share bound", query(**SEARCHED), estimate(900_000, search_keys.SHARE_MAX, WORDS), Way.KEY_WINDOWS),
    ("keys, from a later page", query(after=(0, RUN), **SEARCHED), estimate(500, 0.0005, WORDS), Way.KEY_WINDOWS),
    # ... else, and without keys (a NOT, a group), by its matches or by the walk.
    ("keys, too common", query(**SEARCHED), estimate(900_000, 0.9, WORDS), Way.WALK),
    ("keys, too common, few in the bitmap", query(**SEARCHED), estimate(5_000, 0.9, WORDS), Way.MATCHES_FIRST),
    ("no keys, no match", query(**SEARCHED), estimate(0), Way.MATCHES_FIRST),
    ("no keys, few", query(**SEARCHED), estimate(WINDOWED_MATCHES - 1), Way.MATCHES_FIRST),
    ("no keys, enough for windows", query(**SEARCHED), estimate(WINDOWED_MATCHES), Way.TWO_WINDOWS),
    ("no keys, at the bound", query(**SEARCHED), estimate(MATCHES_FIRST_MAX), Way.TWO_WINDOWS),
    ("no keys, many", query(**SEARCHED), estimate(MATCHES_FIRST_MAX + 1), Way.WALK),
    ("no keys, many, oldest first", query(order=OLDEST, **SEARCHED), estimate(MATCHES_FIRST_MAX + 1), Way.WALK),
    # By a metric's value: its scores in value order, unless a search's few matches are sorted.
    ("by value", query(**VALUED), None, Way.SCORES_FIRST),
    ("by value, conditions", query(conditions=(FAILED,), **VALUED), None, Way.SCORES_FIRST),
    ("by value, a common search", query(**BY_VALUE_SEARCHED), estimate(MATCHES_FIRST_MAX + 1), Way.SCORES_FIRST),
    ("by value, a rare search", query(**BY_VALUE_SEARCHED), estimate(MATCHES_FIRST_MAX), Way.PLAIN),
    ("by value, a rare search with keys", query(**BY_VALUE_SEARCHED), estimate(10, 0.00001, WORDS), Way.PLAIN),
    ("by value, one run", query(run_id=RUN, **VALUED), None, Way.PLAIN),
    ("by value, one testcase", query(testcase_id=TESTCASE, **VALUED), None, Way.PLAIN),
    ("by value, no version", query(order=BY_VALUE), None, Way.PLAIN),
]  # fmt: skip


@pytest.mark.parametrize(("case", "asked", "sampled", "way"), CASES, ids=[c[0] for c in CASES])
def test_the_way_follows_from_the_request_and_the_estimate(
    case: str, asked: RecordQuery, sampled: Estimate | None, way: Way
) -> None:
    assert needs_estimate(asked) == (sampled is not None)
    assert choose(asked, sampled) == Plan(way, sampled)


def test_a_choice_that_depends_on_the_estimate_needs_it() -> None:
    with pytest.raises(ValueError, match="estimate"):
        choose(query(**SEARCHED), None)


def test_the_thresholds_are_read_when_choosing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The e2e tests force each way on a small project by moving the thresholds.
    searched, few = query(**SEARCHED), estimate(10)
    assert choose(searched, few).way == Way.MATCHES_FIRST
    monkeypatch.setattr("services.query.records.choose.WINDOWED_MATCHES", 0)
    assert choose(searched, few).way == Way.TWO_WINDOWS
    monkeypatch.setattr("services.query.records.choose.MATCHES_FIRST_MAX", -1)
    assert choose(searched, few).way == Way.WALK
    keyed = replace(few, share=0.00001, terms=WORDS)
    assert choose(searched, keyed).way == Way.KEY_WINDOWS
    monkeypatch.setattr(search_keys, "SHARE_MAX", -1.0)
    assert choose(searched, keyed).way == Way.WALK
