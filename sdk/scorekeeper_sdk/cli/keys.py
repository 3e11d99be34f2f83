"""`scorekeeper keys …` and `scorekeeper projects create`: what a team admin does from a shell —
list the project's keys, make one for a person or a CI job, rotate or revoke one (the admin role)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, projects, state
from scorekeeper_sdk.cli.context import CliError, State, is_id
from scorekeeper_sdk.models import ApiKey, AuditEvent

ROLES = ("read", "write", "admin")

keys = typer.Typer(help="API keys of the project: list, create, rotate, revoke (the admin role).", no_args_is_help=True)
app.add_typer(keys, name="keys")


def _status(key: ApiKey) -> str:
    if key.revoked_at:
        return f"revoked {key.revoked_at[:10]}"
    if key.expires_at:
        at = datetime.fromisoformat(key.expires_at).astimezone(UTC)
        return f"{'expired' if at <= datetime.now(UTC) else 'expires'} {at:%Y-%m-%d}"
    return "active"


def _utc(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _key(st: State, given: str) -> ApiKey:
    """A key of the project by its id, its public prefix (sk_…) or its name."""
    found = st.client.list_api_keys(st.project_id())
    if is_id(given):
        matches = [k for k in found if k.id == given]
    else:
        matches = [k for k in found if k.prefix == given] or [k for k in found if k.name == given]
    if not matches:
        raise CliError(f"no key {given!r} in this project (see `scorekeeper keys list`)")
    active = [k for k in matches if not k.revoked_at]
    if len(active) > 1:
        listed = ", ".join(k.prefix for k in active)
        raise CliError(f"{len(active)} active keys are named {given!r} ({listed}): give the prefix or the id")
    return (active or matches)[0]


@keys.command("list")
def keys_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's keys (never their secrets): name, role, prefix, last use, status."""
    st = state(ctx)
    found = st.client.list_api_keys(st.project_id())
    if as_json_:
        return emit_json(as_json(found))
    # The prefix whole (it names a key to revoke) and the status first; the rest may fold.
    table = Table(
        Column("prefix", no_wrap=True), "name", "role", Column("status", no_wrap=True), "last used", "created", "id"
    )
    for k in found:
        table.add_row(k.prefix, k.name, k.role, _status(k), k.last_used_at[:19] or "never", k.created_at[:19], k.id)
    st.out.print(table)
    return None


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what uses it: a person, a CI job.")],
    role: Annotated[str, typer.Option(help="read (look), write (run, edit, review) or admin (also keys).")],
    expires_in_days: Annotated[
        int, typer.Option(min=0, max=3650, help="Refused as expired this many days from now (0: never).")
    ] = 0,
) -> None:
    """A new key of the project. Its secret goes to stdout alone, once (KEY=$(scorekeeper keys create
    ci --role write)); what it is goes to stderr. Only a hash is kept: it cannot be shown again."""
    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    st = state(ctx)
    made = st.client.create_api_key(st.project_id(), name, role, expires_in_days=expires_in_days)
    until = ""
    if made.key.expires_at:
        until = f", expiring {_utc(made.key.expires_at)}"
    st.err.print(
        f"created key {made.key.prefix} {made.key.name!r} ({made.key.role}{until}) of project {made.key.project_id};"
        " its secret is below, shown this once",
        highlight=False,
    )
    st.out.print(made.secret, highlight=False, soft_wrap=True)


@keys.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key's id, its prefix (sk_…) or its name.")],
) -> None:
    """Revoke a key: every call with it is refused from now on (it stays listed, as revoked)."""
    st = state(ctx)
    target = _key(st, key)
    if target.revoked_at:
        raise CliError(f"key {target.prefix} {target.name!r} is already revoked ({target.revoked_at[:19]})")
    revoked = st.client.revoke_api_key(target.id)
    st.out.print(f"revoked key {revoked.prefix} {revoked.name!r} ({revoked.role})", highlight=False)


@keys.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key's id, its prefix (sk_…) or its name.")],
    grace_hours: Annotated[
        int, typer.Option(min=0, max=720, help="How long the old key keeps working (0: revoked now).")
    ] = 0,
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=0, max=3650, help="The new key's life in days (0: never); default: as the old key's."),
    ] = None,
) -> None:
    """A new key in place of this one (its name and role). Its secret goes to stdout alone, once
    (KEY=$(scorekeeper keys rotate ci --grace-hours 24)); the old key works --grace-hours more, so
    whatever uses it can move to the new one first."""
    st = state(ctx)
    target = _key(st, key)
    rotated = st.client.rotate_api_key(target.id, grace_hours=grace_hours, expires_in_days=expires_in_days)
    new, old = rotated.key, rotated.replaced
    until = f", expiring {_utc(new.expires_at)}" if new.expires_at else ""
    left = "revoked now" if old.revoked_at else f"working until {_utc(old.expires_at)}"
    st.err.print(
        f"created key {new.prefix} {new.name!r} ({new.role}{until}) in place of {old.prefix}, {left};"
        " its secret is below, shown this once",
        highlight=False,
    )
    st.out.print(rotated.secret, highlight=False, soft_wrap=True)


@projects.command("create")
def projects_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project's name, unique on the instance.")],
    description: Annotated[str, typer.Option(help="What the project evaluates.")] = "",
) -> None:
    """A new project (the instance admin key). Give it an admin key with
    `scorekeeper --project NAME keys create NAME --role admin`."""
    st = state(ctx)
    made = st.client.create_project(name, description)
    st.out.print(f"created project {made.name!r} ({made.id})", highlight=False)


@projects.command("update")
def projects_update(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    call_retention_days: Annotated[
        int | None, typer.Option(help="Delete logged production calls this many days old (0: keep them).")
    ] = None,
) -> None:
    """Rename the project (--project, or the key's), change its description, or how long its logged
    calls are kept (the admin role)."""
    st = state(ctx)
    if name is None and description is None and call_retention_days is None:
        raise CliError("give --name, --description and / or --call-retention-days")
    updated = st.client.update_project(
        st.project_id(), name=name, description=description, call_retention_days=call_retention_days
    )
    kept = f"{updated.calls_kept_days} days" if updated.calls_kept_days else "for ever"
    if updated.call_retention_limit_days and not updated.call_retention_days:
        kept += " (the instance's limit)"
    st.out.print(
        f"project {updated.id}: {updated.name!r}, {updated.description!r}; logged calls kept {kept}", highlight=False
    )


@app.command("audit")
def audit(
    ctx: typer.Context,
    action: Annotated[
        list[str] | None, typer.Option(help="Only this RPC (CreateApiKey, RevokeApiKey, CreateRun …); repeatable.")
    ] = None,
    key: Annotated[str, typer.Option(help="Only the calls of this key: its id, prefix (sk_…) or name.")] = "",
    failed: Annotated[bool, typer.Option("--failed", help="Only the calls refused or failed.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many events, newest first.")] = 50,
    as_json_: JsonOption = False,
) -> None:
    """The project's audit log (the admin role): every change a key made through the API, and every
    attempt at one it was refused — when, which key, the action, what it named, the outcome."""
    st = state(ctx)
    key_id = _key(st, key).id if key else ""
    found = []
    for event in st.client.list_audit_events(
        st.project_id(), actions=action or [], key_id=key_id, failed_only=failed, page_size=min(limit, 500)
    ):
        found.append(event)
        if len(found) >= limit:
            break
    if as_json_:
        return emit_json(as_json(found))
    table = Table(Column("at", no_wrap=True), "key", "action", "from", "name", "targets", "outcome")
    for e in found:
        who = e.key_name if e.key_prefix in ("", e.key_name) else f"{e.key_prefix} {e.key_name}"
        outcome = _outcome(e)
        source = f"{e.edge} {e.client}".strip()
        table.add_row(_utc(e.at), who, e.action, source, e.name, _named(e), outcome)
    st.out.print(table)
    if not found:
        st.err.print("no events", highlight=False)
    return None


def _outcome(event: AuditEvent) -> Text:
    """OK; the error's code (red) and message; or, for a call not answered, what that may mean
    (the consoles print no markup: names and messages are shown as written)."""
    if event.outcome == "OK":
        return Text("OK")
    if event.outcome == "NO_ANSWER":
        why = event.error or "still running, or its service stopped before it answered"
        return Text.assemble(("no answer", "yellow"), f": {why}")
    return Text.assemble((event.outcome, "red"), f": {event.error}")


def _named(event: AuditEvent) -> str:
    """What an event named, short: "metric_id 5f0c1a2b, created 9a1b2c3d", "record_ids 40 ids" (the
    project it is in left out; --json has the ids whole)."""
    parts = []
    for t in event.targets:
        if t.field == "project_id":
            continue
        shown = ", ".join(i[:8] for i in t.ids) if t.count == len(t.ids) <= 3 else f"{t.count} ids"
        parts.append(f"{t.field} {shown}")
    return "; ".join(parts)
