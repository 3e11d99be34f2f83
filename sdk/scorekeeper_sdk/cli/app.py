"""The `scorekeeper` command: global options, login, and the catalog commands."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable
from itertools import chain, islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from scorekeeper_sdk.api.testsets import FORMATS
from scorekeeper_sdk.cli.context import CLIENT, CliError, State, key_value
from scorekeeper_sdk.clients import Scorekeeper
from scorekeeper_sdk.config import Settings, config_path, read_config_file, write_config_file
from scorekeeper_sdk.models import SystemVersion

EXIT_CODES = (
    "Exit codes: 0 success (every gate passed); 1 a gate failed; 2 a usage or input error (bad option,"
    " bad or missing key, unknown id, malformed file, unreachable server); 3 the run failed or was cancelled."
)

app = typer.Typer(
    name="scorekeeper",
    help=f"Scorekeeper from the command line and CI.\n\n{EXIT_CODES}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
projects = typer.Typer(help="Projects.", no_args_is_help=True)
testsets = typer.Typer(
    help="Testsets: list, show (and search) testcases, diff two versions, import, export as CSV.", no_args_is_help=True
)
metrics = typer.Typer(help="Metrics.", no_args_is_help=True)
systems = typer.Typer(help="Systems and their versions.", no_args_is_help=True)
app.add_typer(projects, name="projects")
app.add_typer(testsets, name="testsets")
app.add_typer(metrics, name="metrics")
app.add_typer(systems, name="systems")

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")]
# With a baseline given as "previous": only the earlier runs with every one of these tags.
BaselineTagOption = Annotated[
    list[str] | None,
    typer.Option(help="With --baseline previous: the newest earlier run tagged so (main); repeatable."),
]


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:
        raise CliError("internal: no state")
    return found


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Orchestrator gRPC address (SCOREKEEPER_URL).")] = None,
    query_url: Annotated[
        str | None, typer.Option(help="Query service gRPC address (SCOREKEEPER_QUERY_URL; default: --url).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (SCOREKEEPER_API_KEY).")] = None,
    project: Annotated[str | None, typer.Option(help="Project id or name (SCOREKEEPER_PROJECT).")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    ctx.obj = State(url=url, query_url=query_url, api_key=api_key, project=project, debug=debug)
    ctx.call_on_close(ctx.obj.close)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_export(st: State, chunks: Iterable[bytes], output: Path) -> None:
    """An export to stdout ('-') or to a file. Its first chunk is read before the file is made,
    so an export the server refuses leaves no empty file behind."""
    stream = iter(chunks)
    every = chain([next(stream, b"")], stream)
    if str(output) == "-":
        for chunk in every:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as handle:
        written = sum(handle.write(chunk) for chunk in every)
    st.err.print(f"wrote {written} bytes to {output}")


def as_json(items: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


@app.command()
def login(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Orchestrator gRPC address, e.g. grpc://127.0.0.1:50051.")] = None,
    query_url: Annotated[
        str | None, typer.Option(help="Query service gRPC address, e.g. grpc://127.0.0.1:50052.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="The key; read from stdin or a prompt when not given.")] = None,
    project: Annotated[str | None, typer.Option(help="Default project id or name for later commands.")] = None,
) -> None:
    """Check a key against a server and save both (mode 0600) for later commands and the SDK."""
    st = state(ctx)
    saved = read_config_file()
    url = url or st.url or saved.get("url")
    if not url:
        raise CliError("give --url, e.g. --url grpc://127.0.0.1:50051")
    key = api_key or st.api_key
    if not key:
        key = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt("API key", hide_input=True)
    settings = Settings(
        url=url, query_url=query_url or st.query_url or "", api_key=key, project=project or "", client=CLIENT
    )
    settings.orchestrator, settings.query  # noqa: B018 - malformed addresses fail before any call
    with Scorekeeper(settings=settings) as client:
        me = client.who_am_i()
    path = write_config_file(
        {"url": settings.url, "query_url": settings.query_url, "api_key": key, "project": project or ""}
    )
    scope = f"project {me.project_id}" if me.project_id else "every project (instance admin)"
    st.out.print(f"logged in to {settings.url} with key {me.prefix or me.name!r} ({me.role}, {scope}); saved {path}")


@app.command()
def whoami(ctx: typer.Context) -> None:
    """The key in use: its project and role, and where the settings come from."""
    st = state(ctx)
    me = st.client.who_am_i()
    st.out.print(f"key {me.prefix} {me.name!r}: role {me.role}, project {me.project_id or '(all)'}")
    st.out.print(
        f"orchestrator {st.client.settings.url}, query {st.client.settings.query_url or st.client.settings.url}"
    )
    st.out.print(f"config file {config_path()}")


@projects.command("list")
def projects_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The projects this key may see."""
    st = state(ctx)
    found = st.client.list_projects()
    if as_json_:
        return emit_json(as_json(found))
    table = Table("id", "name", "description", "created")
    for p in found:
        table.add_row(p.id, p.name, p.description, p.created_at[:19])
    st.out.print(table)
    return None


@metrics.command("list")
def metrics_list(
    ctx: typer.Context,
    archived: Annotated[bool, typer.Option("--archived", help="The archived metrics instead of the others.")] = False,
    as_json_: JsonOption = False,
) -> None:
    """The project's metrics at their latest version (archived metrics only with --archived)."""
    st = state(ctx)
    found = st.client.list_metrics(st.project_id(), archived=archived)
    if as_json_:
        return emit_json(as_json(found))
    table = Table("id", "name", "eval type", "output", "threshold", "version", *["archived"] * archived)
    for m in found:
        kind = f"{m.eval_type} ({m.heuristic['kind']})" if m.heuristic else m.eval_type
        threshold = "" if m.passing_threshold is None else f"{m.passing_threshold:g}"
        table.add_row(m.id, m.name, kind, m.output_type, threshold, str(m.version), *[m.archived_at[:19]] * archived)
    st.out.print(table)
    return None


@metrics.command("create")
def metrics_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The metric's name.")],
    heuristic: Annotated[
        str | None, typer.Option(help="Scored by this heuristic: exact_match, contains, regex, token_f1 …")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="KEY=VALUE of the heuristic (JSON, else text); repeatable.")
    ] = None,
    judge: Annotated[str | None, typer.Option(help="Scored by an LLM judge: its model.")] = None,
    template: Annotated[str, typer.Option(help="The judge's built-in template, e.g. answer_correctness.")] = "",
    prompt: Annotated[Path | None, typer.Option(help="A file with the judge's own prompt template.")] = None,
    human: Annotated[bool, typer.Option("--human", help="Scored by reviewers (the review queue).")] = False,
    code: Annotated[
        bool, typer.Option("--code", help="Scored by your own code (eval --scorer, run_and_evaluate's scorers).")
    ] = False,
    output_type: Annotated[str, typer.Option(help="boolean, int (1-5) or float (0-1).")] = "boolean",
    threshold: Annotated[float | None, typer.Option(help="Passing threshold of an int or float metric.")] = None,
    guidelines: Annotated[str, typer.Option(help="What a good answer is (the judge and reviewers read it).")] = "",
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """A new metric of the project, scored by a heuristic, an LLM judge, reviewers or your own code
    (exactly one)."""
    st = state(ctx)
    if [heuristic is not None, judge is not None, human, code].count(True) != 1:
        raise CliError("give exactly one of --heuristic KIND, --judge MODEL, --human or --code")
    if param and heuristic is None:
        raise CliError("--param sets a heuristic's params: give --heuristic KIND")
    if (template or prompt) and judge is None:
        raise CliError("--template and --prompt configure a judge: give --judge MODEL")
    ai = None
    if judge is not None:
        ai = {"model": judge, "template": template}
        if prompt is not None:
            try:
                ai["prompt_template"] = prompt.read_text(encoding="utf-8")
            except OSError as exc:
                raise CliError(f"cannot read --prompt {prompt}: {exc.strerror}") from None
    made = st.client.create_metric(
        st.project_id(),
        name,
        eval_type="heuristic" if heuristic is not None else "ai" if judge is not None else "code" if code else "human",
        output_type=output_type,
        guidelines=guidelines,
        passing_threshold=threshold,
        description=description,
        heuristic={"kind": heuristic, "params": dict(key_value(p, "--param") for p in param or [])}
        if heuristic is not None
        else None,
        ai=ai,
    )
    st.out.print(f"created metric {made.name} ({made.id}), version {made.version}", highlight=False)


@metrics.command("archive")
def metrics_archive(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="METRIC...", help="Metric ids or names.")],
) -> None:
    """Retire metrics: left out of metric lists and refused for new runs, re-scoring and monitors
    (runs scored with them keep their scores; `metrics unarchive` brings one back)."""
    st = state(ctx)
    for m in st.metrics(names):
        st.out.print(f"archived metric {st.client.archive_metric(m.id).name} ({m.id})", highlight=False)


@metrics.command("unarchive")
def metrics_unarchive(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="METRIC...", help="Metric ids or names.")],
) -> None:
    """Bring archived metrics back."""
    st = state(ctx)
    for m in st.metrics(names):
        st.out.print(f"unarchived metric {st.client.unarchive_metric(m.id).name} ({m.id})", highlight=False)


@systems.command("list")
def systems_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's systems with their versions (kind and name)."""
    st = state(ctx)
    found = st.client.list_systems(st.project_id())
    if as_json_:
        return emit_json(as_json(found))
    table = Table("system", "system id", "version", "version id", "kind", "production")
    for detail in found:
        versions: list[SystemVersion | None] = [*detail.versions] or [None]
        for v in versions:
            production = "yes" if v and v.id == detail.system.production_version_id else ""
            table.add_row(
                detail.system.name,
                detail.system.id,
                v.name if v else "-",
                v.id if v else "",
                v.kind if v else "",
                production,
            )
    st.out.print(table)
    return None


@testsets.command("list")
def testsets_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's testsets, newest first."""
    st = state(ctx)
    found = list(st.client.list_testsets(st.project_id()))
    if as_json_:
        return emit_json(as_json(found))
    table = Table("id", "name", "version", "testcases", "invalid", "inputs", "expected")
    for t in found:
        mapping = t.field_mapping
        table.add_row(
            t.id,
            t.name,
            str(t.version),
            str(t.testcase_count),
            str(t.invalid_testcase_count),
            ", ".join(mapping.inputs),
            ", ".join(mapping.expected),
        )
    st.out.print(table)
    return None


def _fields(text: str | None) -> list[str]:
    return [f.strip() for f in (text or "").split(",") if f.strip()]


@testsets.command("import")
def testsets_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv, .tsv, .json or .jsonl file.")],
    testset: Annotated[str | None, typer.Option(help="Import into this testset (id or name) as a new version.")] = None,
    name: Annotated[str | None, typer.Option(help="Create a testset of this name instead.")] = None,
    inputs: Annotated[str | None, typer.Option(help="New testset: the input fields, comma-separated.")] = None,
    expected: Annotated[str | None, typer.Option(help="New testset: the expected fields.")] = None,
    metadata: Annotated[str | None, typer.Option(help="New testset: the metadata fields.")] = None,
    format: Annotated[str | None, typer.Option(help=f"One of {', '.join(FORMATS)} (default: the suffix).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace every testcase instead of appending.")] = False,
) -> None:
    """Import testcases from a file (streamed; a bad row refuses the whole file, naming it)."""
    st = state(ctx)
    if (testset is None) == (name is None):
        raise CliError("give either --testset (an existing testset) or --name with --inputs (a new one)")
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    if format is not None and format not in FORMATS:
        raise CliError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    try:
        if name is not None:
            if not _fields(inputs):
                raise CliError("a new testset needs --inputs (the fields the system reads)")
            if replace:
                raise CliError("--replace is for an existing testset (--testset); a new one has nothing to replace")
            result = st.client.import_testset(
                st.project_id(),
                name,
                file,
                format,
                inputs=_fields(inputs),
                expected=_fields(expected),
                metadata=_fields(metadata),
            )
        else:
            assert testset is not None
            result = st.client.import_testcases(st.testset(testset).id, file, format, replace=replace)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    st.out.print(
        f"imported {result.imported} testcases into {result.testset.name!r} ({result.testset.id}),"
        f" version {result.testset.version}: {result.testset.testcase_count} testcases,"
        f" {result.testset.invalid_testcase_count} invalid"
    )


@testsets.command("show")
def testsets_show(
    ctx: typer.Context,
    testset: Annotated[str, typer.Argument(help="Testset id or name.")],
    version: Annotated[int, typer.Option(help="Version (0: the latest).")] = 0,
    search: Annotated[
        str, typer.Option(help='Only testcases holding these words (as the Records page: "a phrase", or, -word).')
    ] = "",
    invalid: Annotated[bool, typer.Option("--invalid", help="Only testcases that violate the schema.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Testcases to show.")] = 50,
    as_json_: JsonOption = False,
) -> None:
    """A testset's testcases at a version, in order: their fields and validation errors."""
    st = state(ctx)
    target = st.testset(testset)
    shown = list(
        islice(
            st.client.list_testcases(
                target.id, version, page_size=min(limit + 1, 1000), invalid_only=invalid, search=search
            ),
            limit + 1,
        )
    )
    more, shown = len(shown) > limit, shown[:limit]
    if as_json_:
        return emit_json(as_json(shown))
    what = " matching" if search or invalid else ""
    if not shown:
        st.err.print(f"no{what} testcases in {target.name!r}", highlight=False)
        return None
    title = f"{target.name} v{version or target.version}"
    table = Table("#", "id", "inputs", "expected", "metadata", "validation", title=title)
    for t in shown:
        errors = "; ".join(f"{e.path or '/'} {e.message}" for e in t.validation_errors) or "valid"
        table.add_row(
            str(t.position + 1),
            t.id,
            # Text, not markup: a testcase's own "[...]" is shown as written.
            Text(json.dumps(t.inputs, ensure_ascii=False)),
            Text(json.dumps(t.expected, ensure_ascii=False)),
            Text(json.dumps(t.metadata, ensure_ascii=False)),
            Text(errors),
        )
    st.out.print(table)
    if more:
        st.err.print(f"the first {limit}{what} testcases of {target.name!r}; --limit shows more", highlight=False)
    return None


@testsets.command("export")
def testsets_export(
    ctx: typer.Context,
    testset: Annotated[str, typer.Argument(help="Testset id or name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-': stdout).")] = Path("-"),
    version: Annotated[int, typer.Option(help="Version (0: the latest).")] = 0,
) -> None:
    """Export a testset version as CSV."""
    st = state(ctx)
    target = st.testset(testset)
    write_export(st, st.client.export_testcases(target.id, version), output)
