"""The buckets of GetScoreDistribution, per output type."""

from __future__ import annotations

from services.query.distribution import buckets


def test_a_float_metric_has_ten_bins_and_the_last_holds_one() -> None:
    spread = buckets("float", {0.0: 2, 9.0: 3})
    assert [b.label for b in spread] == [f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(10)]
    assert [b.count for b in spread] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert (spread[9].lower, spread[9].upper) == (0.9, 1.0)


def test_an_int_metric_lists_one_to_five_widened_to_what_it_holds() -> None:
    assert [(b.label, b.count) for b in buckets("int", {3.0: 4})] == [("1", 0), ("2", 0), ("3", 4), ("4", 0), ("5", 0)]
    assert [b.label for b in buckets("int", {0.0: 1, 7.0: 2})] == ["0", "1", "2", "3", "4", "5", "6", "7"]


def test_a_boolean_metric_is_its_fails_and_passes() -> None:
    assert [(b.label, b.count) for b in buckets("boolean", {1.0: 5})] == [("fail", 0), ("pass", 5)]
