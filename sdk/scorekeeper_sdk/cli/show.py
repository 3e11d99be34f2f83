"""How runs look on a terminal: the live watch and the final summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.clients import Scorekeeper
from scorekeeper_sdk.usage import UsageChange, amount
from scorekeeper_sdk.views import MetricSummary, Run, TestcaseComparison


def metric_value(m: MetricSummary) -> str:
    value = m.value
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if m.output_type == "boolean" else f"{value:.3f}"


def summary_table(run: Run) -> Table:
    table = Table("metric", "type", "pass rate / mean", "95% interval", "passed/scored", "errored", "pending")
    for m in run.metrics:
        interval = ""
        if m.ci_low is not None and m.ci_high is not None:
            scale = 100 if m.output_type == "boolean" else 1
            interval = f"{m.ci_low * scale:.1f}–{m.ci_high * scale:.1f}{'%' if scale == 100 else ''}"
        table.add_row(
            m.name,
            m.output_type,
            metric_value(m),
            interval,
            f"{m.passed}/{m.scored}",
            str(m.errored),
            str(m.pending),
        )
    return table


def usage_line(run: Run) -> str:
    """What the run's records reported, as far as they did: "latency mean 350 ms, p50 300 ms, p95
    575 ms, p99 595 ms · 90 tokens · system cost $0.0400 · judge cost $0.0010"."""
    t = run.totals
    latencies = [("mean", t.latency_ms_mean if t.latency_ms_total else None)]
    latencies += [("p50", t.latency_p50_ms), ("p95", t.latency_p95_ms), ("p99", t.latency_p99_ms)]
    parts = []
    if said := [f"{name} {amount(ms, 'ms')}" for name, ms in latencies if ms is not None]:
        parts.append("latency " + ", ".join(said) + (" (so far)" if t.latency_live else ""))
    if t.prompt_tokens or t.completion_tokens:
        parts.append(f"{t.prompt_tokens + t.completion_tokens:,} tokens")
    if t.costed_records:
        parts.append(f"system cost {amount(t.cost_usd, 'usd')}")
    if t.judge_cost_usd:
        parts.append(f"judge cost {amount(t.judge_cost_usd, 'usd')}")
    return " · ".join(parts)


def testcase_change(case: TestcaseComparison, timed: bool = False) -> str:
    """ "regressed: testcase T: exact 1.0 → 0.0", or what changed otherwise; ``timed``: with its
    latency in both runs."""
    regressed = [c for c in case.changes if c.change == "regression"]
    shown = regressed or [c for c in case.changes if c.change != "unchanged"]
    said = ", ".join(f"{c.metric_name} {_value(c.baseline_value)} → {_value(c.value)}" for c in shown) or "unchanged"
    if timed and (case.baseline_latency_ms is not None or case.latency_ms is not None):
        said += f" · {UsageChange('latency', case.baseline_latency_ms, case.latency_ms, 'ms').shown}"
    return f"{'regressed: ' if regressed else ''}testcase {case.testcase_id}: {said}"


def _value(value: float | None) -> str:
    return "n/a" if value is None else str(value)


def print_run(console: Console, run: Run) -> None:
    """Status, counts, what the records used, per-metric results and the run's URL."""
    console.print(Text.assemble(f"run {run.id}: ", (run.status, "bold"), f"  {run.status_explanation}".rstrip()))
    console.print(
        f"  records {run.records}/{run.expected_records} ({run.errored_records} errored),"
        f" scores {run.scores}/{run.expected_scores}, {run.duration_s:.1f}s"
    )
    if used := usage_line(run):
        console.print(f"  {used}", highlight=False)
    if run.subset:
        console.print(f"  part of the testset: {run.subset.get('testcases')} of {run.subset.get('of')} testcases")
    if run.error:
        console.print(f"  error: {run.error}")
    if run.metrics:
        console.print(summary_table(run))
    if run.url:
        console.print(f"  {run.url}")


def watch(client: Scorekeeper, run_id: str, console: Console, timeout_s: float | None = None) -> Run:
    """Waits for the run to finish: live bars of records and scores on a terminal, a line per
    status change elsewhere."""
    if not console.is_terminal:
        seen: list[str] = []

        def line(run: Run) -> None:
            if not seen or seen[-1] != run.status:
                seen.append(run.status)
                console.print(
                    f"run {run.id}: {run.status} ({run.records}/{run.expected_records} records,"
                    f" {run.scores}/{run.expected_scores} scores)"
                )

        return client.wait_for_run(run_id, timeout_s, on_update=line)
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        records = progress.add_task("records", total=None, status="")
        scores = progress.add_task("scores", total=None, status="")

        def bars(run: Run) -> None:
            progress.update(records, completed=run.records, total=run.expected_records or None, status=run.status)
            progress.update(
                scores, completed=run.scores, total=run.expected_scores or None, status=run.status_explanation
            )

        return client.wait_for_run(run_id, timeout_s, on_update=bars)
