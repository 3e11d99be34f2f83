"""`scorekeeper calls trend`, `calls traffic`, `calls steps` and `calls breakdown`: what the
logged calls add up to — their feedback over time, their traffic per hour or day, where they spend
their time step by step, and their figures per value of a metadata key."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk.api.calls import CallTraffic
from scorekeeper_sdk.cli.app import JsonOption, as_json, emit_json, state
from scorekeeper_sdk.cli.calls import (
    FeedbackOption,
    MetaOption,
    SearchOption,
    SessionOption,
    SinceOption,
    StatusOption,
    StepOption,
    TraceOption,
    UntilOption,
    UsageOption,
    call_filters,
    calls,
    summary_text,
)
from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.cli.steps import print_summaries


@calls.command("trend")
def calls_trend(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="hour or day (UTC) of when the calls were logged.")] = "day",
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "30d",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    as_json_: JsonOption = False,
) -> None:
    """The feedback of the calls the filters match, per hour or day and metric, oldest first: a
    boolean metric's pass rate, an int or float metric's mean, and how many calls had feedback."""
    st = state(ctx)
    if by not in ("hour", "day"):
        raise CliError(f"--by must be hour or day, got {by!r}")
    points = st.client.feedback_trend(
        st.project_id(),
        by=by,
        **call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step),
    )
    if as_json_:
        return emit_json(as_json(points))
    if not points:
        st.err.print("no feedback on the calls that match", highlight=False)
        return None
    names = list(dict.fromkeys(p.metric_name for p in points))
    cells: dict[str, dict[str, str]] = {}
    for p in points:
        shown = f"{p.pass_rate:.1%}" if p.output_type == "boolean" else f"{p.mean:.2f}"
        cells.setdefault(p.bucket_start, {})[p.metric_name] = f"{shown} of {p.given}"
    table = Table(Column(f"{by} (UTC)", no_wrap=True), *names)
    for start, row in cells.items():
        at = datetime.fromisoformat(start).astimezone(UTC)
        table.add_row(f"{at:%Y-%m-%d %H:00}" if by == "hour" else f"{at:%Y-%m-%d}", *(row.get(n, "") for n in names))
    st.out.print(table)
    return None


def _traffic_columns() -> list[Column]:
    """The columns of a row of calls' traffic (calls traffic, calls breakdown): _traffic_cells'."""
    return [Column(name, justify="right") for name in ("calls", "errored", "p50", "p95", "tokens", "cost")]


def _traffic_cells(t: CallTraffic, total: int = 0) -> list[str]:
    """Calls (with their share of ``total``, when given), errored with its share, the median and
    95th percentile latency, tokens and cost."""
    return [
        f"{t.calls:,} ({t.calls / total:.0%})" if total else f"{t.calls:,}",
        f"{t.errored:,} ({t.errored / t.calls:.1%})" if t.calls else "0",
        f"{t.latency_p50_ms:,.0f} ms" if t.latency_p50_ms else "—",
        f"{t.latency_p95_ms:,.0f} ms" if t.latency_p95_ms else "—",
        f"{t.prompt_tokens + t.completion_tokens:,}",
        f"${t.cost_usd:,.4f}",
    ]


@calls.command("traffic")
def calls_traffic(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="hour or day (UTC).")] = "hour",
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "24h",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    as_json_: JsonOption = False,
) -> None:
    """The project's calls per hour or day, oldest first: how many, how many errored, their latency
    (median, 95th percentile), tokens and cost. Every call logged (from the project's hourly
    figures), or only those the filters match (read from the calls: exact, slower over many)."""
    st = state(ctx)
    if by not in ("hour", "day"):
        raise CliError(f"--by must be hour or day, got {by!r}")
    filters = call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    points = st.client.call_traffic(st.project_id(), by=by, **filters)
    if as_json_:
        return emit_json(as_json(points))
    if not points:
        narrowed = any(v for k, v in filters.items() if k not in ("logged_after", "logged_before"))
        st.err.print("no call matches" if narrowed else "no call was logged then", highlight=False)
        return None
    table = Table(Column(f"{by} (UTC)", no_wrap=True), *_traffic_columns())
    for p in points:
        at = datetime.fromisoformat(p.bucket_start).astimezone(UTC)
        table.add_row(f"{at:%Y-%m-%d %H:00}" if by == "hour" else f"{at:%Y-%m-%d}", *_traffic_cells(p))
    st.out.print(table)
    return None


@calls.command("steps")
def calls_steps(
    ctx: typer.Context,
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    as_json_: JsonOption = False,
) -> None:
    """Where the calls the filters match spend their time, step by step (the newest 50,000 of
    them): per step (indented under the step it ran inside), the calls that took it, how long it
    took (mean, p50, p95, max), how often it failed, its tokens and cost — as `runs steps`."""
    st = state(ctx)
    found = st.client.call_steps(
        st.project_id(), **call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    )
    if as_json_:
        return emit_json(dataclasses.asdict(found))
    if not found.steps:
        st.err.print(f"none of the {found.calls:,} calls these filters match holds steps", highlight=False)
        return None
    st.out.print(f"{found.calls_with_steps:,} of {found.calls:,} calls hold steps", highlight=False)
    print_summaries(st.out, found.steps, "calls")
    return None


@calls.command("breakdown")
def calls_breakdown(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A metadata key: model, route, user …")],
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "24h",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    as_json_: JsonOption = False,
) -> None:
    """The calls the filters match per value of a metadata key, most calls first (25 values, then
    the others together, then the calls without the key): calls, errored, latency, tokens, cost
    and feedback — which model costs the most, which route errs, whose users are unhappy."""
    st = state(ctx)
    groups = st.client.call_breakdown(
        st.project_id(), key, **call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    )
    if as_json_:
        return emit_json(as_json(groups))
    if not groups:
        st.err.print("no call matches", highlight=False)
        return None
    total = sum(g.traffic.calls for g in groups)
    rated = any(g.feedback for g in groups)
    table = Table(Column(key, overflow="fold"), *_traffic_columns(), *(["feedback"] if rated else []))
    for g in groups:
        said: list[Text] = [Text(" · ".join(summary_text(s) for s in g.feedback))] if rated else []
        label = Text(g.label, style="dim" if g.rest or g.no_value else "")
        table.add_row(label, *_traffic_cells(g.traffic, total), *said)
    st.out.print(table)
    return None
