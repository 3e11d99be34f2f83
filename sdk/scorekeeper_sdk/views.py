"""What the SDK returns for runs, records, history and comparisons (the query service's views)."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import field as dataclass_field
from typing import Any

from scorekeeper_sdk.tracing import Span

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class MetricSummary:
    """A run's results for one metric: counts, pass rate, mean and its 95% interval."""

    metric_id: str
    name: str
    output_type: str
    metric_version_id: str = ""
    metric_version: int = 0
    eval_type: str = ""
    scored: int = 0
    passed: int = 0
    errored: int = 0
    pending: int = 0
    pass_rate: float | None = None
    mean: float | None = None
    std_dev: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str = ""
    explanation: str = ""
    labelled: int = 0
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float = 0.0

    @property
    def value(self) -> float | None:
        """What a gate compares: the pass rate of a boolean metric, the mean of any other."""
        return self.pass_rate if self.output_type == "boolean" else self.mean


@dataclass(frozen=True)
class SystemVersionRef:
    """The system version a run executed."""

    id: str
    name: str
    kind: str
    system_id: str = ""
    system_name: str = ""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusTransition:
    status: str
    at: str


@dataclass(frozen=True)
class RunTotals:
    """Latency, tokens and cost over the run's records and judges."""

    latency_ms_total: float = 0.0
    latency_ms_mean: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    costed_records: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    judge_cost_usd: float = 0.0
    # Of the records that reported a latency, exact: kept once every record is in; from get_run,
    # of the records so far while the run is still going (latency_live).
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_live: bool = False


@dataclass(frozen=True)
class Run:
    """A run with its status, counts and per-metric results; ``url`` opens its page."""

    id: str
    project_id: str
    status: str
    testset_id: str = ""
    testset_version: int = 0
    testset_name: str = ""
    system_version_id: str = ""
    system_version: SystemVersionRef | None = None
    source: str = ""
    trials: int = 1
    expected_records: int = 0
    records: int = 0
    errored_records: int = 0
    expected_scores: int = 0
    scores: int = 0
    metrics: list[MetricSummary] = field(default_factory=list)
    notes: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    url: str = ""
    status_explanation: str = ""
    error: str = ""
    transitions: list[StatusTransition] = field(default_factory=list)
    totals: RunTotals = field(default_factory=RunTotals)
    # How many times its errored records were executed again.
    retries: int = 0
    # A monitor's window run (source monitor, no testset): its monitor.
    monitor_id: str = ""
    monitor_name: str = ""
    # Its monitor was deleted since: named, found nowhere.
    monitor_deleted: bool = False
    # A run a schedule kicked off: the schedule, and its name now ("" when deleted since).
    schedule_id: str = ""
    schedule_name: str = ""
    # The run it is compared with as "previous" (previous_run): the newest earlier run with scores
    # of its schedule, else of its monitor, else of its testset; "" when there is none.
    previous_run_id: str = ""
    archived_at: str = ""  # when it was archived (hidden from run lists and charts); "" if not
    # How the run chose part of its testset (testcases, of, metadata_filter, sample …); {} for all of it.
    subset: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    # Who kicked it off: an API key's name and prefix, or what did ("schedule 'nightly'").
    created_by: str = ""
    created_by_key_prefix: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def metric(self, name_or_id: str) -> MetricSummary:
        """The summary of one metric by name or id; KeyError names the run's metrics otherwise."""
        for m in self.metrics:
            if name_or_id in (m.name, m.metric_id):
                return m
        raise KeyError(
            f"run {self.id} has no metric {name_or_id!r} (it has: {', '.join(m.name for m in self.metrics)})"
        )


@dataclass(frozen=True)
class Score:
    """One metric's verdict on one record; ``value`` is a bool or a number, None while not scored."""

    id: str
    metric_id: str
    metric_name: str
    status: str
    metric_version_id: str = ""
    metric_version: int = 0
    value: bool | float | None = None
    passed: bool | None = None
    reasoning: str = ""
    error: str = ""
    scored_at: str = ""
    reviewer: str = ""
    comment: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    current: bool = True


@dataclass(frozen=True)
class RecordAttempt:
    """What a record was before a retry executed it again (``retry``: which retry of the run)."""

    attempt: int
    status: str
    error: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    retry: int = 0
    replaced_at: str = ""


@dataclass(frozen=True)
class Record:
    """One execution of the system on one testcase × trial, with its scores (and, from
    ``get_record``, its earlier attempts when a retry executed it again)."""

    id: str
    run_id: str
    testcase_id: str
    trial: int
    status: str
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    tags: list[str] = field(default_factory=list)
    created_at: str = ""
    scores: list[Score] = field(default_factory=list)
    attempts: list[RecordAttempt] = field(default_factory=list)
    # The steps of the call that made it (get_record only).
    spans: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryPoint:
    """A metric's value in one run: pass rate in % (boolean) or mean."""

    run_id: str
    created_at: str
    run_status: str
    source: str = ""
    system_version_id: str = ""
    metric_version_id: str = ""
    output_type: str = ""
    value: float | None = None
    scored: int = 0
    passed: int = 0
    errored: int = 0
    pending: int = 0


@dataclass(frozen=True)
class MetricSeries:
    metric_id: str
    name: str
    points: list[HistoryPoint] = field(default_factory=list)


@dataclass(frozen=True)
class RunUsage:
    """What one run's records (of a slice, when asked) and its judges used: latency, tokens, cost."""

    run_id: str
    created_at: str
    records: int = 0
    # The records' latency summed and divided by them; None without records.
    latency_ms_mean: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The system calls' cost, over the records that reported one.
    cost_usd: float = 0.0
    costed_records: int = 0
    judge_cost_usd: float = 0.0
    # The records' latency percentiles (RunTotals'); None when none reported a latency, or the
    # whole run's records are not all in yet.
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None

    @classmethod
    def of_run(cls, run: Run) -> RunUsage:
        """A run's own totals (GetRun's) as its usage."""
        t = run.totals
        return cls(
            run.id,
            run.created_at,
            run.records,
            t.latency_ms_total / run.records if run.records else None,
            t.prompt_tokens,
            t.completion_tokens,
            t.cost_usd,
            t.costed_records,
            t.judge_cost_usd,
            t.latency_p50_ms,
            t.latency_p95_ms,
            t.latency_p99_ms,
        )

    @property
    def tokens_per_record(self) -> float | None:
        return (self.prompt_tokens + self.completion_tokens) / self.records if self.records else None

    @property
    def cost_per_record(self) -> float | None:
        """The system calls' cost per record that reported one; None when none did."""
        return self.cost_usd / self.costed_records if self.costed_records else None

    @property
    def judge_cost_per_record(self) -> float | None:
        return self.judge_cost_usd / self.records if self.records else None


@dataclass(frozen=True)
class ScoreChange:
    """A testcase's change on one metric: regression, improvement, unchanged or incomparable."""

    metric_id: str
    metric_name: str
    change: str
    baseline_value: float | None = None
    value: float | None = None
    delta: float | None = None


@dataclass(frozen=True)
class TestcaseComparison:
    testcase_id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    baseline_record_ids: list[str] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    changes: list[ScoreChange] = field(default_factory=list)
    # The mean over the testcase's records (trials) in each run that reported a latency.
    baseline_latency_ms: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class MetricComparison:
    """Counts over every testcase of either run (not just the page)."""

    metric_id: str
    name: str
    regressions: int = 0
    improvements: int = 0
    unchanged: int = 0
    incomparable: int = 0
    baseline_mean: float | None = None
    mean: float | None = None
    # B − A over the testcases both scored: its mean and 95% interval, and a sign test's p-value.
    pairs: int = 0
    mean_delta: float | None = None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    p_value: float | None = None

    @property
    def verdict(self) -> str:
        """better / worse (p < 0.05), "no clear difference", or "too few differ to tell" (under 6
        testcases changed, a sign test cannot reach p < 0.05); "" when nothing was compared."""
        if self.p_value is None:
            return "" if not self.pairs else "no clear difference"
        if self.p_value < 0.05:
            return "better" if self.improvements > self.regressions else "worse"
        return "too few differ to tell" if self.improvements + self.regressions < 6 else "no clear difference"


@dataclass(frozen=True)
class ComparedNeighbours:
    """Where one testcase stands in a comparison's list (compare_runs(around_testcase_id=…)): the
    testcases just before and after it ("" at either end), its place from 1 (0: not listed) and how
    many are listed; ``page_token`` the compare_runs page that starts with it ("" when it is listed
    first)."""

    previous_testcase_id: str = ""
    next_testcase_id: str = ""
    position: int = 0
    listed: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class Comparison:
    """One page of a run compared with a baseline run; ``next_page_token`` continues it."""

    run_id: str
    baseline_run_id: str
    testset_id: str = ""
    metrics: list[MetricComparison] = field(default_factory=list)
    testcases: list[TestcaseComparison] = field(default_factory=list)
    next_page_token: str = ""
    testcases_compared: int = 0
    # The slice compared (compare_runs(fields=…)); empty: every testcase.
    fields: list[str] = field(default_factory=list)
    # With compare_runs(with_usage=True): what the baseline and the run used (of the slice's records).
    baseline_usage: RunUsage | None = None
    usage: RunUsage | None = None
    # With compare_runs(around_testcase_id=…): where that testcase stands.
    around: ComparedNeighbours | None = None
    # How many testcases the comparison lists, and the place of this page's first one (from 1).
    listed: int = 0
    first_position: int = 0


@dataclass(frozen=True)
class MatrixMetric:
    metric_id: str
    name: str
    output_type: str = ""


@dataclass(frozen=True)
class MatrixRun:
    """A column of a run matrix; ``means`` by metric id over every testcase (booleans 0..1)."""

    run_id: str
    status: str = ""
    created_at: str = ""
    notes: str = ""
    system_name: str = ""
    system_version_name: str = ""
    testset_version: int = 0
    means: dict[str, float] = field(default_factory=dict)
    # What the whole run used (None from a server that does not tell).
    usage: RunUsage | None = None


@dataclass(frozen=True)
class MatrixCell:
    """One run's result on one testcase: its first trial's outputs, and ``values`` by metric id."""

    record_ids: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    error: str = ""
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MatrixRow:
    testcase_id: str
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    cells: list[MatrixCell] = field(default_factory=list)  # in the runs' order
    differs: bool = False


@dataclass(frozen=True)
class RunMatrix:
    """A page of several runs of one testset side by side."""

    testset_id: str
    metrics: list[MatrixMetric] = field(default_factory=list)
    runs: list[MatrixRun] = field(default_factory=list)
    testcases: list[MatrixRow] = field(default_factory=list)
    next_page_token: str = ""
    testcases_compared: int = 0
    testcases_differing: int = 0


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


@dataclass(frozen=True)
class IngestedRef:
    """One record of an ingest call: its position in the call, testcase × trial, and record id."""

    index: int
    testcase_id: str
    trial: int
    record_id: str = ""


@dataclass(frozen=True)
class RefusedRecord:
    """A record kept as errored because its outputs break a storage limit (``reason`` says which)."""

    record: IngestedRef
    reason: str


@dataclass(frozen=True)
class IngestResult:
    """What the server took from one ingest call: ``accepted`` records, of which those ``stored`` as
    sent, those ``refused`` (kept as errored records naming the limit their outputs broke); and the
    ``duplicates``, testcase × trial pairs the run had a record of already (left as they were)."""

    accepted: int
    stored: list[IngestedRef] = field(default_factory=list)
    duplicates: list[IngestedRef] = field(default_factory=list)
    refused: list[RefusedRecord] = field(default_factory=list)


@dataclass(frozen=True)
class RetryResult:
    """A retry of a run's errored records: the run (executing again), how many records it executes
    again, and which retry of the run it is (1 for the first)."""

    run: Run
    retried: int
    retry: int


@dataclass(frozen=True)
class TryCase:
    """One case of a playground try: ``testcase_id`` names it in the try's records;
    ``source_testcase_id`` is the testset testcase it came from (empty for a typed case)."""

    testcase_id: str
    source_testcase_id: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaygroundTry:
    """A prompt tried on a few cases: who tried what, when, and (when read with its results) its
    run and its records — each case's output and scores, in the try's order."""

    id: str
    project_id: str
    run_id: str
    status: str
    system_version_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    testset_id: str = ""
    cases: list[TryCase] = field(default_factory=list)
    metric_ids: list[str] = field(default_factory=list)
    metric_version_ids: list[str] = field(default_factory=list)
    created_by: str = ""
    created_by_key_prefix: str = ""
    created_at: str = ""
    outputs: int = 0
    errored_outputs: int = 0
    run: Run | None = None
    records: list[Record] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def every_call_failed(self) -> bool:
        """Finished with no output to score: every call to the model errored."""
        return self.finished and self.outputs > 0 and self.errored_outputs == self.outputs
