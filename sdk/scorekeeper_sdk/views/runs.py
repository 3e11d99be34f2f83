"""Runs, their records and scores, and their history (GetRun, ListRecords, GetRunHistory)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
