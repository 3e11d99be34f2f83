"""Cohen's kappa of two metrics' pass / fail verdicts (GetMetricAgreement)."""

from __future__ import annotations

import pytest

from services.query.agreement import kappa


def test_kappa_is_agreement_beyond_chance() -> None:
    assert kappa(0, 0, 0, 0) is None
    assert kappa(10, 0, 0, 0) is None  # one verdict only: chance agrees on everything
    assert kappa(5, 0, 0, 5) == pytest.approx(1.0)
    assert kappa(0, 5, 5, 0) == pytest.approx(-1.0)
    # 20 records: 9 both passed, 6 both failed, 5 split; observed .75, chance .5 → .5
    assert kappa(9, 3, 2, 6) == pytest.approx((0.75 - (0.6 * 0.55 + 0.4 * 0.45)) / (1 - (0.6 * 0.55 + 0.4 * 0.45)))
