"""Run-level statistics of one metric, from the incrementally kept sums (no scan of scores).

The scorer keeps, per run × metric version × trial, the count, sum and sum of squares of the
scored values, the passes, and the confusion counts against an expected label. Everything a run
page shows is derived here from those sums:

- mean and sample standard deviation over every scored value (booleans count as 0 / 1);
- a 95% confidence interval of the mean: with one trial, Wilson's interval for a boolean metric
  (its mean is the pass rate) and Student's t interval for int / float; with several trials,
  Student's t over the per-trial means (each trial is a full pass over the testset, so the
  interval shows how much a re-run moves the result);
- precision / recall / F1 of a boolean metric whose testcases carry an expected label.

numpy and scipy are imported on first use (~0.9 s of CPU): the scorer only reads expected labels
here, and a query replica pays for them with the first interval it computes.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

from shared.scoring.metric import VALUE_RANGES

CONFIDENCE = 0.95


@dataclass(frozen=True)
class TrialSums:
    """The kept sums of one trial (summed over the counter shards)."""

    trial: int
    scored: int
    passed: int
    sum: float
    sum_sq: float


@dataclass(frozen=True)
class Confusion:
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0
    true_neg: int = 0

    @property
    def labelled(self) -> int:
        return self.true_pos + self.false_pos + self.false_neg + self.true_neg


@dataclass(frozen=True)
class MetricStats:
    scored: int
    pass_rate: float | None
    mean: float | None
    std_dev: float | None
    ci_low: float | None
    ci_high: float | None
    # How the interval was taken, for people reading it: "wilson", "t", "t over 3 trials".
    ci_method: str
    precision: float | None
    recall: float | None
    f1: float | None


def summarize(output_type: str, trials: Iterable[TrialSums], confusion: Confusion = Confusion()) -> MetricStats:
    per_trial = [t for t in trials if t.scored > 0]
    n = sum(t.scored for t in per_trial)
    if n == 0:
        precision, recall, f1 = _precision_recall_f1(confusion)
        return MetricStats(0, None, None, None, None, None, "", precision, recall, f1)
    total, total_sq = sum(t.sum for t in per_trial), sum(t.sum_sq for t in per_trial)
    passed = sum(t.passed for t in per_trial)
    mean = total / n
    std_dev = math.sqrt(max(0.0, (total_sq - total * total / n) / (n - 1))) if n > 1 else None
    low: float | None
    high: float | None
    if len(per_trial) > 1:
        low, high = _t_interval([t.sum / t.scored for t in per_trial])
        method = f"t over {len(per_trial)} trials"
    elif output_type == "boolean":
        low, high = _wilson(passed, n)
        method = "wilson"
    else:
        low, high = _t_interval_from_sums(mean, std_dev, n)
        method = "t"
    if low is not None and high is not None:
        # A t interval can leave the scale (0.2 ± 0.5); values never do.
        floor, ceiling = VALUE_RANGES[output_type]
        low, high = max(floor, low), min(ceiling, high)
    precision, recall, f1 = _precision_recall_f1(confusion)
    return MetricStats(n, passed / n, mean, std_dev, low, high, method, precision, recall, f1)


# The two-sided normal quantile of CONFIDENCE (1.96 for 95%).
_Z = statistics.NormalDist().inv_cdf((1 + CONFIDENCE) / 2)


def _scipy_stats() -> ModuleType:
    from scipy import stats  # on first use (module docstring)

    return stats


def _wilson(successes: int, n: int) -> tuple[float, float]:
    # Wilson's score interval in closed form (what scipy's binomtest(...).proportion_ci(method="wilson")
    # gives, at a hundredth of its cost: run lists compute it for every run and metric).
    p, z2 = successes / n, _Z * _Z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


@functools.lru_cache(maxsize=4096)
def _t_quantile(df: int) -> float:
    return float(_scipy_stats().t.ppf((1 + CONFIDENCE) / 2, df))


def _t_interval(values: list[float]) -> tuple[float, float] | tuple[None, None]:
    k = len(values)
    mean = sum(values) / k
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    return _t_interval_from_sums(mean, sd, k)


def _t_interval_from_sums(mean: float, sd: float | None, n: int) -> tuple[float, float] | tuple[None, None]:
    if sd is None or n < 2:
        return None, None
    half = _t_quantile(n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def _precision_recall_f1(c: Confusion) -> tuple[float | None, float | None, float | None]:
    if c.labelled == 0:
        return None, None, None
    precision = c.true_pos / (c.true_pos + c.false_pos) if c.true_pos + c.false_pos else None
    recall = c.true_pos / (c.true_pos + c.false_neg) if c.true_pos + c.false_neg else None
    if precision is None or recall is None:
        return precision, recall, None
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def expected_label(value: object) -> bool | None:
    """An expected label as a boolean: true/false, 1/0, "yes"/"no", "pass"/"fail"; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _LABELS.get(value.strip().casefold())
    return None


_LABELS = {
    "true": True, "yes": True, "1": True, "pass": True, "passed": True, "positive": True,
    "false": False, "no": False, "0": False, "fail": False, "failed": False, "negative": False,
}  # fmt: skip


@dataclass(frozen=True)
class PairedDifference:
    """A run (B) against a baseline (A) on one metric, over the testcases both scored: the mean of
    B − A with its 95% interval (Student's t over the paired differences), and the two-sided
    p-value of a sign test — how likely as lopsided a split of improvements and regressions would
    be if B were no better or worse than A (McNemar's exact test, for a boolean metric)."""

    pairs: int
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def paired_difference(
    output_type: str, pairs: int, mean_delta: float | None, sd_delta: float | None, improvements: int, regressions: int
) -> PairedDifference:
    """From the pairs' count, the mean and sample standard deviation of their differences, and how
    many improved and regressed (the others unchanged). The interval is kept within the differences
    the metric's range allows (a pass rate moves by at most ±1)."""
    differing = improvements + regressions
    p_value = float(_scipy_stats().binomtest(improvements, differing, 0.5).pvalue) if differing else None
    if mean_delta is None or pairs == 0:
        return PairedDifference(pairs, None, None, None, p_value)
    low, high = _t_interval_from_sums(mean_delta, sd_delta, pairs)
    if low is not None and high is not None:
        bottom, top = VALUE_RANGES[output_type]
        low, high = max(low, bottom - top), min(high, top - bottom)
    return PairedDifference(pairs, mean_delta, low, high, p_value)


def below_the_rest(slices: Sequence[tuple[int, int, int, int]]) -> list[tuple[float, float]]:
    """Per slice of a run — its verdicts and passes, then another group's (the rest of the run, or
    a baseline run's same slice) — the p-value of Fisher's exact test, one-sided (so few passes,
    were the slice like the other: the hypergeometric chance of its passes or fewer), and the
    Benjamini–Hochberg q-value over all of them."""
    if not slices:
        return []
    import numpy as np  # on first use (module docstring)

    scored, passed, rest_scored, rest_passed = (np.array(column) for column in zip(*slices, strict=True))
    return _with_q(_scipy_stats().hypergeom.cdf(passed, scored + rest_scored, passed + rest_passed, scored))


def worse_beyond_chance(slices: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """Per slice compared testcase by testcase with a baseline — how many of its testcases got worse,
    how many better (the others the same) — the p-value of a sign test, one-sided (as many worse or
    more, were worse and better equally likely: McNemar's exact test for one trial each), and the
    Benjamini–Hochberg q-value over all of them. None differing: p 1."""
    if not slices:
        return []
    import numpy as np  # on first use (module docstring)

    worse, better = (np.array(column) for column in zip(*slices, strict=True))
    return _with_q(_scipy_stats().binom.sf(worse - 1, worse + better, 0.5))


def _with_q(computed: object) -> list[tuple[float, float]]:
    """p-values (kept within 0..1 against rounding) with their Benjamini–Hochberg q-values."""
    import numpy as np  # on first use (module docstring)

    p = np.clip(np.asarray(computed, dtype=float), 0.0, 1.0)
    q = _scipy_stats().false_discovery_control(p)
    return [(float(a), float(b)) for a, b in zip(p, q, strict=True)]
