"""A call's steps (spans) in a terminal: the tree the record's and the call's pages show, one line
a step, indented under the step it ran in (`records show`, `calls show`); and a run's steps summed
over its calls (`runs steps`), or over production calls (`calls steps`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk.cli.app import JsonOption, emit_json, state
from scorekeeper_sdk.cli.runs import runs
from scorekeeper_sdk.tracing import Span, in_tree, step_time
from scorekeeper_sdk.usage import amount
from scorekeeper_sdk.views import StepSummary


def print_steps(out: Any, spans: Sequence[Span]) -> None:
    """The steps as a table (nothing when there are none)."""
    if not spans:
        return
    table = Table(
        "step",
        "kind",
        Column("started", justify="right"),
        Column("took", justify="right"),
        Column("tokens", justify="right"),
        Column("cost", justify="right"),
        "error",
        title=f"{len(spans)} step{'' if len(spans) == 1 else 's'}",
        title_justify="left",
    )
    for depth, s in in_tree(spans):
        tokens = s.prompt_tokens + s.completion_tokens
        table.add_row(
            Text("  " * depth + s.name),
            Text(s.kind),
            "+" + step_time(s.start_ms),
            step_time(s.duration_ms),
            f"{tokens:,}" if tokens else "",
            amount(s.cost_usd, "usd") if s.cost_usd is not None else "",
            Text(s.error),
        )
    out.print(table)


@runs.command("steps")
def run_steps(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    as_json_: JsonOption = False,
) -> None:
    """Where a run's calls spend their time, step by step: per step (indented under the step it
    ran inside), the records that took it, how long it took (mean, p50, p95, max), how often it
    failed, its tokens and cost — from the steps its records hold."""
    st = state(ctx)
    found = st.client.run_steps(run_id)
    if as_json_:
        return emit_json(dataclasses.asdict(found))
    if not found.steps:
        st.err.print(f"run {found.run_id}: none of its {found.records:,} records holds steps", highlight=False)
        return None
    st.out.print(
        f"run {found.run_id}: {found.records_with_steps:,} of {found.records:,} records hold steps", highlight=False
    )
    print_summaries(st.out, found.steps, "records")
    return None


def print_summaries(out: Any, steps: Sequence[StepSummary], counted: str) -> None:
    """Steps summed over calls (`runs steps`, `calls steps`): one line a step, indented under the
    step it ran inside; ``counted`` names what took each (records, calls)."""
    table = Table(
        "step",
        "kind",
        Column(counted, justify="right"),
        Column("failed", justify="right"),
        Column("mean", justify="right"),
        Column("p50", justify="right"),
        Column("p95", justify="right"),
        Column("max", justify="right"),
        Column("tokens", justify="right"),
        Column("cost", justify="right"),
    )
    for s in steps:
        tokens = s.prompt_tokens + s.completion_tokens
        table.add_row(
            Text("  " * s.depth + s.name),
            Text(s.kind),
            f"{s.records:,}" + (f" ({s.taken:,}×)" if s.taken != s.records else ""),
            f"{s.failed:,}" if s.failed else "",
            step_time(s.mean_ms),
            step_time(s.p50_ms),
            step_time(s.p95_ms),
            step_time(s.max_ms),
            f"{tokens:,}" if tokens else "",
            amount(s.cost_usd, "usd") if s.costed else "",
        )
    out.print(table)
