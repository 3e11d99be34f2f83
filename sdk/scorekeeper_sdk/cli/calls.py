"""`scorekeeper calls …`: the production calls you log — list them filtered (by feedback too), show
one with what monitors made of it or a session's as a conversation, give one feedback (a user's
thumbs up or down, a rating), export them, keep them as testcases (what they add up to:
call_analysis.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table
from rich.text import Text

from scorekeeper_sdk.api.calls import Call, CallFeedback, CallFilter, FeedbackSummary
from scorekeeper_sdk.api.reads import EXPORT_FORMATS
from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state, write_export
from scorekeeper_sdk.cli.context import CliError, said_added
from scorekeeper_sdk.cli.records import brief, verdicts
from scorekeeper_sdk.cli.steps import print_steps

calls = typer.Typer(
    help="Logged production calls: list, filter, show one or a session's, give feedback, keep them as testcases,"
    " their traffic and a breakdown by a metadata key."
)
calls.info.no_args_is_help = True
app.add_typer(calls, name="calls")

_AGO = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since(text: str, option: str = "--since") -> str:
    """An RFC 3339 time, or one this long ago: 30m, 24h, 7d."""
    if not text:
        return ""
    ago = _AGO.match(text.strip())
    if ago:
        delta = timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option} takes a time (2026-01-31T12:00:00Z) or how long ago (30m, 24h, 7d), got {text!r}"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def feedback_text(feedback: list[CallFeedback]) -> str:
    """Each metric's feedback, short: thumbs pass, rating 2 FAIL."""
    shown = []
    for f in feedback:
        mark = "pass" if f.passed else "FAIL"
        shown.append(f"{f.metric_name} {mark}" if f.output_type == "boolean" else f"{f.metric_name} {f.value:g} {mark}")
    return ", ".join(shown)


def summary_text(s: FeedbackSummary) -> str:
    """thumbs: 12 of 40 passed (30.0%) · rating: mean 3.50 over 8, 5 passed."""
    if s.output_type == "boolean":
        return f"{s.metric_name}: {s.passed} of {s.given} passed ({s.pass_rate:.1%})"
    return f"{s.metric_name}: mean {s.mean:.2f} over {s.given}, {s.passed} passed"


def _value(text: str | None, take_back: bool) -> bool | float | None:
    if take_back:
        if text is not None:
            raise CliError("give a VALUE or --take-back, not both")
        return None
    if text is None:
        raise CliError("VALUE is required: true / false, a whole number 1..5, or a number 0..1 (or --take-back)")
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "up", "pass"):
        return True
    if lowered in ("false", "no", "down", "fail"):
        return False
    try:
        return float(lowered)
    except ValueError:
        raise CliError(f"VALUE must be true / false (up / down) or a number, got {text!r}") from None


StatusOption = Annotated[str, typer.Option(help="completed or errored.")]
MetaOption = Annotated[
    list[str] | None, typer.Option("--meta", help="KEY=VALUE the call's metadata holds (as text); repeat to AND.")
]
FeedbackOption = Annotated[
    list[str] | None,
    typer.Option(help="METRIC=passed|failed|given|none: the call's feedback of that metric; repeat to AND."),
]
SearchOption = Annotated[str, typer.Option(help='Words in the inputs or outputs ("a phrase", or, -word).')]
SinceOption = Annotated[str, typer.Option("--since", help="Logged since: a time, or how long ago (30m, 24h, 7d).")]
UntilOption = Annotated[str, typer.Option(help="Logged before: a time, or how long ago.")]
UsageOption = Annotated[
    list[str] | None,
    typer.Option(help="What a call used: latency_ms|tokens|cost_usd:gt|lt:N (latency_ms:gt:2000); repeat to AND."),
]
StepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--step", help="A step the call took: NAME, NAME:failed, NAME:gt|lt:MS (* any step: '*:failed'); repeat: AND."
    ),
]


def call_filters(
    status: str,
    trace: str,
    session: str,
    meta: list[str] | None,
    feedback: list[str] | None,
    after: str,
    before: str,
    search: str,
    usage: list[str] | None,
    step: list[str] | None = None,
) -> CallFilter:
    """The filters of list, trend, traffic and export, as the SDK takes them."""
    return CallFilter(
        search=search,
        status=status,
        trace_id=trace,
        session_id=session,
        metadata=meta or (),
        feedback=feedback or (),
        logged_after=since(after),
        logged_before=since(before, "--until"),
        usage=usage or (),
        steps=step or (),
    )


TraceOption = Annotated[str, typer.Option(help="Only this trace id.")]
SessionOption = Annotated[str, typer.Option(help="Only this session id.")]


@calls.command("list")
def calls_list(
    ctx: typer.Context,
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Calls to show, newest first.")] = 20,
    as_json_: JsonOption = False,
) -> None:
    """The project's logged calls, newest first, filtered; then their feedback summed up per metric
    (over every call the filters match, not only those shown)."""
    st = state(ctx)
    filters = call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    project = st.project_id()
    found = list(islice(st.client.list_calls(project, page_size=min(limit + 1, 1000), **filters), limit + 1))
    more, found = len(found) > limit, found[:limit]
    summary = st.client.feedback_summary(project, **filters)
    if as_json_:
        return emit_json({"calls": as_json(found), "feedback_summary": as_json(summary)})
    if not found:
        st.err.print("no call matches", highlight=False)
        return None
    table = Table(
        Column("logged (UTC)", no_wrap=True),
        Column("call", no_wrap=True),
        "inputs",
        "output",
        "feedback",
        Column("latency", justify="right"),
    )
    for c in found:
        output = f"errored: {c.error}" if c.status == "errored" else brief(c.outputs)
        logged = f"{datetime.fromisoformat(c.logged_at).astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        latency = f"{c.latency_ms:,.0f} ms" if c.latency_ms else "–"
        table.add_row(
            logged, Text(c.ref), Text(brief(c.inputs)), Text(output), Text(feedback_text(c.feedback)), latency
        )
    st.out.print(table)
    if summary:
        st.out.print(Text("feedback: " + " · ".join(summary_text(s) for s in summary)))
    if more:
        st.err.print(f"the newest {limit} calls that match; --limit shows more, --json every field", highlight=False)
    return None


@calls.command("show")
def calls_show(
    ctx: typer.Context,
    call_id: Annotated[str, typer.Argument(help="The id the call was logged with.")],
    as_json_: JsonOption = False,
) -> None:
    """One call: what it was, its feedback, and the records monitors made of it with their scores."""
    st = state(ctx)
    call = st.client.get_call(st.project_id(), call_id)
    if as_json_:
        return emit_json(dataclasses.asdict(call))
    _print_call(st.out, call)
    return None


def _print_call(out: Any, call: Call) -> None:
    logged = f"{datetime.fromisoformat(call.logged_at).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    head = [f"call {call.ref}", f"logged {logged}", call.status]
    if call.trace_id:
        head.append(f"trace {call.trace_id}")
    if call.session_id:
        head.append(f"session {call.session_id}")
    out.print(Text(" · ".join(head)))
    cost = f", ${call.cost_usd:.4f}" if call.cost_usd is not None else ""
    tokens = call.prompt_tokens + call.completion_tokens
    out.print(Text(f"{call.latency_ms:,.0f} ms, {tokens:,} tokens{cost}"))
    if call.error:
        out.print(Text(f"error: {call.error}"))
    for name in ("inputs", "outputs", "metadata"):
        value = getattr(call, name)
        if value:
            out.print(Text(f"{name}: {json.dumps(value, ensure_ascii=False)}"))
    print_steps(out, call.spans)
    if call.feedback:
        table = Table("feedback", "value", "passed", "by", "comment", Column("given (UTC)", no_wrap=True))
        for f in call.feedback:
            given = f"{datetime.fromisoformat(f.given_at).astimezone(UTC):%Y-%m-%d %H:%M}"
            value = str(f.value).lower() if isinstance(f.value, bool) else f"{f.value:g}"
            passed = "yes" if f.passed else "no"
            table.add_row(Text(f.metric_name), value, passed, Text(f.author), Text(f.comment), given)
        out.print(table)
    else:
        out.print("no feedback")
    for s in call.samples:
        shown = ", ".join(x for x in (s.status, verdicts(s.scores)) if x)
        out.print(Text(f"monitor {s.monitor_name!r}: record {s.record_id} of run {s.run_id} ({shown})"))
    if call.url:
        out.print(Text(call.url))


@calls.command("feedback")
def calls_feedback(
    ctx: typer.Context,
    call_id: Annotated[str, typer.Argument(help="The id the call was logged with.")],
    metric: Annotated[str, typer.Argument(help="A human or code metric (name or id).")],
    value: Annotated[
        str | None, typer.Argument(help="true / false (up / down), a whole number 1..5, or a number 0..1.")
    ] = None,
    comment: Annotated[str, typer.Option(help="Why.")] = "",
    author: Annotated[str, typer.Option(help="Who gave it (an end user's id, a name).")] = "",
    take_back: Annotated[bool, typer.Option("--take-back", help="Take the call's feedback of METRIC back.")] = False,
) -> None:
    """Give a logged call feedback of a human or code metric; given again, it replaces the earlier."""
    st = state(ctx)
    verdict = _value(value, take_back)
    result = st.client.send_feedback(
        call_id, metric, verdict, comment=comment, author=author, project_id=st.project_id()
    )
    if verdict is None:
        said = "taken back" if result.removed else "there was none to take back"
    else:
        said = "replaced the earlier" if result.replaced else "given"
    st.out.print(Text(f"feedback of {metric} on call {call_id}: {said}"))


@calls.command("export")
def calls_export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-': stdout).")] = Path("-"),
    format: Annotated[str, typer.Option(help="csv or jsonl.")] = "csv",
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many calls (0: every one).")] = 0,
) -> None:
    """Every call the filters match, newest first, as CSV or JSONL (streamed), with its feedback:
    "<metric>", "<metric> passed", "<metric> comment", "<metric> by" per human or code metric."""
    st = state(ctx)
    if format not in EXPORT_FORMATS:
        raise CliError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    filters = call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    write_export(st, st.client.export_calls(st.project_id(), format=format, limit=limit, **filters), output)


@calls.command("to-testset")
def calls_to_testset(
    ctx: typer.Context,
    testset: Annotated[str, typer.Argument(help="The testset (name or id) the calls become testcases of.")],
    call: Annotated[
        list[str] | None,
        typer.Option("--call", help="A call by the id it was logged with; repeat (instead of filters)."),
    ] = None,
    output_as_expected: Annotated[
        bool,
        typer.Option("--output-as-expected", help="Each call's output as the testset's one expected field."),
    ] = False,
    status: StatusOption = "",
    trace: TraceOption = "",
    session: SessionOption = "",
    meta: MetaOption = None,
    feedback: FeedbackOption = None,
    since_: SinceOption = "",
    until: UntilOption = "",
    search: SearchOption = "",
    usage: UsageOption = None,
    step: StepOption = None,
) -> None:
    """Calls as testcases of the testset's next version (the --call ones, or every one the filters
    match, at most 10,000): their inputs and metadata as fields, each once — the calls users
    disliked this week become regression testcases. Those the testset holds already are left out."""
    st = state(ctx)
    target = st.testset(testset)
    filters = call_filters(status, trace, session, meta, feedback, since_, until, search, usage, step)
    if call:
        if any(filters.values()):
            raise CliError("give --call or filters, not both")
        done = st.client.add_to_testset(target.id, call_ids=call, output_as_expected=output_as_expected)
    else:
        try:
            done = st.client.add_calls_to_testset(
                st.project_id(), target.id, output_as_expected=output_as_expected, **filters
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
    said_added(st, target.name, done)


def _said(values: dict[str, Any]) -> str:
    """A turn's message: a lone text field as it is, anything else as JSON."""
    if len(values) == 1 and isinstance(only := next(iter(values.values())), str):
        return only
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


@calls.command("conversation")
def calls_conversation(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="The session id (or, with --trace, the trace id).")],
    trace: Annotated[bool, typer.Option("--trace", help="SESSION is a trace id.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Its latest calls, at most this many.")] = 200,
    as_json_: JsonOption = False,
) -> None:
    """The calls of one session (or trace), oldest first, as a conversation: what was asked, what
    was answered (or the error), when, how long it took, and the users' feedback."""
    st = state(ctx)
    which = {"trace_id": session} if trace else {"session_id": session}
    found = list(islice(st.client.list_calls(st.project_id(), page_size=min(limit + 1, 1000), **which), limit + 1))
    more, found = len(found) > limit, list(reversed(found[:limit]))
    if as_json_:
        return emit_json(as_json(found))
    if not found:
        raise CliError(f"no call was logged with the {'trace' if trace else 'session'} {session!r}")
    start = datetime.fromisoformat(found[0].logged_at)
    for c in found:
        at = datetime.fromisoformat(c.logged_at)
        head = [f"{at.astimezone(UTC):%H:%M:%S}", f"+{(at - start).total_seconds():.1f}s", f"{c.latency_ms:,.0f} ms"]
        head += [f"call {c.ref}"] + ([feedback_text(c.feedback)] if c.feedback else [])
        st.out.print(Text(" · ".join(head), style="dim"))
        st.out.print(Text(f"  > {_said(c.inputs)}"))
        answer = f"errored: {c.error}" if c.status == "errored" else _said(c.outputs)
        st.out.print(Text(f"  < {answer}", style="red" if c.status == "errored" else ""))
    if more:
        st.err.print(f"its latest {limit} calls; --limit shows more", highlight=False)
    return None
