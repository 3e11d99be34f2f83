"""Run-level statistics from the kept sums, checked against values computed from the raw scores."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as scipy_stats

from shared.scoring.stats import (
    Confusion,
    MetricStats,
    TrialSums,
    below_the_rest,
    expected_label,
    summarize,
    worse_beyond_chance,
)


def sums(trial: int, values: list[float], passed: int | None = None) -> TrialSums:
    return TrialSums(
        trial,
        len(values),
        passed if passed is not None else sum(1 for v in values if v >= 0.5),
        sum(values),
        sum(v * v for v in values),
    )


def test_nothing_scored() -> None:
    assert summarize("float", []) == MetricStats(0, None, None, None, None, None, "", None, None, None)
    assert summarize("float", [TrialSums(0, 0, 0, 0.0, 0.0)]).mean is None


def test_one_value_has_no_spread() -> None:
    result = summarize("float", [sums(0, [0.7])])
    assert (result.scored, result.mean, result.std_dev, result.ci_low, result.ci_high) == (1, 0.7, None, None, None)


def test_boolean_uses_wilson() -> None:
    values = [1.0] * 7 + [0.0] * 3
    result = summarize("boolean", [sums(0, values, passed=7)])
    low, high = scipy_stats.binomtest(7, 10).proportion_ci(0.95, method="wilson")
    assert result.ci_method == "wilson"
    assert (result.pass_rate, result.mean) == (0.7, 0.7)
    assert result.std_dev == pytest.approx(statistics.stdev(values))
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    # Known value: Wilson 95% for 7 / 10.
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)


def test_all_passed_keeps_a_wilson_interval_below_one() -> None:
    result = summarize("boolean", [sums(0, [1.0] * 20, passed=20)])
    assert result.ci_high == pytest.approx(1.0)
    assert result.ci_low is not None
    assert round(result.ci_low, 4) == 0.8389


def test_int_uses_student_t_on_the_mean() -> None:
    values = [5.0, 4.0, 4.0, 3.0, 5.0, 2.0, 4.0, 5.0]
    result = summarize("int", [sums(0, values, passed=6)])
    sd = statistics.stdev(values)
    half = scipy_stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    mean = statistics.fmean(values)
    assert result.ci_method == "t"
    assert (result.mean, result.pass_rate) == (mean, 6 / 8)
    assert result.std_dev == pytest.approx(sd)
    assert (result.ci_low, result.ci_high) == pytest.approx((mean - half, mean + half))


def test_the_interval_stays_on_the_scale() -> None:
    # 1/3 ± 4.30 · 0.577 / √3 would be [-1.10, 1.77].
    result = summarize("float", [sums(0, [0.0, 0.0, 1.0])])
    assert (result.ci_low, result.ci_high) == (0.0, 1.0)
    result = summarize("int", [sums(0, [1.0, 1.0, 5.0])])
    assert (result.ci_low, result.ci_high) == (1.0, 5.0)


def test_several_trials_give_the_interval_of_the_per_trial_means() -> None:
    trials = [[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    result = summarize("boolean", [sums(t, values) for t, values in enumerate(trials)])
    means = [statistics.fmean(v) for v in trials]  # 0.75, 0.5, 1.0
    half = scipy_stats.t.ppf(0.975, 2) * statistics.stdev(means) / math.sqrt(3)
    every = [v for values in trials for v in values]
    assert result.ci_method == "t over 3 trials"
    assert result.mean == pytest.approx(statistics.fmean(every))
    assert result.std_dev == pytest.approx(statistics.stdev(every))
    assert (result.ci_low, result.ci_high) == pytest.approx((max(0.0, 0.75 - half), min(1.0, 0.75 + half)))


def test_identical_trials_have_a_zero_width_interval() -> None:
    result = summarize("float", [sums(t, [0.2, 0.4]) for t in range(3)])
    assert (result.ci_low, result.ci_high) == pytest.approx((0.3, 0.3))


@pytest.mark.parametrize(
    ("confusion", "precision", "recall", "f1"),
    [
        pytest.param(Confusion(8, 2, 4, 6), 0.8, 8 / 12, 2 * 0.8 * (8 / 12) / (0.8 + 8 / 12), id="mixed"),
        pytest.param(Confusion(0, 0, 3, 5), None, 0.0, None, id="no-positive-prediction"),
        pytest.param(Confusion(0, 4, 0, 5), 0.0, None, None, id="no-positive-label"),
        pytest.param(Confusion(0, 2, 3, 5), 0.0, 0.0, 0.0, id="all-wrong"),
        pytest.param(Confusion(), None, None, None, id="unlabelled"),
    ],
)
def test_precision_recall_f1(
    confusion: Confusion, precision: float | None, recall: float | None, f1: float | None
) -> None:
    result = summarize("boolean", [sums(0, [1.0, 0.0])], confusion)
    assert (result.precision, result.recall, result.f1) == (
        pytest.approx(precision) if precision is not None else None,
        pytest.approx(recall) if recall is not None else None,
        pytest.approx(f1) if f1 is not None else None,
    )


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        ("yes", True),
        (" PASS ", True),
        ("False", False),
        ("no", False),
        ("0", False),
        (2, None),
        ("maybe", None),
        (None, None),
        ([True], None),
    ],
)
def test_expected_labels(raw: object, label: bool | None) -> None:
    assert expected_label(raw) is label


def test_a_paired_difference_has_a_t_interval_and_a_sign_test() -> None:
    from shared.scoring.stats import paired_difference

    found = paired_difference("int", 10, 0.8, 0.6, improvements=9, regressions=1)
    half = 2.2621571628 * 0.6 / math.sqrt(10)  # t(0.975, 9)
    assert (found.pairs, found.mean_delta) == (10, 0.8)
    assert [found.ci_low, found.ci_high] == pytest.approx([0.8 - half, 0.8 + half])
    assert found.p_value == pytest.approx(22 / 1024)  # 2 × (C(10,0) + C(10,1)) / 2^10
    unchanged = paired_difference("float", 4, 0.0, 0.0, improvements=0, regressions=0)
    assert (unchanged.p_value, unchanged.ci_low, unchanged.ci_high) == (None, 0.0, 0.0)
    one = paired_difference("float", 1, 0.5, None, improvements=1, regressions=0)
    assert (one.ci_low, one.p_value) == (None, 1.0)
    assert paired_difference("boolean", 0, None, None, 0, 0).mean_delta is None
    # A pass rate moves by at most ±1: the interval stays within it.
    assert paired_difference("boolean", 23, -0.957, 0.209, 0, 22).ci_low == -1.0


def test_a_slice_below_the_rest_of_its_run() -> None:
    # 0 of 2 against 4 of 5: C(3, 2) / C(7, 2) = 3 / 21 (the hypergeometric chance of no pass among
    # two records drawn from 7 holding 4 passes); 1 of 3 against 3 of 4: 13 / 35; a slice as good
    # as the rest (2 of 4 against 2 of 4): 53 / 70. Benjamini-Hochberg over the three: 3/21 x 3/1,
    # 13/35 x 3/2, 53/70 x 3/3.
    found = below_the_rest([(2, 0, 5, 4), (3, 1, 4, 3), (4, 2, 4, 2)])
    assert [(round(p, 4), round(q, 4)) for p, q in found] == [(0.1429, 0.4286), (0.3714, 0.5571), (0.7571, 0.7571)]
    # 400 of 1,000 against 800 of 1,000: far beyond chance, even among many slices.
    (p, q), *_ = below_the_rest([(1000, 400, 1000, 800), *[(10, 5, 10, 5)] * 99])
    assert p < 1e-60 and q < 1e-58
    assert below_the_rest([]) == []


def test_a_slice_worse_than_the_baselines_testcase_by_testcase() -> None:
    # A sign test, one-sided: 6 testcases worse and none better: 1 / 2^6; 1 worse: 1/2; 1 and 1:
    # 3/4 (one worse or more of two); none differing: 1. Benjamini-Hochberg over the four: 1/64 x
    # 4/1, then 1/2 x 4/2 = 3/4 x 4/3 = 1 x 4/4 = 1.
    found = worse_beyond_chance([(6, 0), (1, 0), (1, 1), (0, 0)])
    assert [(round(p, 4), round(q, 4)) for p, q in found] == [(0.0156, 0.0625), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
    # 8 of 10 worse, 2 better: P(X >= 8 | n = 10) = 56 / 1024. The same pass rates with every
    # testcase changing (40 worse, 32 better) are chance.
    assert worse_beyond_chance([(8, 2)])[0][0] == 56 / 1024
    assert worse_beyond_chance([(40, 32)])[0][0] > 0.2
    assert worse_beyond_chance([]) == []
