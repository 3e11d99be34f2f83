"""CI gates: ``--fail-under METRIC=THRESHOLD`` (and within each value of a field: ``--fail-under-per``),
``--fail-on-regressions`` and ``--fail-if-worse``, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.views import Comparison, Run, RunBreakdown


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
    ``min_scored`` of their records scored with the metric. The values beyond the 25 with the most
    records are judged together, as the breakdown sums them; records without the field, not at all."""
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
