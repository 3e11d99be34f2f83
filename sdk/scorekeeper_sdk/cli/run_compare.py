"""`scorekeeper runs compare` and `runs show`: a run against a baseline, or against its previous
run — per metric the means, B − A and whether it is beyond chance; the usage changes; the testcases
that regressed, the largest drop first."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.table import Table

from scorekeeper_sdk.baselines import SCORED, moved
from scorekeeper_sdk.cli.app import BaselineTagOption, JsonOption, as_json, emit_json, state
from scorekeeper_sdk.cli.context import State
from scorekeeper_sdk.cli.reports import compare_url
from scorekeeper_sdk.cli.runs import runs
from scorekeeper_sdk.cli.show import print_run, testcase_change
from scorekeeper_sdk.cli.side_by_side import show_testcase
from scorekeeper_sdk.usage import usage_changes
from scorekeeper_sdk.views import Comparison, MetricComparison, Run


@runs.command("compare")
def compare(
    ctx: typer.Context,
    baseline: Annotated[
        str,
        typer.Argument(
            metavar="BASELINE",
            help="The baseline run's id, or previous: the newest earlier run of RUN's testset with scores.",
        ),
    ],
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run compared with it.")],
    baseline_tag: BaselineTagOption = None,
    metric: Annotated[list[str] | None, typer.Option(help="Only these metrics (id or name).")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Testcases to list (those that regressed, unless --every).")] = 20,
    field: Annotated[
        list[str] | None,
        typer.Option(help="A slice: only the testcases whose field holds the value, as metadata.lang=fr; repeatable."),
    ] = None,
    order: Annotated[
        str,
        typer.Option(
            help="Order of the listed testcases: delta (the largest drop first), 'delta desc' (the largest gain),"
            " delta.<metric> [desc], 'latency_delta desc' (the most slowed first) or testcase."
        ),
    ] = "delta",
    every: Annotated[
        bool,
        typer.Option("--every", help="List every testcase, not only those that regressed (as a latency order does)."),
    ] = False,
    testcase: Annotated[
        str,
        typer.Option(help="Show this testcase in both runs: each trial's outputs, the words that changed marked."),
    ] = "",
    as_json_: JsonOption = False,
) -> None:
    """Per metric: regressions, improvements and means of RUN against BASELINE (same testset), then
    the testcases that regressed, the largest drop first; with --field, of one slice's testcases (the
    slices that regressed: runs slices RUN --baseline)."""
    st = state(ctx)
    baseline = st.baseline(baseline, run_id, baseline_tag or [])
    if testcase and not as_json_:
        return show_testcase(st.client, st.out, run_id, baseline, testcase)
    every = every or order.strip().startswith("latency") or bool(testcase)
    page = st.client.compare_runs(
        run_id,
        baseline,
        metrics=metric or [],
        regressions_only=not every,
        page_size=max(1, min(limit, 1000)),
        fields=field or [],
        with_usage=True,
        order_by=order,
        testcase_ids=[testcase] if testcase else [],
    )
    if as_json_:
        return emit_json(_comparison_json(page))
    sliced = f" with {' and '.join(field)}" if field else ""
    st.out.print(f"{run_id} against baseline {baseline}: {page.testcases_compared} testcases{sliced} compared")
    _print_comparison(st, st.client.get_run(run_id), page, every=every, limit=limit, field=field or [], order=order)
    return None


def _comparison_json(page: Comparison) -> dict[str, Any]:
    """A comparison as --json prints it: with its usage changes."""
    before, after = page.baseline_usage, page.usage
    used = usage_changes(before, after) if before is not None and after is not None else []
    told = [dataclasses.asdict(u) | {"change": u.change} for u in used]
    return as_json([page])[0] | {"usage_changes": told}


def _print_comparison(
    st: State, run: Run, page: Comparison, *, every: bool, limit: int, field: list[str], order: str
) -> None:
    """``run`` against the baseline of ``page``: per metric the means, B − A and its verdict and the
    counts; the usage changes; the testcases listed (those that regressed unless ``every``) and how
    many more; the compare page listing the same."""
    before, after = page.baseline_usage, page.usage
    used = usage_changes(before, after) if before is not None and after is not None else []
    table = Table(
        "metric",
        "baseline mean",
        "mean",
        "B − A (95% CI)",
        "verdict",
        "regressions",
        "improvements",
        "unchanged",
        "incomparable",
    )
    for m in page.metrics:
        table.add_row(
            m.name,
            "n/a" if m.baseline_mean is None else f"{m.baseline_mean:.3f}",
            "n/a" if m.mean is None else f"{m.mean:.3f}",
            _delta(m),
            f"{m.verdict} (p = {m.p_value:.3g})" if m.p_value is not None else m.verdict,
            str(m.regressions),
            str(m.improvements),
            str(m.unchanged),
            str(m.incomparable),
        )
    st.out.print(table)
    if used:  # latency 350 ms → 700 ms (+100%) · … (of the slice's records with --field)
        st.out.print(f"usage{' of the slice' if field else ''}: {' · '.join(u.shown for u in used)}", highlight=False)
    for case in page.testcases[:limit]:
        st.out.print(f"  {testcase_change(case, every)}", highlight=False)
    if page.listed > len(page.testcases[:limit]):  # 5 of 6,373 regressed testcases
        kind = "" if every else " regressed"
        st.out.print(f"  {len(page.testcases[:limit]):,} of {page.listed:,}{kind} testcases shown; --limit shows more")
    # The same on the console's compare page: the slice, regressions only, the order.
    listing = [*(("field", f) for f in field), *([] if every else [("regressions", "1")]), ("order", order)]
    shown = compare_url(run, page.baseline_run_id, listing)
    if shown:
        st.out.print(f"compare page: {shown}", highlight=False, soft_wrap=True)


@runs.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    limit: Annotated[int, typer.Option(min=0, help="Regressed testcases to list against the previous run.")] = 5,
    as_json_: JsonOption = False,
) -> None:
    """A run: its status, counts, usage and metrics; then, once it has its scores, how it compares with
    its previous run (the newest earlier run with scores of its schedule, monitor or testset, as the run
    page shows it): each metric's change and the testcases that regressed, the largest drop first."""
    st = state(ctx)
    run = st.client.get_run(run_id)
    previous = st.client.get_run(run.previous_run_id) if run.previous_run_id and run.status in SCORED else None
    # Testcase by testcase only against a run of the same testset (a schedule's testset may have changed).
    paired = previous is not None and bool(run.testset_id) and previous.testset_id == run.testset_id
    page = None
    if previous is not None and paired:
        page = st.client.compare_runs(
            run.id, previous.id, regressions_only=True, order_by="delta", page_size=max(1, limit), with_usage=True
        )
    if as_json_:
        return emit_json(
            {
                "run": as_json([run])[0],
                "previous_run_id": previous.id if previous else None,
                "against_previous": _comparison_json(page) if page else None,
            }
        )
    print_run(st.out, run)
    if previous is None:
        said = "none yet: it has no scores" if run.status not in SCORED else "none: no earlier run with scores"
        st.out.print(f"previous run: {said}", highlight=False)
        return None
    version = previous.system_version
    made = f"{version.system_name} {version.name}, " if version else ""
    st.out.print(f"previous run: {previous.id} ({made}created {previous.created_at[:19].replace('T', ' ')})")
    if page is None:
        # Its metrics alone: a monitor's window (the window before) or a run of another testset.
        changes = moved(run, previous)
        said = ", ".join(
            f"{m.name} {changes[m.metric_id]:+.1f} points"
            if m.output_type == "boolean"
            else f"{m.name} {changes[m.metric_id]:+.3f}"
            for m in run.metrics
            if m.metric_id in changes
        )
        what = "the window before" if not run.testset_id else "of another testset"
        st.out.print(f"  {what}: no testcases to compare one by one; against its metrics: {said or 'none in common'}")
        return None
    st.out.print(f"against it: {page.testcases_compared} testcases compared, {page.listed:,} regressed")
    _print_comparison(st, run, page, every=False, limit=limit, field=[], order="delta")
    return None


def _delta(m: MetricComparison) -> str:
    """B − A per testcase, with its interval: +0.083 [+0.031, +0.135]."""
    if m.mean_delta is None:
        return "n/a"
    if m.delta_ci_low is None or m.delta_ci_high is None:
        return f"{m.mean_delta:+.3f}"
    return f"{m.mean_delta:+.3f} [{m.delta_ci_low:+.3f}, {m.delta_ci_high:+.3f}]"
