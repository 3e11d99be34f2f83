"""The word pairs and time buckets a phrase search asks records_search_keys (0010) for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.query import phrases


@pytest.mark.parametrize(
    ("query", "pairs"),
    [
        ("'disconnect' <-> 'the'", ["disconnect the"]),
        ("'can' <-> 't' <-> 'help'", ["can t", "t help"]),
        ("'a' <-> 'b' <-> 'c' & 'd'", ["a b", "b c"]),
        ("'e-mail' <-> 'e' <-> 'mail' <-> 'the' & 'x'", ["e-mail e", "e mail", "mail the"]),
        ("'a' <-> 'b' & 'c' <-> 'd' & 'a' <-> 'b'", ["a b", "c d"]),
        ("'o''brien' <-> 'said'", ["o'brien said"]),
        ("'the'", []),
        ("'a' & 'b'", []),
        ("'a' <2> 'b'", []),
        ("'a':* <-> 'b'", []),
        # no pair is certain under an OR, a NOT or a group
        ("'a' <-> 'b' | 'c'", []),
        ("!'x' & 'a' <-> 'b'", []),
        ("( 'a' | 'b' ) & 'c' <-> 'd'", []),
        ("", []),
    ],
)
def test_pairs_are_those_every_match_holds(query: str, pairs: list[str]) -> None:
    assert phrases.pairs(query) == pairs


def test_buckets_cover_the_window_at_the_narrowest_width() -> None:
    t = datetime(2025, 7, 7, 7, 49, 46, tzinfo=UTC)  # epoch 1751874586
    assert phrases.buckets(t, t) == ["b16:26731"]
    # either order; an end exactly on a bucket's start is in that bucket
    start = datetime.fromtimestamp(26720 * 65536, UTC)
    assert phrases.buckets(t, start) == [f"b16:{b}" for b in range(26720, 26732)]
    assert phrases.buckets(start - timedelta(microseconds=1), start) == ["b16:26719", "b16:26720"]
    # 32 buckets of 2^16 s at most, then wider ones
    assert phrases.buckets(t - timedelta(days=30), t) == [f"b19:{b}" for b in range(3336, 3342)]
    assert phrases.buckets(t - timedelta(days=3 * 365), t) == [f"b22:{b}" for b in range(395, 418)]
    assert phrases.buckets(datetime(2000, 1, 1, tzinfo=UTC), t) == [f"b25:{b}" for b in range(28, 53)]
    assert phrases.buckets(datetime(1900, 1, 1, tzinfo=UTC), t) is None  # every bucket, then
