"""`scorekeeper runs agreement` and `runs distribution`: what a run's scores say beyond their means —
whether two metrics give the same verdicts, and how each metric's scores spread."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.cli.app import JsonOption, emit_json, state
from scorekeeper_sdk.cli.runs import runs

BAR_WIDTH = 30


@runs.command("agreement")
def agreement(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    metric_a: Annotated[str, typer.Argument(metavar="METRIC_A", help="A metric of the run: id or name.")],
    metric_b: Annotated[str, typer.Argument(metavar="METRIC_B", help="Another one, e.g. the reviewers'.")],
    as_json_: JsonOption = False,
) -> None:
    """How often two metrics of a run give the same pass / fail verdict on its records (a judge
    against the reviewers, or two judges): the 2 x 2 counts, the agreement and Cohen's kappa."""
    st = state(ctx)
    found = st.client.metric_agreement(run_id, metric_a, metric_b)
    if as_json_:
        return emit_json(dataclasses.asdict(found))
    a, b = found.metric_a_name, found.metric_b_name
    left = f" ({found.not_compared} not judged by both)" if found.not_compared else ""
    st.out.print(f"run {found.run_id}: {a!r} (A) against {b!r} (B) on {found.compared} records{left}", highlight=False)
    table = Table("", "B passed", "B failed")
    table.add_row("A passed", str(found.both_passed), str(found.only_a_passed))
    table.add_row("A failed", str(found.only_b_passed), str(found.both_failed))
    st.out.print(table)
    agreed = "n/a" if found.agreement is None else f"{found.agreement * 100:.1f}%"
    kappa = "n/a" if found.kappa is None else f"{found.kappa:.2f}"
    st.out.print(f"agreement {agreed}, Cohen's kappa {kappa}", highlight=False)
    return None


@runs.command("distribution")
def distribution(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    as_json_: JsonOption = False,
) -> None:
    """How a run's scores spread, per metric: an int metric's count of each value, a float's in
    ten bins of 0.1, a boolean's passes and fails."""
    st = state(ctx)
    found = st.client.score_distribution(run_id)
    if as_json_:
        return emit_json([dataclasses.asdict(m) for m in found])
    for metric in found:
        table = Table("value", "scores", "", title=f"{metric.name} ({metric.output_type}, {metric.scored} scored)")
        most = max((b.count for b in metric.buckets), default=0)
        for b in metric.buckets:
            bar = "█" * round(BAR_WIDTH * b.count / most) if most else ""
            table.add_row(b.label, str(b.count), Text(bar))
        st.out.print(table)
    return None
