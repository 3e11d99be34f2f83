"""`scorekeeper runs history`: per-metric trends over a project's runs in the terminal — a row per
run, oldest first, and a sparkline per metric — for the whole runs or, with --field, for one slice
of their records (the French questions' pass rate over the last 20 nightly runs); with --usage, each
run's mean latency, tokens and cost per record beside them."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.table import Table

from scorekeeper_sdk.cli.app import JsonOption, emit_json, state
from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.cli.runs import checked_sources, runs
from scorekeeper_sdk.usage import BY_KEY, amount
from scorekeeper_sdk.views import HistoryPoint, MetricSeries, RunUsage

BARS = "▁▂▃▄▅▆▇█"


def shown(point: HistoryPoint | None) -> str:
    """A point as the table shows it: "83.3% (5/6)", "0.71 (6)", "–" while nothing is scored."""
    if point is None:
        return ""
    if point.value is None:
        return "–"
    if point.output_type == "boolean":
        return f"{point.value:.1f}% ({point.passed}/{point.scored})"
    return f"{point.value:.2f} ({point.scored})"


def sparkline(values: list[float | None], percent: bool) -> str:
    """One bar per value (a space where there is none): a pass rate on 0..100, a mean between the
    series' lowest and highest."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = (0.0, 100.0) if percent else (min(known), max(known))
    span = high - low
    top = len(BARS) - 1
    return "".join(" " if v is None else BARS[round((v - low) / span * top) if span else top // 2] for v in values)


# The measures a row shows (the judges' cost is the run page's and the comparison's).
_SHOWN = tuple(BY_KEY[k] for k in ("latency", "p95-latency", "tokens", "cost"))


def _usage_cells(u: RunUsage | None) -> list[str]:
    """A run's latency, tokens and cost per record as the table shows them ("" for a run not listed)."""
    return [amount(m.of(u), m.unit) if u is not None else "" for m in _SHOWN]


def _usage_trends(usage: list[RunUsage], runs_in_order: list[str]) -> list[str]:
    """The latency's and the cost's lines under the table, as a metric's."""
    by_run = {u.run_id: u for u in usage}
    lines = []
    for m in (m for m in _SHOWN if m.unit != "tokens"):
        values = [m.of(by_run[r]) if r in by_run else None for r in runs_in_order]
        known = [v for v in values if v is not None]
        if known:
            ends = f"{amount(known[0], m.unit)} → {amount(known[-1], m.unit)}"
            lines.append(f"{m.name}  {sparkline(values, False)}  {ends}")
    return lines


def _trend(series: MetricSeries, runs_in_order: list[str]) -> str:
    """A metric's line under the table: its sparkline, and its first and last values."""
    by_run = {p.run_id: p for p in series.points}
    values = [by_run[r].value if r in by_run else None for r in runs_in_order]
    known = [v for v in values if v is not None]
    if not known:
        return f"{series.name}  nothing scored"
    percent = any(p.output_type == "boolean" for p in series.points)
    ends = f"{known[0]:.1f}% → {known[-1]:.1f}%" if percent else f"{known[0]:.2f} → {known[-1]:.2f}"
    return f"{series.name}  {sparkline(values, percent)}  {ends}"


@runs.command("history")
def history(
    ctx: typer.Context,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="A metric (id or name); repeatable. Default: the newest matching run's metrics."),
    ] = None,
    testset: Annotated[str | None, typer.Option(help="Only runs of this testset (id or name).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only runs from this source; repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only runs with this tag; repeatable (all of them).")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only the runs this schedule kicked off (id or name).")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            help="A slice: only the records whose field holds the value, as metadata.lang=fr; repeatable (all)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="The most recent runs, at most this many.")] = 20,
    usage: Annotated[
        bool, typer.Option("--usage", help="Also each run's mean latency, tokens and cost per record.")
    ] = False,
    as_json_: JsonOption = False,
) -> None:
    """Per-metric trends over the project's runs, oldest first: a boolean metric's pass rate, an
    int or float metric's mean, and a sparkline each; with --field, one slice's; with --usage, the
    runs' latency, tokens and cost per record too."""
    st = state(ctx)
    sources, tags = checked_sources(source), tag or []
    project_id = st.project_id()
    testset_id = st.testset(testset).id if testset else ""
    schedule_id = st.schedule(schedule).id if schedule else ""
    chosen = list(metric or [])
    if not chosen:
        listed = st.client.list_runs(
            project_id, page_size=1, testset_id=testset_id, sources=sources, tags=tags, schedule_id=schedule_id
        )
        newest = next(iter(listed), None)
        chosen = [m.metric_id for m in newest.metrics] if newest is not None else []
        if not chosen:
            raise CliError("no run to take metrics from: name them with --metric")
    filters: dict[str, Any] = {
        "testset_id": testset_id,
        "sources": sources,
        "tags": tags,
        "schedule_id": schedule_id,
        "limit": limit,
        "fields": field or [],
    }
    found = st.client.run_history(project_id, chosen, **filters)
    used = st.client.run_usage(project_id, chosen, **filters) if usage else []
    if as_json_:
        every = [dataclasses.asdict(s) for s in found]
        return emit_json({"series": every, "usage": [dataclasses.asdict(u) for u in used]} if usage else every)
    first_points = {p.run_id: p for s in reversed(found) for p in s.points}
    order = sorted(first_points.values(), key=lambda p: (p.created_at, p.run_id))
    if not order:
        st.out.print("No run was scored with these metrics.", highlight=False)
        return None
    sliced = f", the records with {' and '.join(field)}" if field else ""
    st.out.print(f"{len(order)} runs, oldest first{sliced}", highlight=False)
    extra = ("latency", "p95", "tokens/record", "cost/record") if usage else ()  # _SHOWN
    table = Table("created", "run", "source", "status", *(s.name for s in found), *extra)
    by_series = [{p.run_id: p for p in s.points} for s in found]
    by_run = {u.run_id: u for u in used}
    for point in order:
        cells = [shown(points.get(point.run_id)) for points in by_series]
        if usage:
            cells += _usage_cells(by_run.get(point.run_id))
        table.add_row(point.created_at[:19].replace("T", " "), point.run_id, point.source, point.run_status, *cells)
    st.out.print(table)
    runs_in_order = [p.run_id for p in order]
    for series in found:
        st.out.print(_trend(series, runs_in_order), highlight=False)
    for line in _usage_trends(used, runs_in_order):
        st.out.print(line, highlight=False)
    return None
