"""`scorekeeper records list`: the Records page in a terminal — the records of the project (or of
some runs) searched and filtered by score, e.g. what failed a metric in the run CI just made."""

from __future__ import annotations

import dataclasses
import json
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk import usage as usage_text
from scorekeeper_sdk.api.reads import EXPORT_FORMATS
from scorekeeper_sdk.api.testsets import MAX_TO_TESTSET
from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state, write_export
from scorekeeper_sdk.cli.context import CliError, said_added
from scorekeeper_sdk.cli.steps import print_steps
from scorekeeper_sdk.views import Score

records = typer.Typer(help="Records: search, filter and export them across runs.", no_args_is_help=True)
app.add_typer(records, name="records")

STATUSES = ("pending", "completed", "errored")
BRIEF_CHARS = 60


def brief(values: dict[str, Any]) -> str:
    """A record's inputs or outputs on one line: a lone field's value, else the JSON, cut short."""
    value: Any = next(iter(values.values())) if len(values) == 1 else values
    text = " ".join((value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).split())
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 1] + "…"


def verdicts(scores: list[Score]) -> str:
    """Each current score: pass / fail, its value, or why there is none."""
    shown = []
    for s in scores:
        if not s.current:
            continue
        if s.status != "completed":
            shown.append(f"{s.metric_name} {s.status}")
        elif s.passed is not None and isinstance(s.value, bool):
            shown.append(f"{s.metric_name} {'pass' if s.passed else 'FAIL'}")
        else:
            mark = "" if s.passed is None else (" pass" if s.passed else " FAIL")
            shown.append(f"{s.metric_name} {s.value:g}{mark}" if isinstance(s.value, float) else s.metric_name)
    return ", ".join(shown)


# The Records page's filters, as options of `records list` and `records export`.
RunOption = Annotated[list[str] | None, typer.Option(help="Only this run's records (an id); repeat for several.")]
SearchOption = Annotated[str, typer.Option(help='Words in inputs, outputs, expected ("a phrase", or, -word).')]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        help="A score condition: METRIC:passed|failed|errored|unstable (trials disagree) or METRIC:lt|gt|eq:N;"
        " repeat to AND."
    ),
]
StatusOption = Annotated[list[str] | None, typer.Option(help=f"One of {', '.join(STATUSES)}; repeat for several.")]
TagOption = Annotated[list[str] | None, typer.Option(help="Records with this tag; repeat for several.")]
FieldOption = Annotated[
    list[str] | None,
    typer.Option("--field", help="A testcase field's value: metadata.topic=math (inputs.…, expected.…); repeat: AND."),
]
UsageOption = Annotated[
    list[str] | None,
    typer.Option(
        help="What a record used: latency_ms|tokens|cost_usd:gt|lt:N (latency_ms:gt:2000); repeat to AND (a range)."
    ),
]
StepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--step",
        help="A step the record's call took: NAME, NAME:failed, NAME:gt|lt:MS (* any step: '*:failed'); repeat: AND.",
    ),
]
OrderOption = Annotated[
    str,
    typer.Option(help='"created_at desc" (newest first), "latency_ms desc", "cost_usd desc", "score.METRIC_ID" …'),
]


def _filters(
    run: list[str] | None,
    search: str,
    where: list[str] | None,
    status: list[str] | None,
    tag: list[str] | None,
    order: str,
    field: list[str] | None = None,
    usage: list[str] | None = None,
    step: list[str] | None = None,
) -> dict[str, Any]:
    """The Records page's filters, as the options give them, as list_records and export_records
    take them."""
    return {
        "run_ids": run or (),
        "search": search,
        "where": where or (),
        "statuses": status or (),
        "tags": tag or (),
        "order_by": order,
        "fields": field or (),
        "usage": usage or (),
        "steps": step or (),
    }


@records.command("list")
def records_list(
    ctx: typer.Context,
    run: RunOption = None,
    search: SearchOption = "",
    where: WhereOption = None,
    status: StatusOption = None,
    tag: TagOption = None,
    field: FieldOption = None,
    usage: UsageOption = None,
    step: StepOption = None,
    order: OrderOption = "created_at desc",
    limit: Annotated[int, typer.Option(min=1, help="Records to show.")] = 20,
    as_json_: JsonOption = False,
) -> None:
    """The project's records as filtered (the Records page's filters), newest first."""
    st = state(ctx)
    found = list(
        islice(
            st.client.list_records(
                project_id=st.project_id(),
                page_size=min(limit + 1, 1000),
                **_filters(run, search, where, status, tag, order, field, usage, step),
            ),
            limit + 1,
        )
    )
    more, found = len(found) > limit, found[:limit]
    if as_json_:
        return emit_json(as_json(found))
    if not found:
        st.err.print("no record matches", highlight=False)
        return None
    # Tokens and cost when a record shown reported them.
    tokens = any(r.prompt_tokens or r.completion_tokens for r in found)
    cost = any(r.cost_usd is not None for r in found)
    columns: list[Column | str] = ["inputs", "output", "scores", Column("latency", justify="right")]
    columns += [Column("tokens", justify="right")] * tokens + [Column("cost", justify="right")] * cost
    table = Table(Column("record", no_wrap=True), Column("run", no_wrap=True), *columns)
    for r in found:
        output = f"errored: {r.error}" if r.status == "errored" else brief(r.outputs)
        used = [f"{r.prompt_tokens + r.completion_tokens:,}"] * tokens
        used += [usage_text.amount(r.cost_usd, "usd")] * cost
        # Text, not markup: a record's own "[...]" is shown as written.
        table.add_row(
            r.id[:8],
            r.run_id[:8],
            Text(brief(r.inputs)),
            Text(output),
            Text(verdicts(r.scores)),
            usage_text.amount(r.latency_ms, "ms"),
            *used,
        )
    st.out.print(table)
    if more:
        st.err.print(f"the first {limit} records that match; --limit shows more, --json every field", highlight=False)
    return None


@records.command("show")
def records_show(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    as_json_: JsonOption = False,
) -> None:
    """One record: what the system was given and answered, its scores with their reasons, and the
    steps of the call that made it."""
    st = state(ctx)
    record = st.client.get_record(record_id)
    if as_json_:
        return emit_json(dataclasses.asdict(record))
    head = [f"record {record.id}", f"run {record.run_id}", f"testcase {record.testcase_id}", record.status]
    if record.trial:
        head.insert(3, f"trial {record.trial}")
    st.out.print(Text(" · ".join(head)))
    used = [usage_text.amount(record.latency_ms, "ms"), f"{record.prompt_tokens + record.completion_tokens:,} tokens"]
    if record.cost_usd is not None:
        used.append(usage_text.amount(record.cost_usd, "usd"))
    st.out.print(Text(", ".join(used)))
    if record.error:
        st.out.print(Text(f"error: {record.error}"))
    for name in ("inputs", "outputs", "expected", "metadata"):
        if value := getattr(record, name):
            st.out.print(Text(f"{name}: {json.dumps(value, ensure_ascii=False)}"))
    current = [s for s in record.scores if s.current]
    if current:
        table = Table("metric", "value", "passed", "status", "reasoning")
        for s in current:
            value = "" if s.value is None else str(s.value).lower() if isinstance(s.value, bool) else f"{s.value:g}"
            passed = "" if s.passed is None else "yes" if s.passed else "no"
            table.add_row(Text(s.metric_name), value, passed, s.status, Text(s.reasoning or s.error))
        st.out.print(table)
    print_steps(st.out, record.spans)
    run = st.client.get_run(record.run_id)
    if run.url:
        st.out.print(Text(run.url.rsplit("/runs/", 1)[0] + f"/records/{record.id}"))
    return None


@records.command("export")
def records_export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-': stdout).")] = Path("-"),
    format: Annotated[str, typer.Option(help="csv or jsonl.")] = "csv",
    run: RunOption = None,
    search: SearchOption = "",
    where: WhereOption = None,
    status: StatusOption = None,
    tag: TagOption = None,
    field: FieldOption = None,
    usage: UsageOption = None,
    step: StepOption = None,
    order: OrderOption = "created_at desc",
    limit: Annotated[int, typer.Option(min=0, help="At most this many records (0: every one).")] = 0,
) -> None:
    """Every record the filters match, across the project's runs, as CSV or JSONL (streamed): a
    run id column, and a value / passed / reasoning trio per metric of the project."""
    st = state(ctx)
    if format not in EXPORT_FORMATS:
        raise CliError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    filters = _filters(run, search, where, status, tag, order, field, usage, step)
    chunks = st.client.export_records(st.project_id(), format=format, limit=limit, **filters)
    write_export(st, chunks, output)


@records.command("to-testset")
def records_to_testset(
    ctx: typer.Context,
    testset: Annotated[str, typer.Argument(help="The testset (name or id) the records become testcases of.")],
    record: Annotated[
        list[str] | None, typer.Option("--record", help="A record id; repeat (instead of filters).")
    ] = None,
    output_as_expected: Annotated[
        bool,
        typer.Option("--output-as-expected", help="Each record's output as the testset's one expected field."),
    ] = False,
    run: RunOption = None,
    search: SearchOption = "",
    where: WhereOption = None,
    status: StatusOption = None,
    tag: TagOption = None,
    field: FieldOption = None,
    usage: UsageOption = None,
    step: StepOption = None,
) -> None:
    """Records as testcases of the testset's next version (the --record ones, or every one the
    filters match, at most 10,000): their inputs, expected values and metadata as fields, each once —
    the records that failed this week become a testset to re-run. Those the testset holds already
    are left out."""
    st = state(ctx)
    target = st.testset(testset)
    filtered = bool(run or search or where or status or tag or field or usage or step)
    if record and filtered:
        raise CliError("give --record or filters, not both")
    ids = list(record or ())
    if not ids:
        filters = _filters(run, search, where, status, tag, "created_at desc", field, usage, step)
        found = st.client.list_records(project_id=st.project_id(), page_size=1000, **filters)
        ids = [r.id for r in islice(found, MAX_TO_TESTSET + 1)]
        if len(ids) > MAX_TO_TESTSET:
            raise CliError(f"more than {MAX_TO_TESTSET:,} records match these filters: narrow them, then add them")
        if not ids:
            raise CliError("no record matches these filters: nothing to add")
    done = st.client.add_to_testset(target.id, record_ids=ids, output_as_expected=output_as_expected)
    said_added(st, target.name, done)
