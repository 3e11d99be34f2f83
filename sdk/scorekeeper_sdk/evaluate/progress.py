"""The progress of an evaluation: a rich bar on a terminal (done / errored / rate / ETA), else silence."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Tracker(Protocol):
    """What the runner reports as it goes."""

    def start(self, total: int, description: str) -> None: ...
    def called(self, errored: bool) -> None: ...
    def uploaded(self, count: int) -> None: ...
    def note(self, message: str) -> None: ...
    def stop(self) -> None: ...


class Quiet:
    """Reports nothing (not a terminal, or ``progress=False``)."""

    def start(self, total: int, description: str) -> None:
        pass

    def called(self, errored: bool) -> None:
        pass

    def uploaded(self, count: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def stop(self) -> None:
        pass


class Bar:
    """A live bar on stderr: calls done of the total, errored calls, records uploaded, rate, ETA."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("[red]{task.fields[errored]} errored[/] · {task.fields[uploaded]} uploaded"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._errored = 0
        self._uploaded = 0

    def start(self, total: int, description: str) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, errored=0, uploaded=0, rate="")

    def called(self, errored: bool) -> None:
        if self._task is None:
            return
        self._errored += errored
        self._progress.advance(self._task)
        speed = self._progress.tasks[0].speed
        rate = f"{speed:.1f}/s" if speed else ""
        self._progress.update(self._task, errored=self._errored, rate=rate)

    def uploaded(self, count: int) -> None:
        self._uploaded += count
        if self._task is not None:
            self._progress.update(self._task, uploaded=self._uploaded)

    def note(self, message: str) -> None:
        self._console.print(message)

    def stop(self) -> None:
        self._progress.stop()


def tracker(progress: bool, console: Console | None = None) -> Tracker:
    """A bar when asked for and stderr is a terminal, else a quiet tracker."""
    console = console or Console(stderr=True)
    return Bar(console) if progress and console.is_terminal else Quiet()
