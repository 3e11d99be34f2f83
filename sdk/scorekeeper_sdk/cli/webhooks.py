"""`scorekeeper webhooks …`: the project's run webhooks — a URL told when runs finish (a chat
channel, a deploy gate): list, create (the signing secret shown once), test, see what was
delivered, delete (the admin role)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Column, Table

from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state
from scorekeeper_sdk.cli.context import CliError, State, is_id, metric_thresholds
from scorekeeper_sdk.models import Webhook, WebhookDelivery

STATUSES = ("completed", "failed", "cancelled", "awaiting_human_scoring")
SOURCES = ("api", "kickoff", "playground", "monitor", "ci", "schedule")

webhooks = typer.Typer(
    help="Run webhooks of the project: a URL told when runs finish (the admin role).", no_args_is_help=True
)
app.add_typer(webhooks, name="webhooks")


def _webhook(st: State, given: str) -> Webhook:
    """A webhook of the project by its id or its name."""
    found = st.client.list_webhooks(st.project_id())
    matches = [w for w in found if w.id == given] if is_id(given) else [w for w in found if w.name == given]
    if not matches:
        raise CliError(f"no webhook {given!r} in this project (see `scorekeeper webhooks list`)")
    if len(matches) > 1:
        raise CliError(f"{len(matches)} webhooks are named {given!r}: give the id")
    return matches[0]


def _check(on: list[str] | None, source: list[str] | None) -> None:
    for given, allowed, option in ((on, STATUSES, "--on"), (source, SOURCES, "--source")):
        wrong = [v for v in given or [] if v not in allowed]
        if wrong:
            raise CliError(f"{option} must be one of {', '.join(allowed)}, got {wrong[0]!r}")


def _outcome(d: WebhookDelivery | None) -> str:
    if d is None:
        return "none yet"
    answer = f"HTTP {d.response_status}" if d.response_status else d.error[:80]
    told = f"run {d.run_id[:8]} {d.run_status}" if d.run_id else d.event
    return f"{d.status} ({answer}) {d.created_at[:19]} {told}".replace(" ()", "")


BELOW = "METRIC=THRESHOLD: a completed run is told only when a metric is below its threshold (0.9, 90%); repeatable."


def _told(w: Webhook) -> str:
    parts = [", ".join(w.statuses)]
    if w.sources:
        parts.append("from " + ", ".join(w.sources))
    if w.tags:
        parts.append("tagged " + " or ".join(w.tags))
    if w.below:
        parts.append(f"completed runs only when below {len(w.below)} threshold{'s' if len(w.below) > 1 else ''}")
    return "; ".join(parts)


@webhooks.command("list")
def webhooks_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's webhooks: what each is told of, and its latest delivery."""
    st = state(ctx)
    found = st.client.list_webhooks(st.project_id())
    if as_json_:
        return emit_json(as_json(found))
    table = Table("name", Column("url", overflow="fold"), "format", "told of", "state", "last delivery", "id")
    for w in found:
        paused = f"paused {w.paused_at[:10]}" if w.paused_at else "active"
        table.add_row(w.name, w.url, w.format, _told(w), paused, _outcome(w.last_delivery), w.id)
    st.out.print(table)
    return None


@webhooks.command("create")
def webhooks_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What it is for: '#evals channel', 'deploy gate'.")],
    url: Annotated[str, typer.Argument(help="The http(s) URL POSTed to; the executors' allowlist must allow it.")],
    on: Annotated[
        list[str] | None,
        typer.Option("--on", help=f"A run status to tell of ({', '.join(STATUSES)}); repeat it. Default: finished."),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option(help=f"Only runs from this source ({', '.join(SOURCES)}); repeat it.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only runs carrying this tag (any of them); repeat it.")] = None,
    slack: Annotated[
        bool, typer.Option("--slack", help='Send {"text": …} alone, for a Slack incoming webhook.')
    ] = False,
    below: Annotated[list[str] | None, typer.Option(help=BELOW)] = None,
) -> None:
    """A webhook told when the project's runs finish. Its signing secret goes to stdout alone, once
    (SECRET=$(scorekeeper webhooks create …)); what it is goes to stderr."""
    _check(on, source)
    st = state(ctx)
    made = st.client.create_webhook(
        st.project_id(),
        name,
        url,
        format="slack" if slack else "json",
        statuses=on or [],
        sources=source or [],
        tags=tag or [],
        below=metric_thresholds(st, below or [], "--below"),
    )
    st.err.print(
        f"created webhook {made.webhook.name!r} ({made.webhook.id}), told of {_told(made.webhook)};"
        " its signing secret is below, shown this once",
        highlight=False,
    )
    st.out.print(made.secret, highlight=False, soft_wrap=True)


@webhooks.command("update")
def webhooks_update(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="The webhook's id or name.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    on: Annotated[list[str] | None, typer.Option("--on", help="Replace the statuses told of (repeat it).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Replace the sources (repeat it).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Replace the tags (repeat it).")] = None,
    every_source: Annotated[bool, typer.Option("--every-source", help="Told of runs of every source.")] = False,
    every_run: Annotated[bool, typer.Option("--every-run", help="Told of runs whatever their tags.")] = False,
    format: Annotated[str | None, typer.Option(help="json (the whole document) or slack (its text).")] = None,
    pause: Annotated[
        bool | None, typer.Option("--pause/--resume", help="Tell it of no run until resumed / resume it.")
    ] = None,
    rotate_secret: Annotated[
        bool, typer.Option("--rotate-secret", help="A new signing secret, printed to stdout alone, once.")
    ] = False,
    below: Annotated[list[str] | None, typer.Option(help="Replace the thresholds: " + BELOW)] = None,
    always: Annotated[bool, typer.Option("--always", help="Drop the thresholds: told of every run again.")] = False,
) -> None:
    """Change a webhook: only what is given changes."""
    _check(on, source)
    if format is not None and format not in ("json", "slack"):
        raise CliError(f"--format must be json or slack, got {format!r}")
    if (source and every_source) or (tag and every_run) or (below and always):
        raise CliError("give --source or --every-source, --tag or --every-run, --below or --always, not both")
    st = state(ctx)
    target = _webhook(st, webhook)
    updated = st.client.update_webhook(
        target.id,
        name=name,
        url=url,
        format=format,
        statuses=on,
        sources=[] if every_source else source,
        tags=[] if every_run else tag,
        paused=pause,
        rotate_secret=rotate_secret,
        below={} if always else metric_thresholds(st, below, "--below") if below else None,
    )
    hook = updated.webhook
    state_ = "paused" if hook.paused_at else "active"
    st.err.print(f"webhook {hook.name!r} ({state_}): {hook.url}, told of {_told(hook)}", highlight=False)
    if updated.secret:
        st.err.print("its new signing secret is below, shown this once; the old one no longer signs")
        st.out.print(updated.secret, highlight=False, soft_wrap=True)


@webhooks.command("test")
def webhooks_test(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="The webhook's id or name.")],
    timeout_s: Annotated[float, typer.Option(min=1, help="How long to wait for the outcome.")] = 60,
) -> None:
    """Send a webhook.test document now and wait for its outcome; exit 1 when it was not delivered."""
    st = state(ctx)
    target = _webhook(st, webhook)
    sent = st.client.test_webhook(target.id)
    deadline = time.monotonic() + timeout_s
    while True:
        found = next((d for d in st.client.list_webhook_deliveries(target.id, page_size=20) if d.id == sent.id), sent)
        if found.status in ("delivered", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    st.out.print(f"{target.name}: {_outcome(found)}", highlight=False)
    if found.status != "delivered":
        if found.status == "retrying":
            st.err.print(f"still retrying ({found.attempts} attempts): {found.error}", highlight=False)
        raise typer.Exit(1)


@webhooks.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="The webhook's id or name.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    as_json_: JsonOption = False,
) -> None:
    """What was sent to the webhook, newest first, and what its URL answered."""
    st = state(ctx)
    target = _webhook(st, webhook)
    found = []
    for d in st.client.list_webhook_deliveries(target.id, page_size=min(limit, 100)):
        found.append(d)
        if len(found) >= limit:
            break
    if as_json_:
        return emit_json(as_json(found))
    table = Table(
        Column("created", no_wrap=True),
        "event",
        "run",
        "status",
        "attempts",
        "answer",
        Column("error", overflow="fold"),
    )
    for d in found:
        run = f"{d.run_id} {d.run_status}" if d.run_id else ""
        answer = str(d.response_status) if d.response_status else ""
        table.add_row(d.created_at[:19], d.event, run, d.status, str(d.attempts), answer, d.error)
    st.out.print(table)
    return None


@webhooks.command("delete")
def webhooks_delete(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="The webhook's id or name.")],
) -> None:
    """Delete a webhook: nothing more is sent to it."""
    st = state(ctx)
    target = _webhook(st, webhook)
    st.client.delete_webhook(target.id)
    st.out.print(f"deleted webhook {target.name!r} ({target.url})", highlight=False)
