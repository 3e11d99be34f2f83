"""Which way a ListRecords page is read: a pure function of the request and the estimate.

Every way reads the same rows (plans/); they differ in time only, by orders of magnitude on a
large project. Project-wide, a search decides the way when it comes with score conditions by
created_at (the newest or oldest first) or with an order by a metric's value: PostgreSQL's own
choice between walking an index in the page's order and fetching the search's matches is misled
by its estimates there (docs/query-performance.md, "ListRecords").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.query import search_keys
from services.query.records.estimate import Estimate
from services.query.records.query import RecordQuery

# A search expected to match at most this many records (its GIN bitmap, in any project) is read
# matches first; more are walked, since such frequent matches fill a page within a short walk.
MATCHES_FIRST_MAX = 20_000
# From this many matches, matches first reads the newest (oldest) records first, in a window of
# their own (plans/two_windows.py): below it, the window's fixed costs exceed what it saves.
WINDOWED_MATCHES = 6_000


class Way(StrEnum):
    """A way of reading a page: each is one module of plans/."""

    PLAIN = "plain"  # the filters on records, in the order's index (plans/plain.py)
    WALK = "walk"  # records_created walked, each record tested (plans/walk.py)
    MATCHES_FIRST = "matches first"  # the search's matches sorted, then probed (plans/matches_first.py)
    TWO_WINDOWS = "matches first, two windows"  # the same, newest 40% first (plans/two_windows.py)
    KEY_WINDOWS = "keys in windows"  # records_search_keys, window by window (plans/key_windows.py)
    SCORES_FIRST = "scores first"  # the metric's scores in value order (plans/scores_first.py)


@dataclass(frozen=True)
class Plan:
    """The way a page is read, and the estimate it was chosen by (key windows are sized by it)."""

    way: Way
    estimate: Estimate | None = None


def needs_estimate(query: RecordQuery) -> bool:
    """Whether the choice depends on what the newest records say of the search (estimate.sample)."""
    return _searched(query) and (_conditions_by_time(query) or query.order.key == "score")


def choose(query: RecordQuery, estimate: Estimate | None) -> Plan:
    """The way to read ``query``'s page; ``estimate`` is the sample when needs_estimate() says so."""
    if needs_estimate(query) and estimate is None:
        raise ValueError("this query's plan depends on the search's estimate")
    if _searched(query) and _conditions_by_time(query):
        assert estimate is not None
        # An AND of words and phrases, or an OR of words, is read by its keys in windows of time
        # (search_keys.py), unless so common that a walk fills the page sooner.
        if estimate.terms and estimate.share <= search_keys.SHARE_MAX:
            return Plan(Way.KEY_WINDOWS, estimate)
        if estimate.matches > MATCHES_FIRST_MAX:
            return Plan(Way.WALK, estimate)
        if estimate.matches >= WINDOWED_MATCHES:
            return Plan(Way.TWO_WINDOWS, estimate)
        return Plan(Way.MATCHES_FIRST, estimate)
    if (
        query.order.key == "score"
        and query.project_wide
        and query.testcase_id is None
        and query.order_versions
        and (query.search is None or (estimate is not None and estimate.matches > MATCHES_FIRST_MAX))
    ):
        # A search with few matches is read plainly: its matches are sorted by value.
        return Plan(Way.SCORES_FIRST, estimate)
    return Plan(Way.PLAIN, estimate)


def _searched(query: RecordQuery) -> bool:
    return query.project_wide and query.search is not None and query.testcase_id is None


def _conditions_by_time(query: RecordQuery) -> bool:
    return query.order.key == "created_at" and bool(query.conditions)
