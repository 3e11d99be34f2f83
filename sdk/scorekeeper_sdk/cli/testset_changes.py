"""`scorekeeper testsets diff`: what changed between two versions of a testset — before CI pins a new
version, or when a run's scores moved and the testset may be why."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.cli.app import JsonOption, emit_json, state, testsets
from scorekeeper_sdk.cli.context import State
from scorekeeper_sdk.models import Testcase, TestcaseChange, TestsetChanges

PAGE = 500


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def field_changes(before: Testcase, after: Testcase) -> list[str]:
    """``field: old → new`` for each data field that differs; when the data is the same (a mapping
    or schema change), the derived parts and validation errors that differ."""
    keys = list(dict.fromkeys([*before.data, *after.data]))
    missing = object()
    shown = [
        f"{k}: {_json(before.data.get(k)) if k in before.data else '(none)'}"
        f" → {_json(after.data.get(k)) if k in after.data else '(none)'}"
        for k in keys
        if before.data.get(k, missing) != after.data.get(k, missing)
    ]
    for part in ("inputs", "expected", "metadata"):
        old, new = getattr(before, part), getattr(after, part)
        if old != new and not shown:
            shown.append(f"{part}: {_json(old)} → {_json(new)}")
    errors = [
        "; ".join(f"{e.path or '/'} {e.message}" for e in t.validation_errors) or "valid" for t in (before, after)
    ]
    if errors[0] != errors[1]:
        shown.append(f"validation: {errors[0]} → {errors[1]}")
    return shown


def _what(change: TestcaseChange) -> str:
    if change.before is not None and change.after is not None:
        return "\n".join(field_changes(change.before, change.after))
    testcase = change.after or change.before
    assert testcase is not None  # an added testcase has an after, a removed one a before
    return _json(testcase.data)


def _changes(st: State, testset_id: str, before: int, after: int, limit: int) -> Iterator[TestsetChanges]:
    """Pages of the comparison until ``limit`` changes (the first page's counts cover all)."""
    token, taken = "", 0
    while True:
        page = st.client.compare_testset_versions(testset_id, before, after, min(PAGE, limit - taken + 1), token)
        yield page
        taken += len(page.changes)
        token = page.next_page_token
        if not token or taken > limit:
            return


@testsets.command("diff")
def testsets_diff(
    ctx: typer.Context,
    testset: Annotated[str, typer.Argument(help="Testset id or name.")],
    from_version: Annotated[int, typer.Option("--from", min=0, help="The older version (0: the one before --to).")] = 0,
    to_version: Annotated[int, typer.Option("--to", min=0, help="The newer version (0: the latest).")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Changes to show.")] = 50,
    as_json_: JsonOption = False,
) -> None:
    """What changed between two versions: testcases added, removed and changed (field by field)."""
    st = state(ctx)
    target = st.testset(testset)
    pages = list(_changes(st, target.id, from_version, to_version, limit))
    first = pages[0]
    changes = [c for p in pages for c in p.changes]
    more, changes = len(changes) > limit, changes[:limit]
    if as_json_:
        return emit_json({**dataclasses.asdict(first), "changes": [dataclasses.asdict(c) for c in changes]})
    parts = [f"{first.added} added", f"{first.removed} removed", f"{first.changed} changed"]
    parts.append(f"{first.unchanged} unchanged")
    parts += [
        what
        for flag, what in ((first.schema_changed, "schema changed"), (first.mapping_changed, "mapping changed"))
        if flag
    ]
    st.out.print(f"{target.name} v{first.from_version} → v{first.to_version}: {', '.join(parts)}", highlight=False)
    if not changes:
        return None
    table = Table("#", "change", "id", "what changed")
    for c in changes:
        testcase = c.after or c.before
        assert testcase is not None
        # Text, not markup: a testcase's own "[...]" is shown as written.
        table.add_row(str(testcase.position + 1), c.change, c.testcase_id, Text(_what(c)))
    st.out.print(table)
    if more:
        st.err.print(f"the first {limit} changes; --limit shows more", highlight=False)
    return None
