"""Two runs compared testcase by testcase (CompareRuns), and several side by side (CompareRunMatrix)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorekeeper_sdk.views.runs import RunUsage


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
