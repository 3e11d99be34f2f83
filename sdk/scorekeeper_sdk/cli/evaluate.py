"""`scorekeeper eval`: run a system over a testset end to end, then apply the CI gates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from scorekeeper_sdk.baselines import PREVIOUS, described
from scorekeeper_sdk.cli.app import BaselineTagOption, app, state
from scorekeeper_sdk.cli.context import GATE_FAILED, RUN_FAILED, CliError, State
from scorekeeper_sdk.cli.gates import (
    Gate,
    UsageLimit,
    check_regressions,
    check_slices,
    check_thresholds,
    check_usage,
    check_worse,
    known_metrics,
    parse_threshold,
    parse_usage_limit,
)
from scorekeeper_sdk.cli.reports import (
    REGRESSIONS_FIRST,
    changed_testcases,
    compare_url,
    summary_markdown,
    write_junit,
)
from scorekeeper_sdk.cli.runs import SOURCES, checked_sources
from scorekeeper_sdk.cli.show import print_run, testcase_change, watch
from scorekeeper_sdk.cli.subsets import (
    OnlyOption,
    SampleOption,
    SeedOption,
    TagOption,
    TestcaseOption,
    subset_options,
)
from scorekeeper_sdk.cli.systems import CommandSystem, load_callable
from scorekeeper_sdk.errors import InvalidArgument, ScorekeeperError
from scorekeeper_sdk.evaluate import run_and_evaluate
from scorekeeper_sdk.usage import UsageChange, usage_changes
from scorekeeper_sdk.views import Comparison, Run, RunBreakdown, RunUsage, WeakSlice

# --fail-under-per judges this many values of the field one by one (the most a breakdown shows), the
# records of any others together.
SLICE_VALUES = 1000
# What a --fail-under-per field starts with (the testcase fields a breakdown takes).
SLICE_ROOTS = ("metadata.", "inputs.", "expected.")


def _execute(
    st: State,
    *,
    system: Any,
    server_version: str | None,
    testset: str | None,
    metric_ids: list[str],
    options: dict[str, Any],
    resume: str | None,
) -> str:
    """Starts (or resumes) the run and executes it; returns its id once every record is in."""
    if server_version is not None:
        version = st.system_version(server_version)
        if version.kind == "sdk":
            raise CliError(f"{server_version} is an sdk version: give --command or --callable to run it here")
        assert testset is not None
        run = st.client.create_run(
            st.project_id(),
            st.testset(testset).id,
            version.id,
            metric_ids,
            source=options["source"],
            trials=options["trials"],
            notes=options["notes"],
            max_concurrency=options["max_concurrency"],
            **options["kickoff"],
        )
        st.err.print(f"run {run.id}: executing {version.kind} system version {version.name!r} on the server")
        return run.id
    if resume:
        evaluation = run_and_evaluate(
            st.client,
            system=system,
            resume_run_id=resume,
            max_concurrency=options["max_concurrency"],
            scorers=options["scorers"],
        )
    else:
        assert testset is not None
        evaluation = run_and_evaluate(
            st.client,
            system=system,
            project_id=st.project_id(),
            testset_id=st.testset(testset).id,
            metric_ids=metric_ids,
            system_name=options["system_name"],
            system_version=options["version"],
            trials=options["trials"],
            max_concurrency=options["max_concurrency"],
            notes=options["notes"],
            source=options["source"],
            scorers=options["scorers"],
            **options["kickoff"],
        )
    st.err.print(
        f"run {evaluation.id}: {evaluation.calls} calls ({evaluation.errored} errored),"
        f" {evaluation.uploaded} records uploaded, {evaluation.skipped} already there"
    )
    return evaluation.id


def _scorer(spec: str) -> tuple[str, Any]:
    """--scorer METRIC=MODULE:FUNCTION."""
    metric, sep, function = spec.partition("=")
    if not sep or not metric.strip():
        raise CliError(f"--scorer takes METRIC=MODULE:FUNCTION (e.g. concise=checks:concise), got {spec!r}")
    return metric.strip(), load_callable(function, "--scorer")


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    testset: Annotated[str | None, typer.Option(help="Testset id or name.")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric id or name; repeatable.")] = None,
    command: Annotated[
        str | None, typer.Option(help="Shell command run per testcase: inputs JSON on stdin, answer JSON on stdout.")
    ] = None,
    callable_: Annotated[str | None, typer.Option("--callable", help="MODULE:FUNCTION called with the inputs.")] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option(help="METRIC=MODULE:FUNCTION: your code scoring a metric of eval type code; repeatable."),
    ] = None,
    system_version: Annotated[
        str | None, typer.Option(help="A server-side (http/llm) version: id or SYSTEM[:VERSION].")
    ] = None,
    system_name: Annotated[str | None, typer.Option(help="Name of the sdk system (--command / --callable).")] = None,
    version: Annotated[str | None, typer.Option(help="Name of the sdk system version, e.g. a commit sha.")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Executions per testcase.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Calls in flight.")] = 8,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds a --command may take per testcase.")] = 60.0,
    notes: Annotated[str, typer.Option()] = "",
    source: Annotated[str, typer.Option(help=f"One of {', '.join(SOURCES)}.")] = "ci",
    fail_under: Annotated[
        list[str] | None, typer.Option(help="METRIC=THRESHOLD: pass rate (boolean) or mean; repeatable.")
    ] = None,
    fail_under_per: Annotated[
        list[str] | None,
        typer.Option(
            help="FIELD (metadata.lang): apply each --fail-under within every value of this testcase field too;"
            " repeatable."
        ),
    ] = None,
    min_slice_scored: Annotated[
        int, typer.Option(min=1, help="Judge a value of a --fail-under-per field with at least N records scored.")
    ] = 10,
    fail_above: Annotated[
        list[str] | None,
        typer.Option(
            help="MEASURE=LIMIT on what the run used per record: latency=800 (ms, the mean), p95-latency=2000,"
            " tokens=1500, cost=0.002 (USD), judge-cost=0.001; or +N% of --baseline's, as latency=+20%; repeatable."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="A run to compare with (same testset), or previous: the newest earlier run of the testset with"
            " scores (none yet: the gates on it are skipped, said so)."
        ),
    ] = None,
    baseline_tag: BaselineTagOption = None,
    fail_on_regressions: Annotated[bool, typer.Option(help="Fail when a testcase regressed vs --baseline.")] = False,
    fail_if_worse: Annotated[
        bool, typer.Option(help="Fail when a metric is worse than --baseline beyond chance (sign test, p < 0.05).")
    ] = False,
    junit_xml: Annotated[Path | None, typer.Option(help="Write JUnit XML: a testcase per record × metric.")] = None,
    summary_md: Annotated[Path | None, typer.Option(help="Write a Markdown summary (for a PR comment).")] = None,
    resume: Annotated[str | None, typer.Option(help="Complete an interrupted run (with --command/--callable).")] = None,
    wait_timeout: Annotated[float | None, typer.Option(help="Give up waiting for scores after N seconds.")] = None,
    testcase: TestcaseOption = None,
    only: OnlyOption = None,
    sample: SampleOption = 0,
    sample_seed: SeedOption = 0,
    tag: TagOption = None,
) -> None:
    """Evaluate a system over a testset end to end and gate on the results (exit 0 / 1 / 2 / 3)."""
    st = state(ctx)
    thresholds = [parse_threshold(t) for t in fail_under or []]
    limits = [parse_usage_limit(t) for t in fail_above or []]
    if any(limit.relative for limit in limits) and not baseline:
        raise CliError("--fail-above with +N% compares with the baseline's: give --baseline RUN")
    per = [f.strip() for f in fail_under_per or []]
    if per and not thresholds:
        raise CliError("--fail-under-per applies the --fail-under thresholds within each value: give them too")
    for f in per:
        if not f.startswith(SLICE_ROOTS) or len(f) <= len(f.split(".", 1)[0]) + 1:
            raise CliError(f"--fail-under-per takes a testcase field as metadata.lang (inputs., expected.), got {f!r}")
    systems = [s for s in (command, callable_, system_version) if s is not None]
    if len(systems) != 1:
        raise CliError("give exactly one of --command, --callable or --system-version")
    checked_sources([source])
    if (fail_on_regressions or fail_if_worse) and not baseline:
        raise CliError(f"{'--fail-on-regressions' if fail_on_regressions else '--fail-if-worse'} needs --baseline RUN")
    if baseline_tag and baseline != PREVIOUS:
        raise CliError("--baseline-tag picks the previous run among those tagged: give --baseline previous")
    if resume and system_version is not None:
        raise CliError("--resume completes runs of --command / --callable systems only")
    if not resume and not testset:
        raise CliError("give --testset (or --resume RUN)")
    kickoff = {**subset_options(testcase, only, sample, sample_seed), "tags": tag or []}
    if resume and (testcase or only or sample or tag):
        raise CliError(
            "--resume completes the run as it was kicked off: --testcase, --only, --sample and --tag do not apply"
        )
    system = CommandSystem(command, timeout) if command else load_callable(callable_) if callable_ else None
    if scorer and system_version is not None:
        raise CliError("--scorer runs your code here: give it with --command or --callable, not --system-version")
    scorers = dict(_scorer(s) for s in scorer or [])
    if resume:
        metric_names = {m.metric_id: m.name for m in st.client.get_run(resume).metrics}
        metric_ids: list[str] = []
    else:
        chosen = st.metrics([*(metric or []), *(m for m in scorers if m not in (metric or []))])
        metric_names = {m.id: m.name for m in chosen}
        metric_ids = list(metric_names)
    known_metrics(thresholds, metric_names)
    if baseline and baseline != PREVIOUS:
        st.client.get_run(baseline)  # an unknown baseline fails before anything runs
    run_id = _execute(
        st,
        system=system,
        server_version=system_version,
        testset=testset,
        metric_ids=metric_ids,
        options={
            "source": source,
            "trials": trials,
            "notes": notes,
            "max_concurrency": concurrency,
            "system_name": system_name,
            "version": version,
            "kickoff": kickoff,
            "scorers": scorers,
        },
        resume=resume,
    )
    try:
        final = watch(st.client, run_id, st.err, wait_timeout)
    except TimeoutError as exc:
        raise CliError(str(exc)) from None
    print_run(st.out, final)
    no_baseline = ""
    if baseline == PREVIOUS:
        on = {"--fail-on-regressions": fail_on_regressions, "--fail-if-worse": fail_if_worse}
        gated = [*(o for o, given in on.items() if given), *(f"--fail-above {x.name}" for x in limits if x.relative)]
        baseline, no_baseline = _previous(st, final, baseline_tag or [], gated)
        if baseline is None:  # the gates on a baseline are skipped
            fail_on_regressions = fail_if_worse = False
            limits = [x for x in limits if not x.relative]
    against = [check for check, on in ((check_regressions, fail_on_regressions), (check_worse, fail_if_worse)) if on]
    slices = (per, min_slice_scored)
    _gate(st, final, thresholds, baseline, against, junit_xml, summary_md, slices, limits, no_baseline)


def _previous(st: State, run: Run, tags: list[str], gated: list[str]) -> tuple[str | None, str]:
    """--baseline previous for the run: its id and "", or None and why when there is none yet (the
    first run of a testset, of a tag) — said, with the ``gated`` options that are then skipped."""
    found = st.previous_run(run.id, tags)
    if found is not None:
        return found.id, ""
    why = f"{described(run.testset_name, tags)} before this run"
    said = f"skipped: {', '.join(gated)}" if gated else "nothing compared"
    st.err.print(f"--baseline previous: {why}; {said}", highlight=False, soft_wrap=True)
    return None, why


def _breakdown(st: State, run: Run, field: str) -> RunBreakdown:
    """The run by one field's values, for --fail-under-per; a field none of its records holds is a
    usage error (a misspelt field would judge nothing and pass)."""
    try:
        breakdown = st.client.run_breakdown(run.id, field, max_values=SLICE_VALUES)
    except InvalidArgument as exc:
        raise CliError(f"--fail-under-per {field}: {exc.message}") from None
    if all(g.no_value for g in breakdown.groups):
        held = ", ".join(breakdown.fields[:20]) or "none"
        raise CliError(f"--fail-under-per {field}: none of the run's records holds it (they hold: {held})")
    return breakdown


def _beyond_chance(st: State, run: Run, baseline: str = "", shown: int = 5) -> list[WeakSlice]:
    """The run's slices below the rest (or below the baseline's same slices) beyond chance
    (q < 0.05): what the summary points at. Not a gate: a server that cannot tell them (an older
    one) leaves them out, said on stderr."""
    try:
        found = st.client.weak_slices(run.id, limit=shown, baseline_run_id=baseline)
    except ScorekeeperError as exc:
        st.err.print(f"the run's {'regressed' if baseline else 'weak'} slices are left out: {exc}", highlight=False)
        return []
    return [w for w in found.slices if w.q_value < 0.05]


# The regressed testcases eval shows, the largest drop first: on stdout, and in the summary.
PRINTED_REGRESSED = 5
SHOWN_REGRESSED = 10


def _gate(
    st: State,
    run: Run,
    thresholds: list[Any],
    baseline: str | None,
    against: Sequence[Callable[[Comparison], Gate]],
    junit_xml: Path | None,
    summary_md: Path | None,
    slices: tuple[list[str], int] = ([], 10),
    limits: Sequence[UsageLimit] = (),
    no_baseline: str = "",
) -> None:
    """``against``: the gates on the comparison with ``baseline`` (--fail-on-regressions, --fail-if-worse);
    ``slices``: the fields whose every value the thresholds judge too, and the records a value needs;
    ``limits``: --fail-above's on what the run used; ``no_baseline``: why the previous run asked for
    is none."""
    gates: list[Gate] = check_thresholds(run, thresholds) if run.status == "completed" else []
    for f in slices[0] if run.status == "completed" else []:
        gates += check_slices(run, _breakdown(st, run, f), thresholds, slices[1])
    comparison: Comparison | None = None
    used: list[UsageChange] = []
    mine = RunUsage.of_run(run)
    if baseline and run.status == "completed":
        comparison = st.client.compare_runs(
            run.id, baseline, regressions_only=True, with_usage=True, order_by="delta", page_size=SHOWN_REGRESSED
        )
        gates += [check(comparison) for check in against]
        before = comparison.baseline_usage
        if before is not None:  # a server that tells it
            used = usage_changes(before, mine)
        gates += check_usage(mine, before, list(limits))
    elif run.status == "completed":
        gates += check_usage(mine, None, list(limits))
    for gate in gates:
        st.out.print(Text.assemble(("pass", "green") if gate.passed else ("FAIL", "red"), f"  {gate.detail}"))
    for change in used:  # against the baseline: latency 350 ms → 700 ms (+100%)
        st.out.print(f"usage  {change.shown}", highlight=False)
    printed = comparison.testcases[:PRINTED_REGRESSED] if comparison else []
    for case in printed:  # the largest drops first
        st.out.print(testcase_change(case), highlight=False)
    listed = max(comparison.listed, len(comparison.testcases)) if comparison else 0
    if listed > len(printed):
        every = (
            f"({len(printed)} of {listed:,} regressed testcases shown;"
            f" every one: scorekeeper runs compare {baseline} {run.id})"
        )
        st.out.print(every, highlight=False, soft_wrap=True)
    if comparison and (page := compare_url(run, comparison.baseline_run_id, REGRESSIONS_FIRST)):
        st.out.print(f"compare page: {page}", highlight=False, soft_wrap=True)
    weak = _beyond_chance(st, run) if run.status == "completed" else []
    regressed = _beyond_chance(st, run, baseline) if baseline and run.status == "completed" else []
    for w in weak:
        st.out.print(
            f"weak  {w.filter}: {w.metric_name} {w.pass_rate:.1%} of {w.scored} against {w.rest_pass_rate:.1%}"
            f" of the rest (q {w.q_value:.2g})",
            highlight=False,
        )
    for w in regressed:
        st.out.print(
            f"regressed  {w.filter}: {w.metric_name} {w.baseline_pass_rate:.1%} of {w.baseline_scored} in the"
            f" baseline, {w.pass_rate:.1%} of {w.scored} here{changed_testcases(w)} (q {w.q_value:.2g})",
            highlight=False,
        )
    if junit_xml is not None:
        suite = write_junit(junit_xml, run, st.client.list_records(run.id, page_size=1000), gates)
        st.err.print(f"wrote {junit_xml}: {suite.tests} testcases, {suite.failures} failures, {suite.errors} errors")
    if summary_md is not None:
        summary_md.write_text(
            summary_markdown(run, gates, comparison, weak, regressed, baseline or "", used, no_baseline),
            encoding="utf-8",
        )
        st.err.print(f"wrote {summary_md}")
    if run.status != "completed":
        raise CliError(f"run {run.id} {run.status}{': ' + run.error if run.error else ''}", RUN_FAILED)
    failed = [g for g in gates if not g.passed]
    if failed:
        raise CliError(
            f"{len(failed)} of {len(gates)} gates failed: {'; '.join(g.detail for g in failed)}", GATE_FAILED
        )
