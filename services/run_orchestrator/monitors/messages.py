"""Monitor rows → protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from scorekeeper.v1 import monitors_pb2 as pb

from services.run_orchestrator.monitors import rules
from services.run_orchestrator.runs.results import MetricResult
from shared.edge.convert import dict_to_struct, timestamp
from shared.scoring.eval_types import reads_expected


def monitor_pb(
    row: asyncpg.Record,
    versions: dict[object, asyncpg.Record],
    pending: int,
    secret: str = "",
    test_alert: asyncpg.Record | None = None,
    latest_window: pb.MonitorWindow | None = None,
) -> pb.Monitor:
    """``versions``: metric version rows (catalog columns) by version id; ``secret``: the alert
    signing secret, given only in the answers that show it once; ``test_alert``: its latest;
    ``latest_window``: its latest closed window."""
    metrics = [
        pb.MonitorMetric(
            metric_id=str(v["metric_id"]),
            metric_version_id=str(v["version_id"]),
            name=v["name"],
            output_type=v["output_type"],
            reads_expected=reads_expected(v["eval_type"], v["config"]),
        )
        for v in (versions.get(i) for i in row["metric_version_ids"])
        if v is not None
    ]
    alert = pb.MonitorAlert(
        webhook_url=row["alert_url"],
        format=row["alert_format"],
        notify_recovery=row["alert_recovery"],
        max_error_rate=row["alert_max_error_rate"],
        thresholds=_thresholds_pb(row["alert_thresholds"]),
        feedback_thresholds=_thresholds_pb(row["alert_feedback_thresholds"]),
        min_feedback=row["alert_min_feedback"],
        max_latency_ms=row["alert_max_latency_ms"],
        slice_fields=row["alert_slice_fields"],
        min_slice_calls=row["alert_min_slice_calls"],
    )
    return pb.Monitor(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        metrics=metrics,
        sample_rate=row["sample_rate"],
        metadata_filter=dict_to_struct(row["metadata_filter"]),
        window_minutes=row["window_minutes"] or 0,
        window_calls=row["window_calls"] or 0,
        status=row["status"],
        alert=alert,
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
        window_started_at=timestamp(row["window_started_at"]),
        pending_calls=pending,
        windows=row["windows_closed"],
        alert_secret=secret,
        last_test_alert=test_alert_pb(test_alert) if test_alert is not None else None,
        latest_window=latest_window,
        alert_muted_until=timestamp(muted) if (muted := row["alert_muted_until"]) and muted > datetime.now(UTC) else "",
    )


def _thresholds_pb(stored: list[dict[str, Any]]) -> list[pb.AlertThreshold]:
    return [pb.AlertThreshold(metric_id=t["metric_id"], below=t["below"]) for t in stored]


def test_alert_pb(row: asyncpg.Record) -> pb.MonitorTestAlert:
    return pb.MonitorTestAlert(
        id=str(row["id"]),
        monitor_id=str(row["monitor_id"]),
        status=row["status"],
        response_status=row["response_status"] or 0,
        error=row["error"],
        created_at=timestamp(row["created_at"]),
        delivered_at=timestamp(row["delivered_at"]),
    )


def _measure(r: MetricResult, threshold: float | None, low: bool) -> pb.WindowMetric:
    return pb.WindowMetric(
        metric_id=str(r.metric_id),
        name=r.name,
        measure="pass_rate" if r.output_type == "boolean" else "mean",
        value=r.value or 0.0,
        scored=r.scored,
        alert_below=threshold,
        below=low,
    )


def window_pb(
    row: asyncpg.Record, results: list[MetricResult], monitor: asyncpg.Record, feedback: list[MetricResult]
) -> pb.MonitorWindow:
    """``results``: its run's result per metric; ``monitor``: its monitor (the alert's thresholds);
    ``feedback``: the users' feedback given during it per metric of the feedback thresholds."""
    delivery = row["delivery"] or ("pending" if row["alert_state"] in rules.POSTED else "")
    below = {t["metric_id"]: float(t["below"]) for t in monitor["alert_thresholds"]}
    # Scoring done (the alert is decided on it): a thresholded metric that scored none of the calls is below.
    scored = row["run_status"] in rules.DECIDABLE and row["calls"] > 0
    metrics = []
    for r in results:
        value, threshold = r.value, below.get(str(r.metric_id))
        low = threshold is not None and (value < threshold if value is not None else scored)
        metrics.append(_measure(r, threshold, low))
    # Feedback is judged with at least min_feedback verdicts given.
    feedback_below = {t["metric_id"]: float(t["below"]) for t in monitor["alert_feedback_thresholds"]}
    users = []
    for r in feedback:
        value, threshold = r.value, feedback_below.get(str(r.metric_id))
        judged = r.scored >= monitor["alert_min_feedback"]
        users.append(
            _measure(r, threshold, judged and threshold is not None and value is not None and value < threshold)
        )
    return pb.MonitorWindow(
        number=row["number"],
        run_id=str(row["run_id"]),
        started_at=timestamp(row["started_at"]),
        ended_at=timestamp(row["ended_at"]),
        calls=row["calls"],
        alert_state=row["alert_state"],
        alert_delivery=delivery,
        alert_error=row["delivery_error"] or "",
        run_status=row["run_status"],
        metrics=metrics,
        errored_calls=row["errored"],
        feedback=users,
        latency_p50_ms=row["latency_p50_ms"],
        latency_p95_ms=row["latency_p95_ms"],
        latency_above=rules.too_slow(rules.latency_share(row["latency_p95_ms"], monitor["alert_max_latency_ms"])),
        slices_below=[
            pb.WindowSlice(
                field=m["field"],
                field_value=m["field_value"],
                metric_id=m["metric_id"],
                name=m["name"],
                measure=m["measure"],
                value=m["value"],
                scored=m["scored"],
                alert_below=m["below"],
                feedback=m.get("source") == "feedback",
            )
            for m in row["slices_below"]
        ],
        error_slices=[pb.WindowErrorSlice(**e) for e in row["error_slices"]],  # stored as the message names them
        latency_slices=[pb.WindowLatencySlice(**e) for e in row["latency_slices"]],
    )
