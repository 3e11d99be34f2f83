"""CI gates: ``--fail-under METRIC=THRESHOLD`` (and within each value of a field: ``--fail-under-per``),
``--fail-above MEASURE=LIMIT`` on what the run used, ``--fail-on-regressions`` and ``--fail-if-worse``,
as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.usage import BY_KEY, Measure, amount, share
from scorekeeper_sdk.views import Comparison, Run, RunBreakdown, RunUsage


@dataclass(frozen=True)
class Threshold:
    """``metric`` (name or id) must reach ``minimum``: a pass rate (0..1) for a boolean metric, the
    mean for an int or float one."""

    metric: str
    minimum: float


@dataclass(frozen=True)
class Gate:
    """One gate's verdict and a sentence saying why."""

    name: str
    passed: bool
    detail: str


def parse_threshold(text: str) -> Threshold:
    """``exact=0.9``, ``exact=90%`` or ``quality=3.5``; a usage error otherwise."""
    metric, sep, value = text.rpartition("=")
    metric, value = metric.strip(), value.strip()
    if not sep or not metric or not value:
        raise CliError(f"--fail-under takes METRIC=THRESHOLD (e.g. exact=0.9 or exact=90%), got {text!r}")
    try:
        minimum = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise CliError(f"--fail-under {text!r}: {value!r} is not a number") from None
    return Threshold(metric, minimum)


def _shown(value: float, output_type: str) -> str:
    return f"{value * 100:.1f}%" if output_type == "boolean" else f"{value:.3f}"


def check_thresholds(run: Run, thresholds: list[Threshold]) -> list[Gate]:
    """Each threshold against the run's aggregate: nothing scored fails the gate."""
    gates = []
    for threshold in thresholds:
        summary = run.metric(threshold.metric)
        what = "pass rate" if summary.output_type == "boolean" else "mean"
        value = summary.value
        name = f"{summary.name} >= {_shown(threshold.minimum, summary.output_type)}"
        if value is None:
            gates.append(Gate(name, False, f"{summary.name}: no score to compare ({summary.errored} errored)"))
            continue
        passed = value >= threshold.minimum
        sign = ">=" if passed else "<"
        detail = (
            f"{summary.name}: {what} {_shown(value, summary.output_type)} {sign}"
            f" {_shown(threshold.minimum, summary.output_type)}"
        )
        gates.append(Gate(name, passed, detail))
    return gates


def check_slices(run: Run, breakdown: RunBreakdown, thresholds: list[Threshold], min_scored: int) -> list[Gate]:
    """Each threshold within every value of the breakdown's field (``--fail-under-per``): a gate per
    threshold, failing on the values whose pass rate (or mean) is below it, judged with at least
    ``min_scored`` of their records scored with the metric. The values beyond the 1,000 with the
    most records are judged together, as the breakdown sums them; records without the field, not at
    all."""
    gates = []
    for threshold in thresholds:
        summary = run.metric(threshold.metric)
        limit = _shown(threshold.minimum, summary.output_type)
        name = f"{summary.name} >= {limit} in every {breakdown.field}"
        judged, few, below = 0, 0, []
        for group in breakdown.groups:
            scores = group.metric(summary.metric_id)
            if group.no_value or scores is None or not scores.scored:
                continue
            value = scores.pass_rate if summary.output_type == "boolean" else scores.mean
            if value is None:
                continue
            if scores.scored < min_scored:
                few += 1
                continue
            judged += 1
            if value < threshold.minimum:
                where = f"{breakdown.field} {group.label}" if group.rest else f"{breakdown.field}={group.value}"
                below.append(f"{_shown(value, summary.output_type)} where {where} ({scores.scored:,} scored)")
        unjudged = f", {few} with fewer than {min_scored} scored not judged" if few else ""
        if below:
            detail = f"{summary.name}: {' · '.join(below)}, below {limit}{unjudged}"
        else:
            detail = f"{summary.name}: none of the {judged} values of {breakdown.field} below {limit}{unjudged}"
        gates.append(Gate(name, not below, detail))
    return gates


def check_regressions(comparison: Comparison) -> Gate:
    """Fails when any metric regressed on any testcase against the baseline."""
    regressed = [(m.name, m.regressions) for m in comparison.metrics if m.regressions]
    if not regressed:
        return Gate(f"no regressions against {comparison.baseline_run_id}", True, "no testcase regressed")
    listed = ", ".join(f"{name}: {count}" for name, count in regressed)
    return Gate(f"no regressions against {comparison.baseline_run_id}", False, f"regressed testcases: {listed}")


def known_metrics(thresholds: list[Threshold], metric_names: dict[str, str]) -> None:
    """Every threshold names one of the run's metrics (``metric_names``: id → name)."""
    for threshold in thresholds:
        if threshold.metric not in metric_names and threshold.metric not in metric_names.values():
            raise CliError(
                f"--fail-under names {threshold.metric!r}, which the run is not scored with"
                f" (its metrics: {', '.join(metric_names.values()) or 'none'})"
            )


def check_worse(comparison: Comparison) -> Gate:
    """Fails when a metric is worse than the baseline beyond chance (a sign test's p < 0.05 with more
    regressions than improvements): a judge's noise on a few testcases does not fail it."""
    name = f"not worse than {comparison.baseline_run_id}"
    worse = [m for m in comparison.metrics if m.verdict == "worse"]
    if not worse:
        return Gate(name, True, "no metric is worse beyond chance")
    listed = ", ".join(
        f"{m.name} ({m.regressions} regressed, {m.improvements} improved, p = {m.p_value:.2g})" for m in worse
    )
    return Gate(name, False, f"worse beyond chance: {listed}")


@dataclass(frozen=True)
class UsageLimit:
    """``--fail-above``: the run's ``measure`` must not be above ``limit`` (ms, tokens or USD per
    record), or with ``relative``, above the baseline's by more than ``limit`` (a share: 0.2)."""

    measure: Measure
    limit: float
    relative: bool = False

    @property
    def name(self) -> str:
        limit = f"{self.limit * 100:+g}% of the baseline's" if self.relative else amount(self.limit, self.measure.unit)
        return f"{self.measure.name} <= {limit}"


def parse_usage_limit(text: str) -> UsageLimit:
    """``latency=800`` (ms), ``p95-latency=2000``, ``tokens=1500``, ``cost=0.002`` (USD per record),
    ``judge-cost=0.001``; ``latency=+20%``: at most 20% above the baseline's. A usage error
    otherwise."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    keys = ", ".join(BY_KEY)
    if not sep or key not in BY_KEY:
        raise CliError(f"--fail-above takes MEASURE=LIMIT, MEASURE one of {keys} (e.g. latency=800), got {text!r}")
    relative = value.endswith("%")
    try:
        limit = float(value[:-1]) / 100 if relative else float(value)
    except ValueError:
        limit = math.nan
    if not math.isfinite(limit):
        raise CliError(f"--fail-above {text!r}: {value!r} is not a number (or +N% of the baseline's)")
    if relative and not value.startswith(("+", "-")):
        raise CliError(f"--fail-above {text!r}: a share of the baseline's is signed, as {key}=+20%")
    if not relative and limit < 0:
        raise CliError(f"--fail-above {text!r}: a limit is 0 or more")
    return UsageLimit(BY_KEY[key], limit, relative)


def check_usage(run: RunUsage, baseline: RunUsage | None, limits: list[UsageLimit]) -> list[Gate]:
    """Each limit on what the run used, per record; a measure the run (or the baseline, for a
    relative limit) does not have fails its gate: a limit that cannot be judged is no pass."""
    gates = []
    for limit in limits:
        m, value = limit.measure, limit.measure.of(run)
        if value is None:
            gates.append(Gate(limit.name, False, f"{m.name}: the run has none to compare"))
            continue
        if not limit.relative:
            passed = value <= limit.limit
            sign = "<=" if passed else ">"
            gates.append(
                Gate(limit.name, passed, f"{m.name} {amount(value, m.unit)} {sign} {amount(limit.limit, m.unit)}")
            )
            continue
        before = m.of(baseline) if baseline is not None else None
        if not before:
            gates.append(Gate(limit.name, False, f"{m.name}: the baseline has none to compare"))
            continue
        change = value / before - 1
        # Sums of the same costs in another order differ in their last bits: +0% is +0%.
        passed = change <= limit.limit or math.isclose(change, limit.limit, abs_tol=1e-9)
        said = f"{m.name} {amount(before, m.unit)} → {amount(value, m.unit)} ({share(change)})"
        gates.append(Gate(limit.name, passed, f"{said} {'<=' if passed else '>'} {limit.limit * 100:+g}%"))
    return gates
