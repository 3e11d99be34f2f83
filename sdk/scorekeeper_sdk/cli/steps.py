"""A call's steps (spans) in a terminal: the tree the record's and the call's pages show, one line
a step, indented under the step it ran in (`records show`, `calls show`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk.tracing import Span, in_tree, step_time
from scorekeeper_sdk.usage import amount


def print_steps(out: Any, spans: Sequence[Span]) -> None:
    """The steps as a table (nothing when there are none)."""
    if not spans:
        return
    table = Table(
        "step",
        "kind",
        Column("started", justify="right"),
        Column("took", justify="right"),
        Column("tokens", justify="right"),
        Column("cost", justify="right"),
        "error",
        title=f"{len(spans)} step{'' if len(spans) == 1 else 's'}",
        title_justify="left",
    )
    for depth, s in in_tree(spans):
        tokens = s.prompt_tokens + s.completion_tokens
        table.add_row(
            Text("  " * depth + s.name),
            Text(s.kind),
            "+" + step_time(s.start_ms),
            step_time(s.duration_ms),
            f"{tokens:,}" if tokens else "",
            amount(s.cost_usd, "usd") if s.cost_usd is not None else "",
            Text(s.error),
        )
    out.print(table)
