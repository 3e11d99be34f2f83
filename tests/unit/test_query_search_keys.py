"""The words, word pairs and time buckets a search asks records_search_keys (0010, 0011) for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.query import search_keys


@pytest.mark.parametrize(
    ("query", "keys", "exact"),
    [
        ("'the'", ["the"], True),
        ("'merge' & 'contract'", ["merge", "contract"], True),
        ("'a' & 'b' & 'a'", ["a", "b"], True),
        # a phrase of two words is its pair; of three, its two pairs could be apart
        ("'disconnect' <-> 'the'", ["disconnect", "the", "disconnect the"], True),
        ("'a' <-> 'b' & 'c' <-> 'd' & 'a' <-> 'b'", ["a", "b", "a b", "c", "d", "c d"], True),
        ("'o''brien' <-> 'said'", ["o'brien", "said", "o'brien said"], True),
        ("'can' <-> 't' <-> 'help'", ["can", "t", "can t", "help", "t help"], False),
        ("'a' <-> 'b' <-> 'c' & 'd'", ["a", "b", "a b", "c", "b c", "d"], False),
        (
            "'e-mail' <-> 'e' <-> 'mail' <-> 'the' & 'x'",
            ["e-mail", "e", "e-mail e", "mail", "e mail", "the", "mail the", "x"],
            False,
        ),
        # words apart, a prefix or a weight: their words narrow, the vector decides
        ("'a' <2> 'b'", ["a", "b"], False),
        ("'a':* <-> 'b'", ["b"], False),
        ("'a':* & 'b'", ["b"], False),
        ("'a':AB & 'b'", ["b"], False),
        ("'a':*", [], False),
        # no key is certain under a NOT, a group or an OR of more than words
        ("'a' <-> 'b' | 'c'", [], False),
        ("'a' & 'b' | 'c'", [], False),
        ("'a' | 'b':*", [], False),
        ("!'x' & 'a' <-> 'b'", [], False),
        ("( 'a' | 'b' ) & 'c' <-> 'd'", [], False),
        ("'a|b' & 'c'", ["a|b", "c"], True),  # quoted, an operator is a character of a word
        ("", [], False),
    ],
)
def test_the_keys_are_those_every_match_holds(query: str, keys: list[str], exact: bool) -> None:
    assert search_keys.terms(query) == search_keys.Terms(keys, exact)


@pytest.mark.parametrize(
    ("query", "any"),
    [
        ("'phone' | 'meeting'", ["phone", "meeting"]),
        ("'receipt' | 'receipt'", ["receipt"]),
        ("'a' | 'b' | 'o''brien'", ["a", "b", "o'brien"]),
    ],
)
def test_an_or_of_words_holds_one_of_them(query: str, any: list[str]) -> None:
    assert search_keys.terms(query) == search_keys.Terms([], True, any)


def test_buckets_cover_the_window_at_the_narrowest_width() -> None:
    t = datetime(2025, 7, 7, 7, 49, 46, tzinfo=UTC)  # epoch 1751874586
    assert search_keys.buckets(t, t) == ["b16:26731"]
    # either order; an end exactly on a bucket's start is in that bucket
    start = datetime.fromtimestamp(26720 * 65536, UTC)
    assert search_keys.buckets(t, start) == [f"b16:{b}" for b in range(26720, 26732)]
    assert search_keys.buckets(start - timedelta(microseconds=1), start) == ["b16:26719", "b16:26720"]
    # 32 buckets of 2^16 s at most, then wider ones
    assert search_keys.buckets(t - timedelta(days=30), t) == [f"b19:{b}" for b in range(3336, 3342)]
    assert search_keys.buckets(t - timedelta(days=3 * 365), t) == [f"b22:{b}" for b in range(395, 418)]
    assert search_keys.buckets(datetime(2000, 1, 1, tzinfo=UTC), t) == [f"b25:{b}" for b in range(28, 53)]
    assert search_keys.buckets(datetime(1900, 1, 1, tzinfo=UTC), t) is None  # every bucket, then


@pytest.mark.parametrize(
    ("step", "needed", "found", "first", "expected"),
    [
        (0.01, 50, 50, 0.01, 0.0125),  # as large as the rate says, and a quarter more
        (0.01, 100, 10, 0.01, 0.04),  # at most four times the last
        (0.01, 100, 0, 0.01, 0.04),  # nothing found: four times
        (0.04, 4, 30, 0.01, 0.01),  # never smaller than the first window
        (0.04, 30, 60, 0.01, 0.025),
    ],
)
def test_the_next_window_is_sized_to_what_the_page_needs(
    step: float, needed: int, found: int, first: float, expected: float
) -> None:
    assert search_keys.next_step(step, needed, found, first) == pytest.approx(expected)


def test_the_first_window_holds_what_the_page_needs_at_the_rate_last_seen() -> None:
    matches = 100_000.0  # the search's matches in all
    assert search_keys.first_step(matches, 101, None) == pytest.approx(1_000 / matches)
    # 3.5% of the matches held the other filters: 101 rows need ~2,900 matches, and a quarter more
    assert search_keys.first_step(matches, 101, 0.035) == pytest.approx(1.25 * 101 / 0.035 / matches)
    # within four times the default either way
    assert search_keys.first_step(matches, 101, 0.0) == pytest.approx(4_000 / matches)
    assert search_keys.first_step(matches, 101, 1.0) == pytest.approx(250 / matches)
    assert search_keys.first_step(0.0, 101, 0.5) == 1.0  # no matches expected: the whole history


def test_rates_are_what_whole_windows_gave_for_a_while() -> None:
    rates = search_keys.Rates(ttl_s=300.0, capacity=2)
    assert rates.get("failed", now=0.0) is None
    rates.note("failed", rows=35, matches=1_000.0, now=0.0)
    assert rates.get("failed", now=299.0) == pytest.approx(0.035)
    assert rates.get("failed", now=300.0) is None  # stale
    rates.note("rare", rows=1, matches=150.0, now=0.0)  # too few matches to tell
    assert rates.get("rare", now=1.0) is None
    rates.note("lt", rows=10, matches=1_000.0, now=1.0)
    rates.note("gt", rows=20, matches=1_000.0, now=1.0)  # over capacity: forgets the rest
    assert (rates.get("failed", now=2.0), rates.get("lt", now=2.0), rates.get("gt", now=2.0)) == (None, None, 0.02)
