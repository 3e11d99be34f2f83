"""Run history as the charts draw it: one shared x-axis of runs (oldest first) and, per metric, a
value per run (None where the run was not scored with that metric), so that every chart's n-th
point is the same run and hovering one highlights it in all of them (echarts.connect)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.usage import MEASURES, told
from scorekeeper_sdk.views import RunUsage


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
    charts += _usage_charts(history.usage, index)
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


# The usage charts of the run history (GetRunHistory's `usage`): a measure's unit as its chart says it.
_USAGE_UNITS = {
    "latency": "mean, ms",
    "p95 latency": "95th percentile, ms",
    "tokens per record": "prompt + completion",
    "cost per record": "USD, of those with a cost",
}
# The tooltip's format of a measure's unit.
_FORMATS = {"ms": "ms", "tokens": "count", "usd": "usd"}


def _usage_charts(usage: Sequence[qpb.RunUsage], index: dict[str, int]) -> list[dict[str, Any]]:
    """The runs' latency, tokens and cost per record, a chart each on the metrics' x-axis of runs
    (none without usage asked for; a chart of which no run has a value is left out)."""
    charts = []
    used = [from_proto(RunUsage, u) for u in usage if u.run_id in index]
    for m in (m for m in MEASURES if m.name in _USAGE_UNITS and told(m, used)):
        values: list[float | None] = [None] * len(index)
        counts: list[str | None] = [None] * len(index)
        for u in used:
            value = m.of(u)
            values[index[u.run_id]] = None if value is None else round(value, 6 if m.unit == "usd" else 1)
            counts[index[u.run_id]] = f"{u.records:,} records"
        charts.append(
            {"metric_id": m.name, "name": m.name, "output_type": "count", "unit": _USAGE_UNITS[m.name]}
            | {"format": _FORMATS[m.unit], "url": "", "values": values, "counts": counts}
        )
    return charts


# The traffic charts (ListCalls' `traffic`): name, what a point shows, its format in the tooltip.
_TRAFFIC = (
    ("calls", "calls", "count"),
    ("errored", "% errored", "percent"),
    ("p95 latency", "ms, 95th percentile", "ms"),
    ("cost", "USD", "usd"),
)


def _traffic_value(t: qpb.CallTraffic, name: str) -> float | None:
    if name == "calls":
        return float(t.calls)
    if name == "errored":
        return round(100 * t.errored / t.calls, 2) if t.calls else None
    if name == "p95 latency":
        return round(t.latency_p95_ms, 1) if t.latency_p95_ms else None
    return round(t.cost_usd, 6)


def _at(start: str) -> datetime:
    return datetime.fromisoformat(start).astimezone(UTC)


def trend_data(
    trend: Sequence[qpb.FeedbackSummary],
    bucket: str,
    project_id: str,
    traffic: Sequence[qpb.CallTraffic] = (),
) -> dict[str, Any]:
    """Feedback (and the project's traffic) over time as the same charts draw it: one shared x-axis
    of hours or days (oldest first); per metric its pass rate in % (boolean) or mean per bucket
    (None where no call of that bucket had feedback of it); ``traffic_charts``: calls, % errored,
    95th percentile latency and cost per bucket (None where no call was logged)."""
    given = {_at(p.bucket_start) for p in trend} | {_at(t.bucket_start) for t in traffic}
    starts = sorted(given)
    if traffic and starts:  # every hour or day from the first to the last: traffic is 0 in between
        step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
        starts = [starts[0] + n * step for n in range(int((starts[-1] - starts[0]) / step) + 1)]
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
        i = index[_at(p.bucket_start)]
        chart["values"][i] = round(p.pass_rate * 100 if p.output_type == "boolean" else p.mean, 4)
        chart["counts"][i] = f"{p.passed}/{p.given} passed"
    traffic_charts = []
    for name, unit, shown in _TRAFFIC if traffic else ():
        quiet = 0.0 if name in ("calls", "cost") else None  # a bucket without calls
        values: list[float | None] = [quiet] * len(starts)
        counts: list[str | None] = ["no call"] * len(starts)
        for t in traffic:
            values[index[_at(t.bucket_start)]] = _traffic_value(t, name)
            counts[index[_at(t.bucket_start)]] = f"{t.calls:,} calls"
        traffic_charts.append(
            {"metric_id": name, "name": name, "output_type": "count", "unit": unit, "format": shown}
            | {"url": "", "values": values, "counts": counts}
        )
    head, label = ("%Y-%m-%d %H:00 UTC", "%m-%d %H:00") if bucket == "hour" else ("%Y-%m-%d", "%m-%d")
    feedback = sorted(charts.values(), key=lambda c: (c["name"], c["metric_id"]))
    return {
        "points": [{"created_at": t.isoformat(), "head": t.strftime(head), "label": t.strftime(label)} for t in starts],
        # The traffic charts first: every chart is drawn from this one list, by its index.
        "charts": traffic_charts + feedback,
        "traffic_charts": len(traffic_charts),
    }
