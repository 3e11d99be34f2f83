"""Production calls and monitors (MonitorService): log calls, create / list / pause monitors.

``client.log(…)`` (``scorekeeper_sdk.call_log``) batches calls in the background over
:meth:`MonitorOperations.log_calls`; call that directly to log a batch and see the answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scorekeeper.v1 import monitors_pb2 as mpb

from scorekeeper_sdk.api.base import Operations
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.exact_json import struct
from scorekeeper_sdk.tracing import Span
from scorekeeper_sdk.views.monitors import (
    Monitor,
    MonitorTestAlert,
    MonitorWithWindows,
)

MONITORS = "MonitorService"
MAX_CALLS = 1000


@dataclass(frozen=True)
class CallIn:
    """One production call of your AI system, for :meth:`MonitorOperations.log_calls`."""

    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    # Monitors' filters match on it.
    metadata: dict[str, Any] | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # None: unknown.
    cost_usd: float | None = None
    trace_id: str = ""
    session_id: str = ""
    # completed | errored
    status: str = "completed"
    error: str = ""
    # A UUID, or your own id as text (at most 200 characters: a request id, "chatcmpl-…"), kept in
    # the record of a monitor run as metadata["call_id"]; logging the same id again changes nothing.
    call_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The steps of the call (collected with scorekeeper_sdk.trace): shown with the call.
    spans: list[Span] = field(default_factory=list)

    def to_proto(self) -> mpb.LoggedCall:
        call = mpb.LoggedCall(
            call_id=self.call_id,
            inputs=struct(self.inputs),
            outputs=struct(self.outputs),
            metadata=struct(self.metadata),
            status=self.status,
            error=self.error,
            latency_ms=self.latency_ms,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            trace_id=self.trace_id,
            session_id=self.session_id,
        )
        if self.cost_usd is not None:
            call.cost_usd = self.cost_usd
        call.spans.extend(s.to_proto() for s in self.spans)
        return call


@dataclass(frozen=True)
class RefusedCall:
    index: int
    call_id: str
    reason: str


@dataclass(frozen=True)
class LogResult:
    """What LogCalls did: new calls stored, ids already logged, samples the monitors took."""

    call_ids: list[str] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0
    sampled: int = 0
    refused: list[RefusedCall] = field(default_factory=list)


def _thresholds(below: Mapping[str, float] | None) -> list[mpb.AlertThreshold]:
    return [mpb.AlertThreshold(metric_id=m, below=b) for m, b in (below or {}).items()]


def _alert(
    url: str,
    below: Mapping[str, float] | None,
    format: str,
    recovery: bool,
    max_error_rate: float | None,
    feedback_below: Mapping[str, float] | None,
    min_feedback: int,
    max_latency_ms: float | None,
    slice_fields: Sequence[str] | None,
    min_slice_calls: int,
) -> mpb.MonitorAlert:
    return mpb.MonitorAlert(
        webhook_url=url,
        thresholds=_thresholds(below),
        format=format,
        notify_recovery=recovery,
        max_error_rate=max_error_rate,
        feedback_thresholds=_thresholds(feedback_below),
        min_feedback=min_feedback,
        max_latency_ms=max_latency_ms,
        slice_fields=list(slice_fields or []),
        min_slice_calls=min_slice_calls,
    )


class MonitorOperations(Operations):
    async def log_calls(self, project_id: str, calls: Sequence[CallIn]) -> LogResult:
        """Logs up to 1,000 calls in one request (idempotent by call id)."""
        request = mpb.LogCallsRequest(project_id=project_id, calls=[c.to_proto() for c in calls])
        return from_proto(LogResult, await self._unary(MONITORS, "LogCalls", request, mpb.LogCallsResponse))

    async def create_monitor(
        self,
        project_id: str,
        name: str,
        metric_ids: Sequence[str] = (),
        *,
        sample_rate: float,
        window_minutes: int = 0,
        window_calls: int = 0,
        metadata_filter: Mapping[str, Any] | None = None,
        metric_group_id: str = "",
        alert_url: str = "",
        alert_below: Mapping[str, float] | None = None,
        paused: bool = False,
        alert_format: str = "json",
        alert_recovery: bool = False,
        alert_max_error_rate: float | None = None,
        alert_feedback_below: Mapping[str, float] | None = None,
        min_feedback: int = 0,
        alert_max_latency_ms: float | None = None,
        alert_slice_fields: Sequence[str] = (),
        min_slice_calls: int = 0,
    ) -> Monitor:
        """A monitor sampling ``sample_rate`` % of the calls logged from now on, scored with the latest
        version of each metric, a window every ``window_minutes`` or every ``window_calls`` sampled
        calls; ``alert_below`` maps a metric id to the threshold below which ``alert_url`` is POSTed
        (the JSON document, or with ``alert_format="slack"`` its text alone); ``alert_recovery``:
        the first window back at or above every threshold is POSTed too (``monitor.recovered``);
        ``alert_max_error_rate``: it fires too when more than this share (0..1) of a window's calls
        errored (then ``alert_below`` may be left out); ``alert_feedback_below`` maps a metric of
        eval type human or code to the threshold its users' feedback given during a window (pass
        rate or mean) must not fall below, judged with at least ``min_feedback`` verdicts (0: 10);
        ``alert_max_latency_ms``: it fires too when the 95th percentile of a window's call latencies
        is above this; ``alert_slice_fields`` (at most 3, "metadata.lang"): ``alert_below`` is judged
        within each value of these fields too, a slice with at least ``min_slice_calls`` (0: 20) of
        its calls scored."""
        request = mpb.CreateMonitorRequest(
            project_id=project_id,
            name=name,
            metric_ids=list(metric_ids),
            metric_group_id=metric_group_id,
            sample_rate=sample_rate,
            metadata_filter=struct(dict(metadata_filter or {})),
            window_minutes=window_minutes,
            window_calls=window_calls,
            alert=_alert(
                alert_url,
                alert_below,
                alert_format,
                alert_recovery,
                alert_max_error_rate,
                alert_feedback_below,
                min_feedback,
                alert_max_latency_ms,
                alert_slice_fields,
                min_slice_calls,
            ),
            paused=paused,
        )
        response = await self._unary(MONITORS, "CreateMonitor", request, mpb.Monitor, creates=True)
        return from_proto(Monitor, response)

    async def get_monitor(self, monitor_id: str) -> MonitorWithWindows:
        """The monitor with its latest 50 closed windows, newest first."""
        request = mpb.GetMonitorRequest(monitor_id=monitor_id)
        response = await self._unary(MONITORS, "GetMonitor", request, mpb.MonitorWithWindows)
        return from_proto(MonitorWithWindows, response)

    async def list_monitors(self, project_id: str) -> list[Monitor]:
        request = mpb.ListMonitorsRequest(project_id=project_id)
        response = await self._unary(MONITORS, "ListMonitors", request, mpb.ListMonitorsResponse)
        return [from_proto(Monitor, m) for m in response.monitors]

    async def update_monitor(
        self,
        monitor_id: str,
        *,
        name: str | None = None,
        sample_rate: float | None = None,
        window_minutes: int | None = None,
        window_calls: int | None = None,
        metadata_filter: Mapping[str, Any] | None = None,
        metric_ids: Sequence[str] | None = None,
        metric_group_id: str | None = None,
        alert_url: str | None = None,
        alert_below: Mapping[str, float] | None = None,
        rotate_alert_secret: bool = False,
        alert_format: str | None = None,
        alert_recovery: bool | None = None,
        mute_alert_minutes: int | None = None,
        alert_max_error_rate: float | None = None,
        alert_feedback_below: Mapping[str, float] | None = None,
        min_feedback: int | None = None,
        alert_max_latency_ms: float | None = None,
        alert_slice_fields: Sequence[str] | None = None,
        min_slice_calls: int | None = None,
    ) -> Monitor:
        """Change what is given (None: unchanged): a window size replaces the other one, metrics or
        a group the metrics (pinned at their latest versions), ``alert_url`` with ``alert_below``
        (and ``alert_format``, ``alert_recovery``, ``alert_max_error_rate``, ``alert_feedback_below``,
        ``min_feedback``, ``alert_max_latency_ms``, ``alert_slice_fields``, ``min_slice_calls``) the
        alert, replaced
        whole (``alert_url=""`` and no thresholds: none), ``metadata_filter`` the filter (``{}``:
        every call). ``rotate_alert_secret``: a new secret signs its alerts from now on (in the
        answer's ``alert_secret``, this once).
        ``mute_alert_minutes``: its alerts muted for that long from now (windows decided meanwhile
        POST nothing); 0 unmutes."""
        request = mpb.UpdateMonitorRequest(monitor_id=monitor_id, rotate_alert_secret=rotate_alert_secret)
        if mute_alert_minutes is not None:
            request.mute_alert_minutes = mute_alert_minutes
        if name is not None:
            request.name = name
        if sample_rate is not None:
            request.sample_rate = sample_rate
        if window_minutes is not None or window_calls is not None:
            request.window_minutes = window_minutes or 0
            request.window_calls = window_calls or 0
        if metadata_filter is not None:
            request.metadata_filter.CopyFrom(struct(dict(metadata_filter)))
        if metric_ids is not None or metric_group_id is not None:
            request.metric_ids.extend(metric_ids or [])
            request.metric_group_id = metric_group_id or ""
        parts = {
            "alert_format": alert_format,
            "alert_recovery": alert_recovery,
            "alert_max_error_rate": alert_max_error_rate,
            "alert_feedback_below": alert_feedback_below,
            "min_feedback": min_feedback,
            "alert_max_latency_ms": alert_max_latency_ms,
            "alert_slice_fields": alert_slice_fields,
            "min_slice_calls": min_slice_calls,
        }
        for part, value in parts.items():
            if value is not None and alert_url is None:
                # The alert is replaced whole: this alone would leave it without a URL, i.e. none.
                raise ValueError(f"{part} replaces the alert whole: give alert_url and alert_below with it")
        if alert_url is not None or alert_below is not None:
            alert = _alert(
                alert_url or "",
                alert_below,
                alert_format or "json",
                bool(alert_recovery),
                alert_max_error_rate,
                alert_feedback_below,
                min_feedback or 0,
                alert_max_latency_ms,
                alert_slice_fields,
                min_slice_calls or 0,
            )
            request.alert.CopyFrom(alert)
        return from_proto(Monitor, await self._unary(MONITORS, "UpdateMonitor", request, mpb.Monitor))

    async def delete_monitor(self, monitor_id: str) -> Monitor:
        """Stop it for good (the calls of its open window are dropped); the runs of its closed
        windows stay, and its name can be used again."""
        request = mpb.DeleteMonitorRequest(monitor_id=monitor_id)
        return from_proto(Monitor, await self._unary(MONITORS, "DeleteMonitor", request, mpb.Monitor))

    async def pause_monitor(self, monitor_id: str) -> Monitor:
        request = mpb.PauseMonitorRequest(monitor_id=monitor_id)
        return from_proto(Monitor, await self._unary(MONITORS, "PauseMonitor", request, mpb.Monitor))

    async def resume_monitor(self, monitor_id: str) -> Monitor:
        request = mpb.ResumeMonitorRequest(monitor_id=monitor_id)
        return from_proto(Monitor, await self._unary(MONITORS, "ResumeMonitor", request, mpb.Monitor))

    async def test_monitor_alert(
        self, monitor_id: str, *, wait_s: float = 30.0, poll_s: float = 0.5
    ) -> MonitorTestAlert:
        """POST a ``monitor.test`` document to the monitor's alert URL now (signed and formatted as
        its alerts are) and wait up to ``wait_s`` for what the URL answered: the test alert
        delivered or failed (or, after ``wait_s``, still pending or sending). FailedPrecondition
        for a monitor without an alert."""
        request = mpb.TestMonitorAlertRequest(monitor_id=monitor_id)
        sent = from_proto(
            MonitorTestAlert, await self._unary(MONITORS, "TestMonitorAlert", request, mpb.MonitorTestAlert)
        )
        deadline = time.monotonic() + wait_s
        while not sent.settled and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
            latest = (await self.get_monitor(monitor_id)).monitor.last_test_alert
            if latest is not None and latest.id == sent.id:
                sent = latest
        return sent
