"""The `scorekeeper` command: every error is one line on stderr (a traceback only with --debug),
and the exit code says what happened (see ``app.EXIT_CODES``)."""

from __future__ import annotations

import copy
import logging
import sys
import traceback

import typer
from typer.main import get_command_name

from scorekeeper_sdk.cli import (  # noqa: F401 - they register their commands on the app
    call_analysis,
    calls,
    evaluate,
    keys,
    monitor_alerts,
    monitors,
    records,
    reviews,
    run_analysis,
    run_compare,
    run_history,
    runs,
    schedules,
    steps,
    system_versions,
    testset_changes,
    webhooks,
)
from scorekeeper_sdk.cli.app import app
from scorekeeper_sdk.cli.context import GATE_FAILED, OK, RUN_FAILED, USAGE, CliError
from scorekeeper_sdk.config import ConfigError
from scorekeeper_sdk.errors import ScorekeeperError

__all__ = ["GATE_FAILED", "OK", "RUN_FAILED", "USAGE", "globals_first", "main", "run"]

INTERRUPTED = 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


# The options of every command (app.root): also taken after the command, as users write them.
_GLOBAL_VALUED = ("--url", "--query-url", "--api-key", "--project")
_GLOBAL_FLAGS = ("--debug", "--no-debug")


def _command_at(args: list[str]) -> int:
    """Where the command's name is in the arguments (past the global options before it)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GLOBAL_VALUED else 1
    return i


def globals_first(args: list[str]) -> list[str]:
    """``scorekeeper runs list --project mine`` as ``scorekeeper --project mine runs list``: click
    takes a group's options only before its command. ``login`` has options of those names of its
    own and keeps them; nothing after ``--`` moves."""
    i = _command_at(args)
    if i >= len(args) or args[i] == "login":
        return args
    head, rest, moved = args[:i], args[i:], []
    kept: list[str] = []
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept.extend(rest[j:])
            break
        name = token.split("=", 1)[0]
        if (name in _GLOBAL_VALUED and "=" in token) or token in _GLOBAL_FLAGS:
            moved.append(token)
        elif token in _GLOBAL_VALUED and j + 1 < len(rest):
            moved.extend(rest[j : j + 2])
            j += 1
        else:
            kept.append(token)
        j += 1
    return head + moved + kept


def run(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    args = globals_first(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    # run_and_evaluate says how to resume an interrupted run through this logger.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    command = typer.main.get_command(invoked(args))
    try:
        result = command.main(args, prog_name="scorekeeper", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("interrupted\n")
        return INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        code, message = _describe(exc)
        sys.stderr.write(f"error: {_one_line(message)}\n")
        return code
    return result if isinstance(result, int) else OK


def invoked(args: list[str]) -> typer.Typer:
    """The app with only the branch the arguments name: turning every command's
    parameters into click's costs ~0.25 s, a third of a command's time. The whole tree when no
    command is named (``--help``, shell completion) or an unknown one (click then lists them)."""
    i = _command_at(args)
    name = args[i] if i < len(args) else None
    pruned = copy.copy(app)
    pruned.registered_commands = [
        c for c in app.registered_commands if c.callback and (c.name or get_command_name(c.callback.__name__)) == name
    ]
    pruned.registered_groups = [g for g in app.registered_groups if g.name == name]
    return pruned if pruned.registered_commands or pruned.registered_groups else app


def _describe(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, CliError):
        return exc.code, exc.message
    if isinstance(exc, typer.TyperException):
        # Typer's own copy of click's usage errors: a bad option, a missing one, a bad value.
        message = str(getattr(exc, "format_message", lambda: str(exc))())
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return USAGE, message + hint
    if isinstance(exc, ScorekeeperError):
        return USAGE, exc.message
    if isinstance(exc, ConfigError | ValueError):
        return USAGE, str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return USAGE, f"{exc.strerror or exc}{':' + where if where else ''}"
    return USAGE, f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"


def main() -> None:
    """The console script."""
    sys.exit(run())
