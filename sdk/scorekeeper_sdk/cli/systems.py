"""The local systems `scorekeeper eval` runs: a command, or a Python callable.

``--command``: one process per testcase. The testcase's inputs arrive as one JSON object (and a
newline) on stdin; the process writes its answer as one JSON value on stdout and exits 0. The
answer takes the forms of ``scorekeeper_sdk.evaluate.outputs`` (a string, an object, usage under
"_scorekeeper"). A non-zero exit, a timeout or stdout that is not JSON makes an errored record.
One process per testcase keeps testcases independent (no state leaks between them, a crash costs
one record) and needs nothing of the program but stdin and stdout; its cost is a process start
per call, which ``--concurrency`` spreads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from scorekeeper_sdk.cli.context import CliError

_EXCERPT = 200


class CommandFailed(RuntimeError):
    """The command exited non-zero or answered something that is not JSON."""


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def parse_answer(stdout: bytes) -> Any:
    """The whole stdout as one JSON value, or else its last non-empty line (after log lines)."""
    text = stdout.decode("utf-8", "replace").strip()
    if not text:
        raise CommandFailed("the command wrote nothing on stdout")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    last = text.splitlines()[-1]
    try:
        return json.loads(last)
    except json.JSONDecodeError:
        raise CommandFailed(f"stdout is not JSON: {_excerpt(stdout)}") from None


class CommandSystem:
    """Runs ``command`` (through the shell) once per testcase."""

    def __init__(self, command: str, timeout_s: float) -> None:
        self.command = command
        self.timeout_s = timeout_s
        # The sdk system is named after the command unless --system-name says otherwise.
        self.__name__ = f"command: {command}"

    async def __call__(self, inputs: dict[str, Any]) -> Any:
        process = await asyncio.create_subprocess_shell(
            self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # A group of its own, so a timeout stops the command's children too, not just the shell.
            start_new_session=True,
        )
        payload = json.dumps(inputs, ensure_ascii=False).encode() + b"\n"
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(payload), self.timeout_s)
        except BaseException as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            if isinstance(exc, TimeoutError):
                raise TimeoutError(f"no answer within {self.timeout_s:g}s") from None
            raise
        if process.returncode != 0:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            raise CommandFailed(
                f"exit code {process.returncode}: {_excerpt(lines[-1].encode()) if lines else 'no stderr'}"
            )
        return parse_answer(stdout)


def load_callable(spec: str, option: str = "--callable") -> Any:
    """``pkg.module:function`` (or ``:Class.method``), imported with the working directory on the path."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"{option} takes MODULE:FUNCTION (e.g. my_bot:answer), got {spec!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise CliError(f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CliError(f"{module_name} has no {attribute}") from None
    if not callable(target):
        raise CliError(f"{spec} is not callable")
    return target
