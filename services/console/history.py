"""Run history as the charts draw it: one shared x-axis of runs (oldest first) and, per metric, a
value per run (None where the run was not scored with that metric), so that every chart's n-th
point is the same run and hovering one highlights it in all of them (echarts.connect)."""

from __future__ import annotations

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
