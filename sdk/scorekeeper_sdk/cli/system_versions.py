"""`scorekeeper systems version|production`: a server-side system (http, llm) from the shell — a
new version from its JSON config, and which version is the system's production one (what
schedules and `runs kickoff --system-version SYSTEM` run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from scorekeeper_sdk.cli.app import state, systems
from scorekeeper_sdk.cli.context import CliError


def _config(text: str | None, path: Path | None) -> dict[str, Any]:
    if (text is None) == (path is None):
        raise CliError("give the version's config as --config JSON or --config-file FILE, one of them")
    source = "--config" if text is not None else str(path)
    try:
        config = json.loads(text if text is not None else path.read_text())  # type: ignore[union-attr]
    except json.JSONDecodeError as exc:
        raise CliError(f"{source} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise CliError(f"{source} must be a JSON object, got {type(config).__name__}")
    return config


@systems.command("version")
def systems_version(
    ctx: typer.Context,
    system: Annotated[str, typer.Argument(help="The system's name (made with its first version).")],
    name: Annotated[str, typer.Argument(help="The version's name: 'v2', a commit.")],
    kind: Annotated[
        str, typer.Option(help="http (an endpoint the executor calls) or llm (a prompt run on the server).")
    ],
    config: Annotated[str | None, typer.Option(help="The kind's config as JSON.")] = None,
    config_file: Annotated[
        Path | None, typer.Option(help="The config in a JSON file.", exists=True, dir_okay=False)
    ] = None,
) -> None:
    """A new version of a server-side system (the system is made with its first version, which
    becomes its production version)."""
    st = state(ctx)
    made = st.client.create_system_version_by_name(st.project_id(), system, kind, _config(config, config_file), name)
    st.out.print(f"created version {made.name!r} ({made.id}) of system {system!r}, {made.kind}", highlight=False)


@systems.command("production")
def systems_production(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="SYSTEM:VERSION names, or the version's id.")],
) -> None:
    """Make a version its system's production version (what schedules naming the system run)."""
    st = state(ctx)
    chosen = st.system_version(version)
    if ":" not in version and not chosen.id == version:
        raise CliError("name the version as SYSTEM:VERSION (or give its id)")
    updated = st.client.set_production_version(chosen.system_id, chosen.id)
    st.out.print(f"system {updated.name!r}: production version {chosen.name!r} ({chosen.id})", highlight=False)
