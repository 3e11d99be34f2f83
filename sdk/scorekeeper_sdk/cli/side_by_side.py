"""`scorekeeper runs compare BASELINE RUN --testcase T`: one testcase in both runs, as the console's
side by side shows it — each metric's change, then trial by trial both outputs with the words only
one of them has marked (struck out in red in A, green in B) and each record's scores."""

from __future__ import annotations

import itertools
import json

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from scorekeeper_sdk.cli.context import CliError
from scorekeeper_sdk.clients import Scorekeeper
from scorekeeper_sdk.text_diff import Part, output_text, sides
from scorekeeper_sdk.usage import UsageChange, amount
from scorekeeper_sdk.views import Record

_STYLES = {"removed": "strike red", "added": "bold green", "same": ""}


def marked(parts: list[Part]) -> Text:
    text = Text()
    for part in parts:
        text.append(part.text, style=_STYLES[part.kind])
    return text


def _said(record: Record | None) -> str | None:
    if record is None:
        return None
    return "" if record.status == "errored" else output_text(record.outputs)


def _record(console: Console, side: str, record: Record | None, parts: list[Part]) -> None:
    if record is None:
        console.print(f"  {side}: no such trial")
        return
    console.print(
        f"  {side}: record {record.id} · {record.status} · {amount(record.latency_ms, 'ms')}", highlight=False
    )
    if record.status == "errored":
        console.print(Padding(Text(record.error, style="red"), (0, 0, 0, 4), expand=False))
    else:
        console.print(Padding(marked(parts), (0, 0, 0, 4), expand=False))
    for s in record.scores:
        if s.current:
            verdict = "" if s.passed is None else ("pass" if s.passed else "fail")
            value = s.status if s.value is None else "" if isinstance(s.value, bool) else f"{s.value:g}"
            said = s.error or s.reasoning
            shown = " ".join(v for v in (value, verdict) if v)
            console.print(f"    {s.metric_name}: {shown}{f' — {said}' if said else ''}", highlight=False)


def show_testcase(client: Scorekeeper, console: Console, run_id: str, baseline: str, testcase_id: str) -> None:
    """The testcase in the baseline (A) and the run (B); a CliError when neither run has it."""
    page = client.compare_runs(run_id, baseline, testcase_ids=[testcase_id], page_size=1)
    if not page.testcases:
        raise CliError(f"testcase {testcase_id} is in neither run")
    case = page.testcases[0]
    a = [client.get_record(i) for i in case.baseline_record_ids]
    b = [client.get_record(i) for i in case.record_ids]
    shown = (a or b)[0]
    console.print(f"testcase {testcase_id}: {baseline} (A) → {run_id} (B)", highlight=False)
    for name, given in (("inputs", shown.inputs), ("expected", shown.expected)):
        console.print(f"  {name}: {json.dumps(given, ensure_ascii=False, sort_keys=True)}", highlight=False)
    for c in case.changes:
        console.print(f"  {c.metric_name}: {c.baseline_value} → {c.value} ({c.change})", highlight=False)
    if case.baseline_latency_ms is not None or case.latency_ms is not None:
        console.print(f"  {UsageChange('latency', case.baseline_latency_ms, case.latency_ms, 'ms').shown}")
    trials = list(itertools.zip_longest(a, b))
    for n, (ra, rb) in enumerate(trials, start=1):
        diff = sides(_said(ra), _said(rb))
        same = " (the same in both runs)" if ra and rb and diff.compared and not diff.changed else ""
        console.print(f"{f'trial {n}: ' if len(trials) > 1 else ''}output{same}", highlight=False)
        _record(console, "A", ra, diff.before)
        _record(console, "B", rb, diff.after)
