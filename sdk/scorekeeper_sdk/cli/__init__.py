"""The `scorekeeper` command: every error is one line on stderr (a traceback only with --debug),
and the exit code says what happened (see ``app.EXIT_CODES``)."""

from __future__ import annotations

import logging
import sys
import traceback

import typer

from scorekeeper_sdk.cli import evaluate, monitors, reviews, runs  # noqa: F401 - they register their commands on the app
from scorekeeper_sdk.cli.app import app
from scorekeeper_sdk.cli.context import GATE_FAILED, OK, RUN_FAILED, USAGE, CliError
from scorekeeper_sdk.config import ConfigError
from scorekeeper_sdk.errors import ScorekeeperError

__all__ = ["GATE_FAILED", "OK", "RUN_FAILED", "USAGE", "main", "run"]

INTERRUPTED = 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


def run(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # run_and_evaluate says how to resume an interrupted run through this logger.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    command = typer.main.get_command(app)
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
