"""What the SDK returns for monitors (MonitorService): a monitor, its alert, its windows and what
each window's run found (its metrics, the slices that failed, erred or slowed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scorekeeper_sdk.models import AlertThreshold


@dataclass(frozen=True)
class MonitorMetric:
    metric_id: str
    metric_version_id: str
    name: str
    output_type: str = ""
    # It reads a record's expected values, which logged calls seldom carry.
    reads_expected: bool = False


@dataclass(frozen=True)
class MonitorAlert:
    webhook_url: str = ""
    thresholds: list[AlertThreshold] = field(default_factory=list)
    # json: the whole document is POSTed; slack: its text alone.
    format: str = "json"
    # Also POSTed: the first window at or above every threshold after one below (monitor.recovered).
    notify_recovery: bool = False
    # Also fires when more than this share of a window's calls errored; None: no such threshold.
    max_error_rate: float | None = None
    # Also fires on the users' feedback given during a window (metrics of eval type human or code),
    # judged once at least ``min_feedback`` verdicts were given in it.
    feedback_thresholds: list[AlertThreshold] = field(default_factory=list)
    min_feedback: int = 10
    # Also fires when the 95th percentile of a window's call latencies is above this (ms); None: never.
    max_latency_ms: float | None = None
    # Also judges ``thresholds`` within each value of these record fields ("metadata.lang"), a slice
    # once at least ``min_slice_calls`` of its calls were scored with the metric (and
    # ``feedback_thresholds`` once it has that many verdicts, ``max_error_rate`` / ``max_latency_ms``
    # once it has that many calls / calls with a latency).
    slice_fields: list[str] = field(default_factory=list)
    min_slice_calls: int = 20


@dataclass(frozen=True)
class WindowSlice:
    """A window's slice below a threshold: a metric over its calls whose ``field`` holds ``field_value``."""

    field: str
    field_value: str
    metric_id: str
    name: str
    # pass_rate | mean
    measure: str
    value: float = 0.0
    scored: int = 0
    # The alert's threshold it fell below.
    alert_below: float = 0.0
    # Of the users' feedback given during the window on its calls (``scored``: the verdicts given).
    feedback: bool = False

    @property
    def shown(self) -> str:
        """As said: "metadata.lang=fr: polite 40.0% (30 scored), below 80.0%", "metadata.lang=fr:
        users' thumbs 40.0% (25 given), below 80.0%"."""
        if self.measure == "pass_rate":
            value, below = f"{self.value * 100:.1f}%", f"{self.alert_below * 100:.1f}%"
        else:
            value, below = f"{self.value:.3g}", f"{self.alert_below:.3g}"
        name, counted = (f"users' {self.name}", "given") if self.feedback else (self.name, "scored")
        return f"{self.field}={self.field_value}: {name} {value} ({self.scored:,} {counted}), below {below}"


@dataclass(frozen=True)
class WindowErrorSlice:
    """A window's slice with more of its calls errored than the alert's max_error_rate."""

    field: str
    field_value: str
    errored: int = 0
    calls: int = 0
    rate: float = 0.0
    above: float = 0.0

    @property
    def shown(self) -> str:
        """As said: "metadata.region=eu: 12 of 30 calls errored (40.0%), above 5.0%"."""
        share = f"{self.errored:,} of {self.calls:,} calls errored ({self.rate * 100:.1f}%)"
        return f"{self.field}={self.field_value}: {share}, above {self.above * 100:.1f}%"


@dataclass(frozen=True)
class WindowLatencySlice:
    """A window's slice whose calls' 95th percentile latency is above the alert's max_latency_ms."""

    field: str
    field_value: str
    p95_ms: float = 0.0
    # Its calls with a latency.
    calls: int = 0
    above: float = 0.0

    @property
    def shown(self) -> str:
        """As said: "metadata.region=eu: p95 2,300 ms (40 calls), above 1,500 ms"."""
        slow = f"p95 {self.p95_ms:,.0f} ms ({self.calls:,} calls)"
        return f"{self.field}={self.field_value}: {slow}, above {self.above:,.0f} ms"


@dataclass(frozen=True)
class WindowMetric:
    """A window's run's result for one metric: its pass rate (boolean) or mean (int, float)."""

    metric_id: str
    name: str
    # pass_rate | mean
    measure: str
    value: float = 0.0
    # Records scored so far; ``value`` means nothing while it is 0.
    scored: int = 0
    # The monitor's alert threshold for it (None: none) and whether the value is below it.
    alert_below: float | None = None
    below: bool = False

    @property
    def shown(self) -> str:
        """The value as said: 70.0% (a pass rate), 0.61 (a mean), — (nothing scored yet)."""
        if not self.scored:
            return "—"
        return f"{self.value * 100:.1f}%" if self.measure == "pass_rate" else f"{self.value:.3g}"


@dataclass(frozen=True)
class MonitorTestAlert:
    """A test alert (``test_monitor_alert``): what the monitor's alert URL answered."""

    id: str
    monitor_id: str
    # pending | sending | delivered | failed
    status: str
    # The HTTP status of the answer; 0 without one (a timeout, a refused connection).
    response_status: int = 0
    # Why it was not delivered.
    error: str = ""
    created_at: str = ""
    delivered_at: str = ""

    @property
    def settled(self) -> bool:
        return self.status in ("delivered", "failed")


@dataclass(frozen=True)
class Monitor:
    """A monitor: which calls it samples, how its windows close, the metric versions it scores with."""

    id: str
    project_id: str
    name: str
    status: str
    metrics: list[MonitorMetric] = field(default_factory=list)
    sample_rate: float = 0.0
    metadata_filter: dict[str, Any] = field(default_factory=dict)
    window_minutes: int = 0
    window_calls: int = 0
    alert: MonitorAlert = field(default_factory=MonitorAlert)
    created_at: str = ""
    updated_at: str = ""
    window_started_at: str = ""
    pending_calls: int = 0
    windows: int = 0
    # The secret signing its alerts (X-Scorekeeper-Signature): in create_monitor's answer, and
    # update_monitor's with rotate_alert_secret; empty everywhere else.
    alert_secret: str = ""
    # Its latest test alert, if one was sent.
    last_test_alert: MonitorTestAlert | None = None
    # Its latest closed window with its run's result per metric, once one closed.
    latest_window: MonitorWindow | None = None
    # Its alerts are muted until then (update_monitor's mute_alert_minutes); empty: not muted.
    alert_muted_until: str = ""

    @property
    def window(self) -> str:
        return f"every {self.window_minutes} min" if self.window_minutes else f"every {self.window_calls} calls"


@dataclass(frozen=True)
class MonitorWindow:
    """A closed window: its run holds the calls it sampled."""

    number: int
    run_id: str
    calls: int
    started_at: str = ""
    ended_at: str = ""
    alert_state: str = ""
    alert_delivery: str = ""
    alert_error: str = ""
    # Its run's status and result per metric, and how many of its calls were logged errored.
    run_status: str = ""
    metrics: list[WindowMetric] = field(default_factory=list)
    errored_calls: int = 0
    # The users' feedback given during it per metric of the alert's feedback thresholds
    # (``scored``: the verdicts given).
    feedback: list[WindowMetric] = field(default_factory=list)
    # The median and 95th percentile of its calls' latencies (ms; None when none was logged with one).
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    # Whether latency_p95_ms is above the alert's max_latency_ms.
    latency_above: bool = False
    # The slices of the alert's slice_fields below a threshold, worst first (at most 10), those
    # with more of their calls errored than its max_error_rate, the highest share first, and those
    # slower than its max_latency_ms (95th percentile), the slowest first.
    slices_below: list[WindowSlice] = field(default_factory=list)
    error_slices: list[WindowErrorSlice] = field(default_factory=list)
    latency_slices: list[WindowLatencySlice] = field(default_factory=list)


@dataclass(frozen=True)
class MonitorWithWindows:
    monitor: Monitor
    windows: list[MonitorWindow] = field(default_factory=list)
