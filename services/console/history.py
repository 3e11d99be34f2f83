"""Run history as the charts draw it: one shared x-axis of runs (oldest first) and, per metric, a
value per run (None where the run was not scored with that metric), so that every chart's n-th
point is the same run and hovering one highlights it in all of them (echarts.connect)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from scorekeeper.v1 import query_pb2 as qpb


def chart_data(history: qpb.GetRunHistoryResponse, project_id: str) -> dict[str, Any]:
    runs: dict[str, qpb.HistoryPoint] = {}
    for series in history.series:
        for point in series.points:
            runs.setdefault(point.run_id, point)
    order = sorted(runs.values(), key=lambda p: (p.created_at, p.run_id))
    index = {p.run_id: i for i, p in enumerate(order)}
    charts = []
    for series in history.series:
        values: list[float | None] = [None] * len(order)
        counts: list[str | None] = [None] * len(order)
        output_type = series.points[0].output_type if series.points else "boolean"
        for point in series.points:
            i = index[point.run_id]
            values[i] = round(point.value, 4) if point.HasField("value") else None
            if output_type == "boolean":
                counts[i] = f"{point.passed}/{point.scored} passed"
            else:
                counts[i] = f"{point.scored} scored"
        charts.append(
            {
                "metric_id": series.metric_id,
                "name": series.name,
                "output_type": output_type,
                "unit": "%" if output_type == "boolean" else "",
                "url": f"/projects/{project_id}/metrics/{series.metric_id}",
                "values": values,
                "counts": counts,
            }
        )
    return {
        "runs": [
            {
                "id": p.run_id,
                "created_at": p.created_at,
                "source": p.source,
                "status": p.run_status,
                "url": f"/projects/{project_id}/runs/{p.run_id}",
            }
            for p in order
        ],
        "charts": charts,
    }


def trend_data(trend: Sequence[qpb.FeedbackSummary], bucket: str, project_id: str) -> dict[str, Any]:
    """Feedback over time as the same charts draw it: one shared x-axis of hours or days (oldest
    first), and per metric its pass rate in % (boolean) or mean per bucket (None where no call of
    that bucket had feedback of it)."""
    starts = sorted({p.bucket_start for p in trend})
    index = {start: i for i, start in enumerate(starts)}
    charts: dict[str, dict[str, Any]] = {}
    for p in trend:
        chart = charts.setdefault(
            p.metric_id,
            {
                "metric_id": p.metric_id,
                "name": p.metric_name,
                "output_type": p.output_type,
                "unit": "%" if p.output_type == "boolean" else "",
                "url": f"/projects/{project_id}/metrics/{p.metric_id}",
                "values": [None] * len(starts),
                "counts": [None] * len(starts),
            },
        )
        i = index[p.bucket_start]
        chart["values"][i] = round(p.pass_rate * 100 if p.output_type == "boolean" else p.mean, 4)
        chart["counts"][i] = f"{p.passed}/{p.given} passed"
    head, label = ("%Y-%m-%d %H:00 UTC", "%m-%d %H:00") if bucket == "hour" else ("%Y-%m-%d", "%m-%d")
    at = [datetime.fromisoformat(start).astimezone(UTC) for start in starts]
    return {
        "points": [
            {"created_at": start, "head": t.strftime(head), "label": t.strftime(label)}
            for start, t in zip(starts, at, strict=True)
        ],
        "charts": sorted(charts.values(), key=lambda c: (c["name"], c["metric_id"])),
    }
