"""`scorekeeper runs agreement`, `runs distribution`, `runs breakdown`, `runs slices` and `runs
matrix`: what scores say beyond a run's means — whether two metrics give the same verdicts, how
each metric's scores spread, where (on which slice of the testcases) the system fails, and where
several runs of one testset part."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.cli.app import BaselineTagOption, JsonOption, emit_json, state
from scorekeeper_sdk.cli.records import brief
from scorekeeper_sdk.cli.runs import runs
from scorekeeper_sdk.usage import MEASURES, amount, told
from scorekeeper_sdk.views import GroupMetric, MatrixCell, MatrixMetric, MatrixRow, RunUsage

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
    ten bins of 0.1, a boolean's passes and fails; with trials, how many testcases' trials disagree."""
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
        if metric.repeated_testcases:
            st.out.print(
                f"across the trials: {metric.unstable_testcases} of {metric.repeated_testcases} testcases passed some"
                f" and failed others (records list --run {run_id} --where '{metric.name}:unstable')",
                highlight=False,
            )
    return None


@runs.command("breakdown")
def breakdown(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    field: Annotated[
        str,
        typer.Argument(
            metavar="[FIELD]",
            help="""metadata.<key>, inputs.<key> or expected.<key> (a key with dots in double quotes:"""
            """ 'metadata."gen_ai.model"'); none: the fields to choose from.""",
        ),
    ] = "",
    baseline: Annotated[str, typer.Option(help="A baseline run (or previous): each value's scores there → here.")] = "",
    baseline_tag: BaselineTagOption = None,
    values: Annotated[
        int, typer.Option(min=1, max=1000, help="Values shown one by one, those with the most records.")
    ] = 25,
    as_json_: JsonOption = False,
) -> None:
    """A run's records and scores per value of one of its testcases' fields — where the system
    does well and where it fails: per value its records, errored, latency, cost and each metric's
    pass rate (or mean); the 25 values (--values) with the most records, then the others together.
    With --baseline, each metric's figure in the baseline, then here: which slice regressed."""
    st = state(ctx)
    baseline = st.baseline(baseline, run_id, baseline_tag or []) if baseline or baseline_tag else ""
    found = st.client.run_breakdown(run_id, field, baseline_run_id=baseline, max_values=values)
    if as_json_:
        return emit_json(dataclasses.asdict(found))
    if not field:
        if not found.fields:
            st.err.print("the run has no record with a field to break it down by", highlight=False)
            return None
        st.out.print("\n".join(found.fields), highlight=False)
        return None
    if not found.groups:
        st.err.print("the run has no record yet", highlight=False)
        return None
    names = [m.name for m in found.groups[0].metrics]
    table = Table(field, "records", "errored", "p50", "p95", "cost", *names)
    for g in found.groups:
        scores = []
        for m in g.metrics:
            there = g.baseline.metric(m.metric_id) if g.baseline else None
            shown = f"{_slice_figure(there)} → {_slice_figure(m)}" if baseline else _slice_figure(m)
            scores.append(Text(shown, style=_moved(there, m)))
        table.add_row(
            Text(g.label, style="dim" if g.rest or g.no_value else ""),
            f"{g.baseline.records:,} → {g.records:,}" if baseline and g.baseline else f"{g.records:,}",
            f"{g.errored_records:,}",
            amount(g.latency_p50_ms, "ms") if g.latency_p50_ms else "-",
            amount(g.latency_p95_ms, "ms") if g.latency_p95_ms else "-",
            f"${g.cost_usd:,.4f}",
            *scores,
        )
    st.out.print(table)
    return None


@runs.command("slices")
def slices(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    metric: Annotated[str, typer.Option(help="Only this metric of the run (id or name).")] = "",
    min_records: Annotated[int, typer.Option(help="The fewest scored records a slice is judged on.")] = 5,
    limit: Annotated[int, typer.Option(help="How many slices (at most 100).")] = 10,
    baseline: Annotated[
        str, typer.Option(help="A baseline run (or previous): each slice against its same slice there.")
    ] = "",
    baseline_tag: BaselineTagOption = None,
    as_json_: JsonOption = False,
) -> None:
    """The slices of a run that fail most, without choosing a field: each value of its testcases'
    metadata, inputs and expected values whose records pass a metric less often than the rest of
    the run — the least likely to be chance first (p: Fisher's exact test; q: corrected for every
    slice tested; below 0.05, not likely chance). With --baseline, each slice against the same
    slice of the baseline run instead: the slices that regressed — testcase by testcase when both
    runs are of one testset (the testcases worse / better; p: a sign test on them)."""
    st = state(ctx)
    baseline = st.baseline(baseline, run_id, baseline_tag or []) if baseline or baseline_tag else ""
    found = st.client.weak_slices(run_id, metric=metric, min_records=min_records, limit=limit, baseline_run_id=baseline)
    if as_json_:
        return emit_json(dataclasses.asdict(found))
    other = "in the baseline" if baseline else "than the rest of the run"
    if not found.slices:
        st.err.print(
            f"no slice of {found.min_records}+ scored records passes less often {other} ({found.tested:,} tested)",
            highlight=False,
        )
        return None
    paired = ("testcases worse / better",) if found.paired else ()
    table = Table("slice", "metric", "passed", "baseline" if baseline else "the rest", "missing", *paired, "p", "q")
    for s in found.slices:
        table.add_row(
            s.filter,
            s.metric_name,
            f"{s.pass_rate:.1%} of {s.scored:,}",
            f"{s.baseline_pass_rate:.1%} of {s.baseline_scored:,}"
            if baseline
            else f"{s.rest_pass_rate:.1%} of {s.rest_scored:,}",
            f"{s.missing_passes:,.1f}",
            *((f"{s.worse_testcases:,} / {s.better_testcases:,}",) if found.paired else ()),
            f"{s.p_value:.2g}",
            Text(f"{s.q_value:.2g}", style="bold red" if s.q_value < 0.05 else ""),
        )
    st.out.print(table)
    how = " Compared testcase by testcase (p: a sign test on those worse against those better)." if found.paired else ""
    st.out.print(
        f"{found.tested:,} slices tested; a q below 0.05 is not likely chance.{how}"
        " Their records: scorekeeper records list --run RUN --field SLICE",
        highlight=False,
    )
    return None


def _slice_figure(m: GroupMetric | None) -> str:
    """A metric over a slice: its pass rate (boolean) or mean, and of how many scores."""
    if m is None or m.pass_rate is None:
        return "-"
    if m.output_type == "boolean":
        return f"{m.pass_rate:.1%} of {m.scored}"
    return f"{m.mean:.3g} ({m.pass_rate:.0%} passed) of {m.scored}"


def _moved(before: GroupMetric | None, after: GroupMetric) -> str:
    """Red when the pass rate fell by more than 10 points, green when it rose by as much."""
    if before is None or before.pass_rate is None or after.pass_rate is None:
        return ""
    change = after.pass_rate - before.pass_rate
    return "red" if change < -0.1 else "green" if change > 0.1 else ""


def _value(value: float | None, output_type: str, *, mean: bool = False) -> str:
    if value is None:
        return "-"
    if output_type != "boolean":
        return f"{value:.3g}"
    if not mean and value in (0, 1):
        return "pass" if value else "fail"
    return f"{value * 100:.1f}%"


def _cell(cell: MatrixCell, metrics: list[MatrixMetric]) -> str:
    if not cell.record_ids:
        return "(not in this run)"
    output = f"errored: {cell.error}" if cell.status == "errored" else brief(cell.outputs)
    values = ", ".join(f"{m.name} {_value(cell.values.get(m.metric_id), m.output_type)}" for m in metrics)
    return f"{output}\n{values}"


@runs.command("matrix")
def matrix(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN...", help="2..8 run ids of one testset.")],
    metric: Annotated[list[str] | None, typer.Option(help="Only these metrics (id or name).")] = None,
    differing: Annotated[bool, typer.Option("--differing", help="Only testcases where the runs part.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Testcases to list.")] = 20,
    as_json_: JsonOption = False,
) -> None:
    """Several runs of one testset side by side: each metric's mean per run, then per testcase
    each run's output and values (--differing: only where they part)."""
    st = state(ctx)
    size = max(1, min(limit, 200))
    page = st.client.compare_run_matrix(run_ids, metrics=metric or [], differing_only=differing, page_size=size)
    first, rows = page, list(page.testcases)
    while len(rows) < limit and page.next_page_token:
        page = st.client.compare_run_matrix(
            run_ids, metrics=metric or [], differing_only=differing, page_size=size, page_token=page.next_page_token
        )
        rows += page.testcases
    shown: list[MatrixRow] = rows[:limit]
    if as_json_:
        doc = dataclasses.asdict(first)
        doc["testcases"] = [dataclasses.asdict(r) for r in shown]
        doc["next_page_token"] = ""
        return emit_json(doc)
    heads = [f"{r.run_id[:8]} {r.system_version_name}".strip() for r in first.runs]
    st.out.print(
        f"{len(first.runs)} runs: {first.testcases_compared} testcases, the runs part on {first.testcases_differing}",
        highlight=False,
    )
    means = Table("metric", *heads)
    for m in first.metrics:
        means.add_row(m.name, *(_value(r.means.get(m.metric_id), m.output_type, mean=True) for r in first.runs))
    used = [r.usage or RunUsage(r.run_id, r.created_at) for r in first.runs]
    for measure in (m for m in MEASURES if told(m, used)):  # what each whole run used
        means.add_row(measure.name, *(amount(measure.of(u), measure.unit) for u in used))
    st.out.print(means)
    if shown:
        table = Table("testcase", *heads, show_lines=True)
        for row in shown:
            mark = "* " if row.differs else ""
            table.add_row(mark + brief(row.inputs), *(_cell(c, first.metrics) for c in row.cells))
        st.out.print(table)
    return None
