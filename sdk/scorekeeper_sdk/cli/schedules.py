"""`scorekeeper schedules …`: runs kicked off on a cron schedule in a time zone — list, create,
pause, resume, change, run now, delete (the write role)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.table import Table

from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state
from scorekeeper_sdk.cli.context import CliError, State
from scorekeeper_sdk.models import Schedule

schedules = typer.Typer(
    help="Scheduled runs: a run kicked off each time a cron expression comes due (in a time zone, UTC by default).",
    no_args_is_help=True,
)
app.add_typer(schedules, name="schedules")


def _system_id(st: State, name_or_id: str) -> str:
    for detail in st.client.list_systems(st.project_id()):
        if name_or_id in (detail.system.id, detail.system.name):
            return detail.system.id
    raise CliError(f"no system {name_or_id!r} in this project (see `scorekeeper systems list`)")


def _next(s: Schedule) -> str:
    """When it fires next, on its own time zone's clock."""
    if s.paused_at:
        return f"paused {s.paused_at[:10]}"
    due = datetime.fromisoformat(s.next_run_at)
    try:
        return f"{due.astimezone(ZoneInfo(s.timezone)):%Y-%m-%d %H:%M} {s.timezone}"
    except ZoneInfoNotFoundError:  # this machine has no time zone data: UTC, as the server sent it
        return f"{due:%Y-%m-%d %H:%M} UTC"


def _when(s: Schedule) -> str:
    return f"{s.cron} {s.timezone}"


@schedules.command("list")
def schedules_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's schedules: when each fires next, and what its last firing made."""
    st = state(ctx)
    found = st.client.list_schedules(st.project_id())
    if as_json_:
        return emit_json(as_json(found))
    table = Table("name", "cron", "next", "last run", "last error", "id")
    for s in found:
        table.add_row(s.name, _when(s), _next(s), s.last_run_id[:8], s.last_error[:80], s.id)
    st.out.print(table)
    return None


@schedules.command("create")
def schedules_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Unique in the project: 'nightly'.")],
    cron: Annotated[str, typer.Option(help="Five fields: '0 2 * * *' is every day at 02:00 (in --timezone).")],
    testset: Annotated[str, typer.Option(help="Testset id or name (its latest version is run).")],
    system: Annotated[str | None, typer.Option(help="System id or name: its production version at each run.")] = None,
    system_version: Annotated[
        str | None, typer.Option(help="Or a pinned version: id, or SYSTEM:VERSION names.")
    ] = None,
    metric: Annotated[list[str] | None, typer.Option(help="Metric id or name; repeat for several.")] = None,
    metric_group: Annotated[str, typer.Option(help="A metric group id, instead of or besides --metric.")] = "",
    trials: Annotated[int, typer.Option(min=1, help="Executions per testcase.")] = 1,
    tag: Annotated[list[str] | None, typer.Option(help="A tag of its runs; repeat for several.")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Made paused (resume it later).")] = False,
    timezone: Annotated[str, typer.Option(help="The IANA time zone the cron is read in: 'Europe/Berlin'.")] = "UTC",
) -> None:
    """A schedule that kicks off a run of the testset, the system and the metrics each time the
    cron expression comes due."""
    if (system is None) == (system_version is None):
        raise CliError("give --system (its production version at each run) or --system-version (pinned), one of them")
    st = state(ctx)
    made = st.client.create_schedule(
        st.project_id(),
        name,
        cron,
        st.testset(testset).id,
        [m.id for m in st.metrics(metric or [])],
        system_id=_system_id(st, system) if system is not None else "",
        system_version_id=st.system_version(system_version).id if system_version is not None else "",
        metric_group_id=metric_group,
        trials=trials,
        tags=tag or [],
        paused=paused,
        timezone=timezone,
    )
    st.out.print(f"created schedule {made.name!r} ({made.id}): {_when(made)}, next {_next(made)}", highlight=False)


@schedules.command("update")
def schedules_update(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule's id or name.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    cron: Annotated[str | None, typer.Option(help="A new cron expression.")] = None,
    timezone: Annotated[str | None, typer.Option(help="A new IANA time zone for the cron.")] = None,
    pause: Annotated[bool | None, typer.Option("--pause/--resume", help="Pause it / resume it.")] = None,
    testset: Annotated[str | None, typer.Option(help="Another testset (id or name).")] = None,
    system: Annotated[str | None, typer.Option(help="Run this system's production version from now on.")] = None,
    system_version: Annotated[str | None, typer.Option(help="Or this pinned version (id or SYSTEM:VERSION).")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="The metrics from now on; repeat for several.")] = None,
    metric_group: Annotated[str | None, typer.Option(help="The metric group from now on ('' for none).")] = None,
    trials: Annotated[int | None, typer.Option(min=1, help="Executions per testcase.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="The runs' tags from now on; repeat for several.")] = None,
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Its runs get no tags from now on.")] = False,
) -> None:
    """Change a schedule: only what is given changes (--metric / --metric-group replace its metrics,
    --tag its tags)."""
    if system is not None and system_version is not None:
        raise CliError("give --system or --system-version, not both")
    if tag and no_tags:
        raise CliError("give --tag or --no-tags, not both")
    changes = (name, cron, timezone, pause, testset, system, system_version, metric, metric_group, trials, tag)
    if all(c is None for c in changes) and not no_tags:
        raise CliError("give something to change: see `scorekeeper schedules update --help`")
    st = state(ctx)
    updated = st.client.update_schedule(
        st.schedule(schedule).id,
        name=name,
        cron=cron,
        paused=pause,
        timezone=timezone,
        testset_id=st.testset(testset).id if testset is not None else None,
        system_id=_system_id(st, system) if system is not None else None,
        system_version_id=st.system_version(system_version).id if system_version is not None else None,
        metric_ids=[m.id for m in st.metrics(metric)] if metric else None,
        metric_group_id=metric_group,
        trials=trials,
        tags=[] if no_tags else tag,
    )
    st.out.print(f"schedule {updated.name!r}: {_when(updated)}, next {_next(updated)}", highlight=False)


@schedules.command("run")
def schedules_run(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule's id or name.")],
) -> None:
    """Kick off the schedule's run now (its due times do not change)."""
    st = state(ctx)
    run = st.client.run_schedule_now(st.schedule(schedule).id)
    st.out.print(f"run {run.id} kicked off: {run.expected_records} records expected")
    if run.url:
        st.out.print(f"  {run.url}")


@schedules.command("delete")
def schedules_delete(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(help="The schedule's id or name.")],
) -> None:
    """Delete a schedule (the runs it made stay)."""
    st = state(ctx)
    gone = st.client.delete_schedule(st.schedule(schedule).id)
    st.out.print(f"deleted schedule {gone.name!r}", highlight=False)
