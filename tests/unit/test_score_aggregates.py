"""What a score adds to its run's aggregates, and the delta when a score is replaced."""

from __future__ import annotations

import pytest

from services.scorer.aggregates import NOTHING, Contribution, contribution


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("completed", 1.0, True, None, 0, 0, None), Contribution(scored=1, passed=1, sum=1.0, sum_sq=1.0)),
        (("completed", 3.0, False, None, 0, 0, None), Contribution(scored=1, sum=3.0, sum_sq=9.0)),
        (("completed", 1.0, True, True, 0, 0, None), Contribution(scored=1, passed=1, sum=1.0, sum_sq=1.0, true_pos=1)),
        (
            ("completed", 1.0, True, False, 0, 0, None),
            Contribution(scored=1, passed=1, sum=1.0, sum_sq=1.0, false_pos=1),
        ),
        (("completed", 0.0, False, True, 0, 0, None), Contribution(scored=1, false_neg=1)),
        (("completed", 0.0, False, False, 0, 0, None), Contribution(scored=1, true_neg=1)),
        (
            ("errored", None, None, True, 10, 2, 0.5),
            Contribution(errored=1, prompt_tokens=10, completion_tokens=2, cost_usd=0.5),
        ),
        (("pending", None, None, None, 0, 0, None), Contribution(pending=1)),
    ],
)
def test_contribution(row: tuple[object, ...], expected: Contribution) -> None:
    assert contribution(*row) == expected  # type: ignore[arg-type]


def test_replacing_an_errored_score_moves_the_aggregates_by_the_difference() -> None:
    errored = contribution("errored", None, None, None, 100, 0, 0.01)
    completed = contribution("completed", 4.0, True, None, 120, 10, 0.02)
    delta = completed - errored
    assert delta == Contribution(
        scored=1, passed=1, sum=4.0, sum_sq=16.0, errored=-1, prompt_tokens=20, completion_tokens=10, cost_usd=0.01
    )
    assert completed - NOTHING == completed


def test_the_columns_are_the_aggregate_table_columns_in_order() -> None:
    assert Contribution.columns() == (
        "scored",
        "passed",
        "sum",
        "sum_sq",
        "errored",
        "pending",
        "true_pos",
        "false_pos",
        "false_neg",
        "true_neg",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )
    assert len(Contribution().values()) == len(Contribution.columns())
