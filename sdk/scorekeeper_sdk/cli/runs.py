"""`scorekeeper runs …`: kick off (again), list, watch, export, re-score, retry errors, tag, cancel,
annotate and archive runs (compare and show: run_compare.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.api.reads import EXPORT_FORMATS
from scorekeeper_sdk.baselines import SCORED, moved
from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state, write_export
from scorekeeper_sdk.cli.context import RUN_FAILED, CliError, State
from scorekeeper_sdk.cli.show import print_run, watch
from scorekeeper_sdk.cli.subsets import (
    OnlyOption,
    SampleOption,
    SeedOption,
    TagOption,
    TestcaseOption,
    subset_options,
)
from scorekeeper_sdk.models import SystemVersion
from scorekeeper_sdk.views import MetricSummary, Run

runs = typer.Typer(
    help="Runs: kick off, again, list, show, watch, export, compare, matrix, re-score, retry errors, cancel, notes,"
    " archive, history (trends over runs, of a slice too), agreement, distribution, breakdown and slices (where it"
    " fails), steps (where its calls spend their time).",
    no_args_is_help=True,
)
app.add_typer(runs, name="runs")

SOURCES = ("api", "kickoff", "playground", "monitor", "ci", "schedule")


def checked_sources(given: list[str] | None) -> list[str]:
    """--source values, each one of SOURCES (a usage error naming the others)."""
    for s in given or []:
        if s not in SOURCES:
            raise CliError(f"--source must be one of {', '.join(SOURCES)}, got {s!r}")
    return list(given or [])


def finished(run: Run) -> None:
    """Exit code 3 for a run that failed or was cancelled."""
    if run.status in ("failed", "cancelled"):
        raise CliError(f"run {run.id} {run.status}{': ' + run.error if run.error else ''}", RUN_FAILED)


@runs.command("kickoff")
def kickoff(
    ctx: typer.Context,
    testset: Annotated[str, typer.Option(help="Testset id or name.")],
    system_version: Annotated[str, typer.Option(help="Version id, or SYSTEM[:VERSION] (the production one).")],
    metric: Annotated[list[str] | None, typer.Option(help="Metric id or name; repeat for several.")] = None,
    metric_group: Annotated[str, typer.Option(help="A metric group id, instead of or besides --metric.")] = "",
    trials: Annotated[int, typer.Option(min=1, help="Executions per testcase.")] = 1,
    max_concurrency: Annotated[int, typer.Option(min=0, help="Calls in flight (0: the executor's).")] = 0,
    notes: Annotated[str, typer.Option()] = "",
    source: Annotated[str, typer.Option(help=f"One of {', '.join(SOURCES)}.")] = "kickoff",
    wait: Annotated[bool, typer.Option(help="Watch the run until it is done.")] = False,
    testcase: TestcaseOption = None,
    only: OnlyOption = None,
    sample: SampleOption = 0,
    sample_seed: SeedOption = 0,
    tag: TagOption = None,
    same_testcases_as: Annotated[
        str, typer.Option(metavar="RUN", help="The testcases that run of the testset executed.")
    ] = "",
) -> None:
    """Kick off a run of a server-side system (http or llm version) over a testset (or part of it:
    --testcase, --only, --sample, --same-testcases-as)."""
    st = state(ctx)
    version = _server_side(st, system_version)
    target = st.testset(testset)
    metric_ids = [m.id for m in st.metrics(metric or [])]
    run = st.client.create_run(
        st.project_id(),
        target.id,
        version.id,
        metric_ids,
        source=source,
        trials=trials,
        notes=notes,
        max_concurrency=max_concurrency,
        metric_group_id=metric_group,
        **subset_options(testcase, only, sample, sample_seed),
        tags=tag or [],
        same_testcases_as_run_id=same_testcases_as,
    )
    _kicked_off(st, run, wait)


def _server_side(st: State, given: str) -> SystemVersion:
    """A system version the executor can run (http or llm)."""
    version = st.system_version(given)
    if version.kind == "sdk":
        raise CliError(f"{given} is an sdk version: run it with `scorekeeper eval --callable/--command`")
    return version


def _kicked_off(st: State, run: Run, wait: bool) -> None:
    st.out.print(f"run {run.id} kicked off: {run.expected_records} records expected")
    if run.subset:
        st.out.print(f"  {run.subset['testcases']} of {run.subset['of']} testcases", highlight=False)
    if run.url:
        st.out.print(f"  {run.url}")
    if wait:
        final = watch(st.client, run.id, st.err)
        print_run(st.out, final)
        finished(final)


@runs.command("again")
def run_again(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run to do again.")],
    system_version: Annotated[
        str | None, typer.Option(help="Another version: id, or SYSTEM[:VERSION] (the production one).")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Its notes (default: which run it repeats).")] = None,
    tag: TagOption = None,
    wait: Annotated[bool, typer.Option(help="Watch the run until it is done.")] = False,
) -> None:
    """Kick off a run like RUN: its testset (the latest version) and the same testcases of it, its
    metrics (their latest versions), its trials and tags — of its system version, or of
    --system-version (say, a new prompt against last night's run)."""
    st = state(ctx)
    before = st.client.get_run(run_id)
    if not before.testset_id:
        raise CliError(f"run {before.id} is a monitor's window: it has no testset to run again")
    if not (system_version or before.system_version_id):
        raise CliError(f"run {before.id} ran a prompt, not a system version: give --system-version")
    version = _server_side(st, system_version or before.system_version_id)
    run = st.client.create_run(
        before.project_id,
        before.testset_id,
        version.id,
        [m.metric_id for m in before.metrics],
        source="kickoff",
        trials=before.trials,
        notes=f"again: run {before.id[:8]}" if notes is None else notes,
        tags=tag or before.tags,
        same_testcases_as_run_id=before.id,
    )
    _kicked_off(st, run, wait)


@runs.command("list")
def list_runs(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option(help="Only runs from this source; repeatable.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only runs with this status; repeatable.")] = None,
    testset: Annotated[str | None, typer.Option(help="Only runs of this testset (id or name).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs, newest first.")] = 20,
    archived: Annotated[bool, typer.Option("--archived", help="The archived runs instead of the others.")] = False,
    tag: Annotated[list[str] | None, typer.Option(help="Only runs with this tag; repeatable (all of them).")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only runs kicked off with the key in use.")] = False,
    schedule: Annotated[str | None, typer.Option(help="Only the runs this schedule kicked off (id or name).")] = None,
    as_json_: JsonOption = False,
) -> None:
    """The project's runs, newest first (archived runs only with --archived)."""
    st = state(ctx)
    by = st.client.who_am_i().prefix if mine else ""
    if mine and not by:
        raise CliError("--mine needs a project's API key: the instance admin key's runs are not told apart")
    sources = checked_sources(source)
    testset_id = st.testset(testset).id if testset else ""
    schedule_id = st.schedule(schedule).id if schedule else ""
    found: list[Run] = []
    for run in st.client.list_runs(
        st.project_id(),
        sources=sources,
        statuses=status or [],
        testset_id=testset_id,
        page_size=min(limit, 1000),
        archived=archived,
        tags=tag or [],
        created_by_key_prefix=by,
        schedule_id=schedule_id,
    ):
        found.append(run)
        if len(found) >= limit:
            break
    if as_json_:
        return emit_json(as_json(found))
    # Each run's change against its previous run (the console's runs list shows the same): the
    # previous runs listed too are read from the list, the others one GetRun each.
    listed = {r.id: r for r in found}
    wanted = {r.previous_run_id for r in found if r.previous_run_id and r.status in SCORED} - set(listed)
    previous = listed | {i: st.client.get_run(i) for i in sorted(wanted)}
    table = Table("id", "created", "by", "source", "status", "testset", "system", "records", "metrics", "tags")
    for run in found:
        system = f"{run.system_version.system_name}:{run.system_version.name}" if run.system_version else ""
        changes = moved(run, previous.get(run.previous_run_id))
        results = Text(", ").join(_result(m, changes.get(m.metric_id)) for m in run.metrics)
        table.add_row(
            run.id,
            run.created_at[:19],
            run.created_by,
            run.source,
            run.status,
            run.testset_name,
            system,
            f"{run.records}/{run.expected_records}",
            results,
            ", ".join(run.tags),
        )
    st.out.print(table)
    return None


def _short(value: float | None, output_type: str) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.0f}%" if output_type == "boolean" else f"{value:.2f}"


def _result(m: MetricSummary, change: float | None) -> Text:
    """A metric's result, with its change against the previous run: "exact 65% (-35.0)", red when worse."""
    shown = Text(f"{m.name} {_short(m.value, m.output_type)}")
    if change is not None:
        said = f"{change:+.1f}" if m.output_type == "boolean" else f"{change:+.2f}"
        style = "red" if change < -1e-9 else "green" if change > 1e-9 else ""
        shown.append(" (").append(said, style=style).append(")")
    return shown


@runs.command("watch")
def watch_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds (exit 2).")] = None,
) -> None:
    """Live progress of a run until it completes, fails or is cancelled (exit 3 for the last two)."""
    st = state(ctx)
    st.client.get_run(run_id)  # an unknown run fails here, before any display
    try:
        final = watch(st.client, run_id, st.err, timeout)
    except TimeoutError as exc:
        raise CliError(str(exc)) from None
    print_run(st.out, final)
    finished(final)


@runs.command("export")
def export(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    format: Annotated[str, typer.Option(help="csv or jsonl.")] = "csv",
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-': stdout).")] = Path("-"),
) -> None:
    """Every record of a run with its scores, as CSV or JSON lines."""
    st = state(ctx)
    if format not in EXPORT_FORMATS:
        raise CliError(f"--format must be csv or jsonl, got {format!r}")
    write_export(st, st.client.export_run(run_id, format), output)


@runs.command("rescore")
def rescore(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    metric: Annotated[list[str], typer.Option(help="Metric id or name (its latest version); repeatable.")],
    wait: Annotated[bool, typer.Option(help="Watch the run until scored again.")] = False,
) -> None:
    """Re-score a run's records with the metrics' latest versions, without executing the system."""
    st = state(ctx)
    run = st.client.get_run(run_id)
    chosen = st.metrics(metric, run.project_id)
    run = st.client.rescore_run(run_id, [m.id for m in chosen])
    st.out.print(f"run {run.id}: re-scoring with {', '.join(m.name for m in chosen)} ({run.status})")
    if wait:
        final = watch(st.client, run.id, st.err)
        print_run(st.out, final)
        finished(final)


@runs.command("retry-errors")
def retry_errors(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    wait: Annotated[bool, typer.Option(help="Watch the run until it is done again.")] = False,
) -> None:
    """Execute again only the errored testcases of a finished http / llm run; their new records
    replace them (the old errors stay in each record's history) and are scored."""
    st = state(ctx)
    result = st.client.retry_errored_records(run_id)
    st.out.print(f"run {run_id}: retrying {result.retried} errored records (retry {result.retry})")
    if result.run.url:
        st.out.print(f"  {result.run.url}")
    if wait:
        final = watch(st.client, run_id, st.err)
        print_run(st.out, final)
        finished(final)


@runs.command("tag")
def tag_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tags to add (or, with --remove, to remove).")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove these tags instead.")] = False,
) -> None:
    """Label a run ("nightly", a branch) — `runs list --tag` and the run history filter by tags."""
    st = state(ctx)
    run = st.client.update_run_tags(run_id, **{"remove" if remove else "add": tags})
    st.out.print(f"run {run.id} tags: {', '.join(run.tags) or '(none)'}", highlight=False)


@runs.command("cancel")
def cancel(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run ids.")],
) -> None:
    """Stop runs: no call to the system is made from then on (their records so far stay)."""
    st = state(ctx)
    for run_id in run_ids:
        run = st.client.cancel_run(run_id)
        st.out.print(f"run {run.id}: {run.status}, {run.records} of {run.expected_records} records", highlight=False)


@runs.command("notes")
def notes(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id.")],
    text: Annotated[str, typer.Argument(help="The run's notes ('' to clear them).")],
) -> None:
    """Set a run's notes (what was tried, why it ran)."""
    st = state(ctx)
    run = st.client.update_run_notes(run_id, text)
    st.out.print(f"run {run.id} notes: {run.notes or '(none)'}", highlight=False)


@runs.command("archive")
def archive(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run ids.")],
) -> None:
    """Hide finished runs from run lists, the run history charts, the Records page and the review
    queues (nothing is deleted; `runs unarchive` brings a run back)."""
    st = state(ctx)
    for run_id in run_ids:
        run = st.client.archive_run(run_id)
        st.out.print(f"archived run {run.id} ({run.status}, {run.testset_name or run.monitor_name})", highlight=False)


@runs.command("unarchive")
def unarchive(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run ids.")],
) -> None:
    """Bring archived runs back into the lists and charts."""
    st = state(ctx)
    for run_id in run_ids:
        run = st.client.unarchive_run(run_id)
        st.out.print(f"unarchived run {run.id}", highlight=False)
