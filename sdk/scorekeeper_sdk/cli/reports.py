"""What `scorekeeper eval` leaves for CI: JUnit XML (one testcase per record × metric) and a
Markdown summary for a pull-request comment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlencode

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from scorekeeper_sdk.cli.gates import Gate
from scorekeeper_sdk.cli.show import metric_value
from scorekeeper_sdk.usage import UsageChange
from scorekeeper_sdk.views import Comparison, Record, Run, WeakSlice

_EXCERPT = 60


def _label(record: Record) -> str:
    inputs = " ".join(str(v) for v in record.inputs.values())
    if len(inputs) > _EXCERPT:
        inputs = inputs[: _EXCERPT - 1] + "…"
    return f"{inputs} [{record.testcase_id[:8]} trial {record.trial}]".strip()


def _case(record: Record, metric_id: str, metric_name: str) -> TestCase:
    case = TestCase(_label(record), classname=f"scorekeeper.{metric_name}", time=record.latency_ms / 1000)
    if record.status == "errored":
        case.result = [Error(record.error, "record errored")]
        return case
    score = next((s for s in record.scores if s.metric_id == metric_id and s.current), None)
    if score is None or score.status == "pending":
        case.result = [Skipped("not scored yet")]
    elif score.status == "errored":
        case.result = [Error(score.error, "score errored")]
    elif score.passed is False:
        failure = Failure(score.reasoning or f"value {score.value}", "failed")
        failure.text = score.reasoning
        case.result = [failure]
    return case


def write_junit(path: Path, run: Run, records: Iterable[Record], gates: list[Gate]) -> TestSuite:
    """Suite ``scorekeeper run <id>``: one testcase per record × metric (failure = the score's
    reasoning, error = an errored record or score); suite ``scorekeeper gates``: one per gate."""
    suite = TestSuite(f"scorekeeper run {run.id}")
    metrics = [(m.metric_id, m.name) for m in run.metrics]
    for record in records:
        for metric_id, name in metrics:
            suite.add_testcase(_case(record, metric_id, name))
    suite.update_statistics()  # type: ignore[no-untyped-call]
    xml = JUnitXml("scorekeeper")
    xml.add_testsuite(suite)
    if gates:
        gate_suite = TestSuite("scorekeeper gates")
        for gate in gates:
            case = TestCase(gate.name, classname="scorekeeper.gates")
            if not gate.passed:
                case.result = [Failure(gate.detail, "gate failed")]
            gate_suite.add_testcase(case)
        gate_suite.update_statistics()  # type: ignore[no-untyped-call]
        xml.add_testsuite(gate_suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    xml.write(str(path), pretty=True)
    return suite


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(
    run: Run,
    gates: list[Gate],
    comparison: Comparison | None = None,
    weak: Sequence[WeakSlice] = (),
    regressed: Sequence[WeakSlice] = (),
    baseline_run_id: str = "",
    usage: Sequence[UsageChange] = (),
    no_baseline: str = "",
) -> str:
    """A pull-request comment: verdict, the run's link, per-metric results, gates, regressions, the
    latency and cost against the baseline (``usage``), and the slices that fail (``weak``) or
    regressed against the baseline ``baseline_run_id`` (``regressed``) beyond chance — each slice a
    link to its records on the run page, or to its testcases on the compare page; ``no_baseline``:
    why there is no baseline (the previous run asked for is none)."""
    verdict = "passed" if all(g.passed for g in gates) and run.status == "completed" else "failed"
    icon = "✅" if verdict == "passed" else "❌"
    link = f"[{run.id}]({run.url})" if run.url else run.id
    lines = [
        f"### {icon} Scorekeeper evaluation {verdict}",
        "",
        f"Run {link}: **{run.status}**, {run.records}/{run.expected_records} records"
        f" ({run.errored_records} errored), testset {_cell(run.testset_name)} v{run.testset_version}.",
        "",
        "| metric | pass rate / mean | passed / scored | errored |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {_cell(m.name)} | {metric_value(m)} | {m.passed}/{m.scored} | {m.errored} |" for m in run.metrics]
    if gates:
        lines += ["", "| gate | result | detail |", "|---|---|---|"]
        lines += [f"| {_cell(g.name)} | {'pass' if g.passed else '**fail**'} | {_cell(g.detail)} |" for g in gates]
    if no_baseline:
        lines += ["", f"No baseline to compare with: {_cell(no_baseline)}."]
    if comparison is not None:
        lines += [
            "",
            f"Against baseline {comparison.baseline_run_id} ({comparison.testcases_compared} testcases):",
            "",
            "| metric | baseline mean | mean | regressions | improvements | verdict |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for m in comparison.metrics:
            baseline = "n/a" if m.baseline_mean is None else f"{m.baseline_mean:.3f}"
            mean = "n/a" if m.mean is None else f"{m.mean:.3f}"
            said = f"{m.verdict} (p = {m.p_value:.2g})" if m.p_value is not None else m.verdict
            lines.append(f"| {_cell(m.name)} | {baseline} | {mean} | {m.regressions} | {m.improvements} | {said} |")
        lines += _regressed_testcases(run, comparison)
    if usage:
        lines += ["", "| usage | baseline | this run | change |", "|---|---:|---:|---:|"]
        lines += [f"| {u.name} | {u.amount(u.baseline)} | {u.amount(u.value)} | {u.moved} |" for u in usage]
    if weak:
        lines += [
            "",
            "Where it fails most: slices below the rest of the run beyond chance (q < 0.05):",
            "",
            "| slice | metric | passed | the rest | q |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {_slice_link(w, run.url, {'by': w.field, 'field': w.filter}, '#records')} | {_cell(w.metric_name)}"
            f" | {w.pass_rate:.1%} of {w.scored} | {w.rest_pass_rate:.1%} of {w.rest_scored} | {w.q_value:.2g} |"
            for w in weak
        ]
    if regressed:
        lines += [
            "",
            "Slices that regressed against the baseline beyond chance (q < 0.05):",
            "",
            "| slice | metric | baseline | here | testcases worse / better | q |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {_slice_link(w, compare_url(run, baseline_run_id), {'by': w.field, 'field': w.filter})}"
            f" | {_cell(w.metric_name)} | {w.baseline_pass_rate:.1%} of {w.baseline_scored}"
            f" | {w.pass_rate:.1%} of {w.scored} | {_worse_better(w)} | {w.q_value:.2g} |"
            for w in regressed
        ]
    return "\n".join(lines) + "\n"


def changed_testcases(w: WeakSlice) -> str:
    """A regressed slice's testcases that got worse and better, when compared one by one (a
    baseline of the same testset): ", 6 testcases worse, 0 better"; else nothing."""
    if not (w.worse_testcases or w.better_testcases):
        return ""
    return f", {w.worse_testcases} testcase{'s' * (w.worse_testcases != 1)} worse, {w.better_testcases} better"


def _worse_better(w: WeakSlice) -> str:
    return f"{w.worse_testcases} / {w.better_testcases}" if w.worse_testcases or w.better_testcases else "–"


# The compare page listing a comparison's regressed testcases, the largest drop first (as eval does).
REGRESSIONS_FIRST = (("regressions", "1"), ("order", "delta"))


def compare_url(run: Run, baseline_run_id: str, query: Sequence[tuple[str, str]] = (), page: str = "") -> str:
    """The console's compare page of the run against the baseline (the run's URL names the console
    and the project), or its ``page`` ("testcase": one side by side), with ``query``; empty without
    either run."""
    if not run.url or "/runs/" not in run.url or not baseline_run_id:
        return ""
    project = run.url[: run.url.rindex("/runs/")]
    pair = [("baseline", baseline_run_id), ("run", run.id)]
    return f"{project}/compare{'/' + page if page else ''}?{urlencode([*pair, *query])}"


def _regressed_testcases(run: Run, comparison: Comparison) -> list[str]:
    """The comparison's page of regressed testcases (the largest drop first) as a table: each one's
    inputs and what dropped, linked to it side by side (its previous / next in the same order)."""
    if not comparison.testcases:
        return []
    listing = REGRESSIONS_FIRST
    every = compare_url(run, comparison.baseline_run_id, listing)
    shown = len(comparison.testcases)
    counted = f"{shown} of {comparison.listed:,}" if comparison.listed > shown else ""  # of a server that tells
    parts = [counted] if counted else []
    if every and (counted or comparison.next_page_token):
        parts.append(f"[every one]({every})")
    more = f" ({': '.join(parts)})" if parts else ""
    lines = ["", f"Regressed testcases, the largest drop first{more}:", ""]
    lines += ["| testcase | inputs | regressed |", "|---|---|---|"]
    for case in comparison.testcases:
        url = compare_url(run, comparison.baseline_run_id, [("testcase", case.testcase_id), *listing], "testcase")
        name = f"[{case.testcase_id[:8]}]({url})" if url else case.testcase_id[:8]
        dropped = [c for c in case.changes if c.change == "regression"]
        said = ", ".join(f"{c.metric_name} {_score(c.baseline_value)} → {_score(c.value)}" for c in dropped)
        inputs = " ".join(str(v) for v in case.inputs.values())
        inputs = inputs if len(inputs) <= _EXCERPT else inputs[: _EXCERPT - 1] + "…"
        lines.append(f"| {name} | {_cell(inputs)} | {_cell(said)} |")
    return lines


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _slice_link(w: WeakSlice, page: str, query: dict[str, str], anchor: str = "") -> str:
    """A slice as a Markdown link to ``page`` narrowed to it (its text as the cell shows it)."""
    if not page:
        return _cell(w.filter)
    joined = "&" if "?" in page else "?"
    text = _cell(w.filter).replace("[", "\\[").replace("]", "\\]")
    return f"[{text}]({page}{joined}{urlencode(query)}{anchor})"
