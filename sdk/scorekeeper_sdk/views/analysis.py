"""What a run's scores say beyond its means: agreement, spread, steps, breakdowns, weak slices."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import field as dataclass_field


@dataclass(frozen=True)
class MetricAgreement:
    """Two metrics' verdicts on the same records of a run: each cell's count, the share of
    agreements and Cohen's kappa (None when they cannot be told)."""

    run_id: str
    metric_a_id: str
    metric_a_name: str
    metric_b_id: str
    metric_b_name: str
    compared: int = 0
    both_passed: int = 0
    only_a_passed: int = 0
    only_b_passed: int = 0
    both_failed: int = 0
    not_compared: int = 0
    agreement: float | None = None
    kappa: float | None = None
    # The metric's verdicts are the feedback the run's calls got (a monitor's run), not its scores.
    metric_a_feedback: bool = False
    metric_b_feedback: bool = False


@dataclass(frozen=True)
class ScoreBucket:
    """Scores of values ``lower`` <= value < ``upper`` (an int's or a boolean's: one value)."""

    label: str
    lower: float
    upper: float
    count: int = 0


@dataclass(frozen=True)
class MetricDistribution:
    """How a run's completed scores of one metric spread over its buckets (in value order)."""

    metric_id: str
    name: str
    output_type: str
    scored: int = 0
    buckets: list[ScoreBucket] = field(default_factory=list)
    # With trials: the testcases with two or more pass / fail scores, and those whose trials
    # disagree (list_records(where=["<metric>:unstable"]) lists their records).
    repeated_testcases: int = 0
    unstable_testcases: int = 0


@dataclass(frozen=True)
class StepSummary:
    """One step as a run's calls took it: how many records took it, how long it took, how often
    it failed, what it used; ``parent`` the step it ran inside, ``depth`` where it stands."""

    name: str
    kind: str = ""
    parent: str = ""
    depth: int = 0
    records: int = 0
    taken: int = 0
    failed: int = 0
    mean_ms: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    mean_start_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    costed: int = 0


@dataclass(frozen=True)
class RunSteps:
    """Where a run's calls spend their time, step by step (in the order steps come in a call)."""

    run_id: str
    records: int = 0
    records_with_steps: int = 0
    steps: list[StepSummary] = field(default_factory=list)


@dataclass(frozen=True)
class CallSteps:
    """Where production calls spend their time, step by step: the steps of ``calls`` calls (the
    newest 50,000 the filters match at most), ``calls_with_steps`` of which hold steps (each
    step's ``records`` counts calls)."""

    calls: int = 0
    calls_with_steps: int = 0
    steps: list[StepSummary] = field(default_factory=list)


@dataclass(frozen=True)
class GroupMetric:
    """One metric's scores over a group of a run's records (the version the run pins)."""

    metric_id: str
    name: str
    output_type: str
    scored: int = 0
    passed: int = 0
    errored: int = 0
    pending: int = 0
    # None when nothing was scored.
    pass_rate: float | None = None
    mean: float | None = None


@dataclass(frozen=True)
class RunGroup:
    """A run's records of one value of a field (run_breakdown): how many, errored, latency, cost,
    and per metric its scores. ``rest``: every value beyond the 25 with the most records, together
    (``rest_values`` of them); ``no_value``: the records without the field."""

    value: str = ""
    rest: bool = False
    rest_values: int = 0
    no_value: bool = False
    records: int = 0
    errored_records: int = 0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    cost_usd: float = 0.0
    metrics: list[GroupMetric] = field(default_factory=list)
    # run_breakdown(baseline_run_id=…): the baseline's records of the same group, if any.
    baseline: RunGroup | None = None

    def metric(self, name: str) -> GroupMetric | None:
        """Its scores of the metric of this name (or id)."""
        return next((m for m in self.metrics if name in (m.name, m.metric_id)), None)

    @property
    def label(self) -> str:
        """The value, or what stands for it."""
        return group_label(self.value, self.rest, self.rest_values, self.no_value)


def group_label(value: str, rest: bool, rest_values: int, no_value: bool) -> str:
    """A breakdown's group as a person reads it: its value, "(the 12 other values)" or "(none)"."""
    if rest:
        return f"(the {rest_values:,} other values)"
    return "(none)" if no_value else value


@dataclass(frozen=True)
class RunBreakdown:
    """A run broken down by a field, and the fields its records hold."""

    run_id: str
    field: str = ""
    groups: list[RunGroup] = dataclass_field(default_factory=list)
    fields: list[str] = dataclass_field(default_factory=list)


@dataclass(frozen=True)
class WeakSlice:
    """A value of a field whose records pass a metric less often than the rest of the run's
    (weak_slices): its verdicts and passes, the rest's, the passes it lacks against the rest's
    rate, and how likely chance is (``p_value``; ``q_value`` over every slice tested)."""

    field: str
    value: str
    metric_id: str
    metric_name: str
    scored: int = 0
    passed: int = 0
    pass_rate: float = 0.0
    rest_scored: int = 0
    rest_passed: int = 0
    rest_pass_rate: float = 0.0
    missing_passes: float = 0.0
    p_value: float = 1.0
    q_value: float = 1.0
    # weak_slices(baseline_run_id=…): the baseline's same slice (rest_* are then 0).
    baseline_scored: int = 0
    baseline_passed: int = 0
    baseline_pass_rate: float = 0.0
    # Against a baseline of the same testset (WeakSlices.paired): its testcases that got worse and
    # better, which the sign test behind ``p_value`` weighs.
    worse_testcases: int = 0
    better_testcases: int = 0

    @property
    def filter(self) -> str:
        """Its records' filter: ``list_records(fields=[s.filter])``."""
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class WeakSlices:
    """A run's weak slices, most convincing first, and how many slices were tested."""

    run_id: str
    slices: list[WeakSlice] = dataclass_field(default_factory=list)
    tested: int = 0
    min_records: int = 0
    baseline_run_id: str = ""
    # Against a baseline of the same testset: compared testcase by testcase (a sign test).
    paired: bool = False
