"""`scorekeeper monitors …`: list, show, create, change, pause, resume and delete monitors; log calls
from a file (their alerts' own commands: ``monitor_alerts``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scorekeeper_sdk.api.monitors import MAX_CALLS, CallIn
from scorekeeper_sdk.cli.app import JsonOption, app, as_json, emit_json, state
from scorekeeper_sdk.cli.context import CliError, State, is_id, metric_thresholds
from scorekeeper_sdk.views.monitors import Monitor, MonitorTestAlert, MonitorWindow, WindowMetric

monitors = typer.Typer(help="Monitors: score a sample of the production calls you log.", no_args_is_help=True)
app.add_typer(monitors, name="monitors")

_CALL_FIELDS = {f.name for f in dataclasses.fields(CallIn)}


def find_monitor(st: State, name_or_id: str) -> Monitor:
    if is_id(name_or_id):
        return st.client.get_monitor(name_or_id).monitor
    for monitor in st.client.list_monitors(st.project_id()):
        if monitor.name == name_or_id:
            return monitor
    raise CliError(f"no monitor named {name_or_id!r} in this project (see `scorekeeper monitors list`)")


def _pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CliError(f"{option} takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _rate(monitor: Monitor) -> str:
    return f"{monitor.sample_rate:g}%"


def tested(t: MonitorTestAlert) -> str:
    """What became of it: delivered (HTTP 200), failed (HTTP 404: the webhook answered HTTP 404), pending."""
    said = ": ".join(x for x in (f"HTTP {t.response_status}" if t.response_status else "", t.error) if x)
    return f"{t.status} ({said})" if said else t.status


def _alert(m: Monitor) -> str:
    """Its alert's URL and what it POSTs: https://h/x (Slack text, and recoveries, muted until …)."""
    notes = [
        n
        for n, on in (
            ("Slack text", m.alert.format == "slack"),
            (f"errors above {(m.alert.max_error_rate or 0) * 100:g}%", m.alert.max_error_rate is not None),
            (f"p95 latency above {m.alert.max_latency_ms or 0:,g} ms", m.alert.max_latency_ms is not None),
            ("users' feedback", bool(m.alert.feedback_thresholds)),
            (f"per {', '.join(m.alert.slice_fields)}", bool(m.alert.slice_fields)),
            ("and recoveries", m.alert.notify_recovery),
            (f"muted until {m.alert_muted_until[:19]}", bool(m.alert_muted_until)),
        )
        if on
    ]
    return f"{m.alert.webhook_url} ({', '.join(notes)})" if notes and m.alert.webhook_url else m.alert.webhook_url


def _said(m: WindowMetric) -> str:
    """A result as said: polite 70.0% below 80.0%, on topic 0.91."""
    threshold = m.alert_below or 0.0
    limit = f"{threshold * 100:.1f}%" if m.measure == "pass_rate" else f"{threshold:.3g}"
    shown = m.shown
    if m.below and shown == limit:  # 94.958% below 95.0%, not 95.0% below 95.0%
        shown = f"{m.value * 100:.3f}%" if m.measure == "pass_rate" else f"{m.value:.5g}"
    return f"{m.name} {shown}" + (f" below {limit}" if m.below else "")


def _results(w: MonitorWindow) -> str:
    """Its results as said: polite 70.0% below 80.0%, on topic 0.91, users' thumbs 40.0% below 80.0%
    (5 given) (and the run's status while it is not completed)."""
    parts = [_said(m) for m in w.metrics]
    if w.errored_calls:
        parts.append(f"{w.errored_calls} errored")
    if w.latency_p95_ms is not None:
        parts.append(f"p95 {w.latency_p95_ms:,.0f} ms" + (" too slow" if w.latency_above else ""))
    parts += [f"users' {_said(m)} ({m.scored} given)" for m in w.feedback]  # feedback given during it
    if w.slices_below:  # which ones: under `monitors show`'s table
        parts.append(f"{len(w.slices_below)} slice{'s' if len(w.slices_below) != 1 else ''} below")
    if w.error_slices:
        parts.append(f"{len(w.error_slices)} slice{'s' if len(w.error_slices) != 1 else ''} erring")
    if w.latency_slices:
        parts.append(f"{len(w.latency_slices)} slice{'s' if len(w.latency_slices) != 1 else ''} too slow")
    unfinished = "" if w.run_status in ("completed", "") else f" ({w.run_status})"
    return ", ".join(parts) + unfinished


@monitors.command("list")
def monitors_list(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The project's monitors."""
    st = state(ctx)
    found = st.client.list_monitors(st.project_id())
    if as_json_:
        return emit_json(as_json(found))
    table = Table(
        "id", "name", "status", "metrics", "sample", "window", "filter", "windows", "latest window", "pending", "alert"
    )
    for m in found:
        latest = m.latest_window
        table.add_row(
            m.id,
            m.name,
            m.status,
            ", ".join(x.name for x in m.metrics),
            _rate(m),
            m.window,
            json.dumps(m.metadata_filter) if m.metadata_filter else "",
            str(m.windows),
            f"#{latest.number}: {_results(latest)}" if latest is not None else "",
            str(m.pending_calls),
            _alert(m),
        )
    st.out.print(table)
    return None


@monitors.command("show")
def monitors_show(
    ctx: typer.Context,
    monitor: Annotated[str, typer.Argument(help="Monitor id or name.")],
    as_json_: JsonOption = False,
) -> None:
    """A monitor and its latest windows (each a run)."""
    st = state(ctx)
    detail = st.client.get_monitor(find_monitor(st, monitor).id)
    if as_json_:
        return emit_json(dataclasses.asdict(detail))
    m = detail.monitor
    st.out.print(f"monitor {m.name!r} ({m.id}): {m.status}, samples {_rate(m)}, a window {m.window}")
    st.out.print(f"  metrics: {', '.join(x.name for x in m.metrics)}")
    if m.metadata_filter:
        st.out.print(f"  filter: {json.dumps(m.metadata_filter)}")
    if m.alert.webhook_url:
        names = {x.metric_id: x.name for x in m.metrics}
        below = ", ".join(f"{names.get(t.metric_id, t.metric_id)} < {t.below:g}" for t in m.alert.thresholds)
        if m.alert.max_error_rate is not None:
            errors = f"more than {m.alert.max_error_rate * 100:g}% of the calls errored"
            below = f"{below} or {errors}" if below else errors
        if m.alert.max_latency_ms is not None:
            slow = f"the calls' p95 latency is above {m.alert.max_latency_ms:,g} ms"
            below = f"{below} or {slow}" if below else slow
        if feedback := m.alert.feedback_thresholds:
            metrics = {x.id: x.name for x in st.client.list_metrics(m.project_id, include_archived=True)}
            given = ", ".join(f"{metrics.get(t.metric_id, t.metric_id)} < {t.below:g}" for t in feedback)
            users = f"users' feedback {given} (with at least {m.alert.min_feedback} given in a window)"
            below = f"{below} or {users}" if below else users
        recovery = ", and when back at or above" if m.alert.notify_recovery else ""
        st.out.print(f"  alert: {m.alert.webhook_url} when {below}{recovery}")
        if m.alert.slice_fields:
            judged = [f"{names.get(t.metric_id, t.metric_id)} < {t.below:g}" for t in m.alert.thresholds]
            if m.alert.max_error_rate is not None:
                judged.append(f"more than {m.alert.max_error_rate * 100:g}% errored")
            if m.alert.max_latency_ms is not None:
                judged.append(f"p95 latency above {m.alert.max_latency_ms:,g} ms")
            if feedback:
                judged.append(f"users' feedback {given}")
            unit = "verdicts" if feedback and len(judged) == 1 else "calls"  # the feedback alone
            each = f"{' and '.join(m.alert.slice_fields)} (with at least {m.alert.min_slice_calls} {unit})"
            st.out.print(f"  and within each value of {each}: {', '.join(judged)}")
    if m.alert_muted_until:
        st.out.print(f"  alerts muted until {m.alert_muted_until[:19]} UTC (scorekeeper monitors unmute)")
    if m.last_test_alert is not None:
        st.out.print(f"  last test alert: {tested(m.last_test_alert)} at {m.last_test_alert.created_at[:19]}")
    st.out.print(f"  open window since {m.window_started_at[:19]}: {m.pending_calls} sampled calls")
    table = Table("window", "run", "calls", "started", "ended", "results", "alert", "delivery")
    for w in detail.windows:
        delivery = f"{w.alert_delivery} {w.alert_error}".strip()
        times = (w.started_at[:19], w.ended_at[:19])
        table.add_row(str(w.number), w.run_id, str(w.calls), *times, _results(w), w.alert_state, delivery)
    st.out.print(table)
    for w in detail.windows:
        if w.slices_below:  # metadata.lang=fr: polite 50.0% (6 scored), below 80.0%
            st.out.print(f"  window {w.number}'s slices below: {'; '.join(s.shown for s in w.slices_below)}")
        if w.error_slices:  # metadata.region=eu: 12 of 30 calls errored (40.0%), above 5.0%
            st.out.print(f"  window {w.number}'s slices erring: {'; '.join(e.shown for e in w.error_slices)}")
        if w.latency_slices:  # metadata.region=eu: p95 2,300 ms (40 calls), above 1,500 ms
            st.out.print(f"  window {w.number}'s slices too slow: {'; '.join(x.shown for x in w.latency_slices)}")
    return None


_FEEDBACK_BELOW = typer.Option(
    help="METRIC=THRESHOLD: also alert when the users' feedback (a human or code metric) given during a window"
    " falls below it (pass rate 0..1 or mean); repeat for several."
)
_MIN_FEEDBACK = typer.Option(help="Judge a window's feedback only with at least N verdicts given in it (0: 10).")
_LATENCY_ABOVE = typer.Option(help="MS: also alert when the 95th percentile of a window's call latencies is above it.")
_ALERT_SLICE = typer.Option(
    help="FIELD (metadata.lang): also judge --alert-below, --alert-feedback-below, --alert-errors-above and"
    " --alert-latency-above within each value of this record field, so one kind of traffic failing alerts though"
    " the whole window does not; repeat for several (at most 3)."
)
_MIN_SLICE_CALLS = typer.Option(
    help="Judge a slice only with at least N of its calls scored (its feedback: N verdicts; its latency: N calls"
    " with one; 0: 20)."
)


@monitors.command("create")
def monitors_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Unique in the project.")],
    sample_rate: Annotated[float, typer.Option(help="Percent of the calls sampled (0 < rate <= 100).")],
    metric: Annotated[list[str] | None, typer.Option(help="Metric id or name; repeat for several.")] = None,
    metric_group: Annotated[str, typer.Option(help="A metric group id, instead of or besides --metric.")] = "",
    every_minutes: Annotated[int, typer.Option(help="A window every N minutes.")] = 0,
    every_calls: Annotated[int, typer.Option(help="Or a window every N sampled calls.")] = 0,
    filter: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE the call's metadata must hold (VALUE as JSON, else text).")
    ] = None,
    alert_url: Annotated[str, typer.Option(help="A webhook POSTed when a metric falls below its threshold.")] = "",
    alert_below: Annotated[
        list[str] | None, typer.Option(help="METRIC=THRESHOLD (pass rate 0..1 or mean); repeat for several.")
    ] = None,
    paused: Annotated[bool, typer.Option(help="Create it paused.")] = False,
    alert_slack: Annotated[
        bool, typer.Option("--alert-slack", help="POST the alert's text alone (a Slack or Mattermost webhook).")
    ] = False,
    alert_recovery: Annotated[
        bool,
        typer.Option("--alert-recovery", help="Also POST the first window back at or above every threshold."),
    ] = False,
    alert_errors_above: Annotated[
        str | None,
        typer.Option(help="Also alert when more than this share of a window's calls errored: 5% or 0.05."),
    ] = None,
    alert_feedback_below: Annotated[list[str] | None, _FEEDBACK_BELOW] = None,
    min_feedback: Annotated[int, _MIN_FEEDBACK] = 0,
    alert_latency_above: Annotated[float | None, _LATENCY_ABOVE] = None,
    alert_slice: Annotated[list[str] | None, _ALERT_SLICE] = None,
    min_slice_calls: Annotated[int, _MIN_SLICE_CALLS] = 0,
) -> None:
    """Create a monitor: it samples the calls logged from now on."""
    st = state(ctx)
    created = st.client.create_monitor(
        st.project_id(),
        name,
        [m.id for m in st.metrics(metric or [])],
        sample_rate=sample_rate,
        window_minutes=every_minutes,
        window_calls=every_calls,
        metadata_filter=_filter(filter or []),
        metric_group_id=metric_group,
        alert_url=alert_url,
        alert_below=metric_thresholds(st, alert_below or [], "--alert-below"),
        paused=paused,
        alert_format="slack" if alert_slack else "json",
        alert_recovery=alert_recovery,
        alert_max_error_rate=_share(alert_errors_above) if alert_errors_above is not None else None,
        alert_feedback_below=metric_thresholds(st, alert_feedback_below or [], "--alert-feedback-below"),
        min_feedback=min_feedback,
        alert_max_latency_ms=alert_latency_above,
        alert_slice_fields=alert_slice or [],
        min_slice_calls=min_slice_calls,
    )
    if not created.alert.webhook_url:
        st.out.print(f"created monitor {created.name!r} ({created.id}): {created.status}")
        return
    st.err.print(
        f"created monitor {created.name!r} ({created.id}): {created.status}; the secret signing its alerts"
        " is below, shown this once",
        highlight=False,
    )
    st.out.print(created.alert_secret, highlight=False, soft_wrap=True)


def _filter(pairs: list[str]) -> dict[str, Any]:
    return {k: _json_or_text(v) for k, v in (_pair(f, "--filter") for f in pairs)}


def _share(text: str) -> float:
    """--alert-errors-above: a fraction (0.05) or a percentage (5%)."""
    try:
        return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise CliError(f"--alert-errors-above takes a share of the calls such as 5% or 0.05, got {text!r}") from None


@monitors.command("update")
def monitors_update(
    ctx: typer.Context,
    monitor: Annotated[str, typer.Argument(help="Monitor id or name.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    sample_rate: Annotated[float | None, typer.Option(help="Percent of the calls sampled from now on.")] = None,
    every_minutes: Annotated[int | None, typer.Option(help="A window every N minutes from now on.")] = None,
    every_calls: Annotated[int | None, typer.Option(help="Or a window every N sampled calls.")] = None,
    filter: Annotated[
        list[str] | None, typer.Option(help="KEY=VALUE the call's metadata must hold from now on; repeat.")
    ] = None,
    no_filter: Annotated[bool, typer.Option("--no-filter", help="Sample every call from now on.")] = False,
    metric: Annotated[list[str] | None, typer.Option(help="The metrics from now on; repeat for several.")] = None,
    metric_group: Annotated[str | None, typer.Option(help="The metric group from now on ('' for none).")] = None,
    alert_url: Annotated[str | None, typer.Option(help="The alert's webhook from now on.")] = None,
    alert_below: Annotated[
        list[str] | None, typer.Option(help="METRIC=THRESHOLD of the alert from now on; repeat for several.")
    ] = None,
    no_alert: Annotated[bool, typer.Option("--no-alert", help="No alert from now on.")] = False,
    rotate_secret: Annotated[
        bool, typer.Option("--rotate-secret", help="A new alert signing secret, printed to stdout alone, once.")
    ] = False,
    alert_slack: Annotated[
        bool | None,
        typer.Option("--alert-slack/--alert-json", help="POST the alert's text alone, or the whole JSON document."),
    ] = None,
    alert_recovery: Annotated[
        bool | None,
        typer.Option(
            "--alert-recovery/--no-alert-recovery",
            help="Also POST the first window back at or above every threshold, or below only.",
        ),
    ] = None,
    alert_errors_above: Annotated[
        str | None,
        typer.Option(help="Alert when more than this share of a window's calls errored from now on: 5% or 0.05."),
    ] = None,
    no_alert_errors: Annotated[
        bool, typer.Option("--no-alert-errors", help="No alert on errored calls from now on.")
    ] = False,
    alert_feedback_below: Annotated[list[str] | None, _FEEDBACK_BELOW] = None,
    no_alert_feedback: Annotated[
        bool, typer.Option("--no-alert-feedback", help="No alert on the users' feedback from now on.")
    ] = False,
    min_feedback: Annotated[int | None, _MIN_FEEDBACK] = None,
    alert_latency_above: Annotated[float | None, _LATENCY_ABOVE] = None,
    no_alert_latency: Annotated[
        bool, typer.Option("--no-alert-latency", help="No alert on the calls' latency from now on.")
    ] = False,
    alert_slice: Annotated[list[str] | None, _ALERT_SLICE] = None,
    no_alert_slices: Annotated[
        bool, typer.Option("--no-alert-slices", help="Judge the whole windows alone from now on.")
    ] = False,
    min_slice_calls: Annotated[int | None, _MIN_SLICE_CALLS] = None,
) -> None:
    """Change a monitor: only what is given changes (--metric / --metric-group replace its
    metrics, --filter its filter, --alert-url / --alert-below / --alert-feedback-below its alert). An alert added to a
    monitor that had none comes with a new signing secret, printed as --rotate-secret prints it."""
    if filter and no_filter:
        raise CliError("give --filter or --no-filter, not both")
    if alert_errors_above is not None and no_alert_errors:
        raise CliError("give --alert-errors-above or --no-alert-errors, not both")
    if alert_feedback_below and no_alert_feedback:
        raise CliError("give --alert-feedback-below or --no-alert-feedback, not both")
    if alert_latency_above is not None and no_alert_latency:
        raise CliError("give --alert-latency-above or --no-alert-latency, not both")
    if alert_slice and no_alert_slices:
        raise CliError("give --alert-slice or --no-alert-slices, not both")
    changing_alert = (
        alert_url is not None
        or alert_below
        or alert_slack is not None
        or alert_recovery is not None
        or alert_errors_above is not None
        or no_alert_errors
        or alert_feedback_below
        or no_alert_feedback
        or min_feedback is not None
        or alert_latency_above is not None
        or no_alert_latency
        or alert_slice
        or no_alert_slices
        or min_slice_calls is not None
    )
    if changing_alert and no_alert:
        raise CliError("give --no-alert or the alert's options (--alert-url, --alert-below …), not both")
    st = state(ctx)
    target = find_monitor(st, monitor)
    # The API replaces the alert whole: a new URL keeps the thresholds, new thresholds the URL.
    url: str | None = None
    below: dict[str, float] | None = None
    format: str | None = None
    recovery: bool | None = None
    errors_above: float | None = None
    feedback_below: dict[str, float] | None = None
    latency_above: float | None = None
    slice_fields: list[str] | None = None
    if no_alert:
        url, below = "", {}
    elif changing_alert:
        url = alert_url if alert_url is not None else target.alert.webhook_url
        below = (
            metric_thresholds(st, alert_below, "--alert-below")
            if alert_below
            else {t.metric_id: t.below for t in target.alert.thresholds}
        )
        format = target.alert.format if alert_slack is None else "slack" if alert_slack else "json"
        recovery = target.alert.notify_recovery if alert_recovery is None else alert_recovery
        errors_above = (
            None
            if no_alert_errors
            else _share(alert_errors_above)
            if alert_errors_above is not None
            else target.alert.max_error_rate
        )
        feedback_below = (
            {}
            if no_alert_feedback
            else metric_thresholds(st, alert_feedback_below, "--alert-feedback-below")
            if alert_feedback_below
            else {t.metric_id: t.below for t in target.alert.feedback_thresholds}
        )
        min_feedback = target.alert.min_feedback if min_feedback is None else min_feedback
        latency_above = (
            None
            if no_alert_latency
            else alert_latency_above
            if alert_latency_above is not None
            else target.alert.max_latency_ms
        )
        slice_fields = [] if no_alert_slices else alert_slice or target.alert.slice_fields
        min_slice_calls = target.alert.min_slice_calls if min_slice_calls is None else min_slice_calls
    updated = st.client.update_monitor(
        target.id,
        name=name,
        sample_rate=sample_rate,
        window_minutes=every_minutes,
        window_calls=every_calls,
        metadata_filter={} if no_filter else _filter(filter) if filter else None,
        metric_ids=[m.id for m in st.metrics(metric)] if metric else None,
        metric_group_id=metric_group,
        alert_url=url,
        alert_below=below,
        alert_format=format,
        alert_recovery=recovery,
        alert_max_error_rate=errors_above,
        alert_feedback_below=feedback_below,
        min_feedback=min_feedback if changing_alert and not no_alert else None,
        alert_max_latency_ms=latency_above,
        alert_slice_fields=slice_fields,
        min_slice_calls=min_slice_calls if changing_alert and not no_alert else None,
        rotate_alert_secret=rotate_secret or bool(url and not target.alert.webhook_url),
    )
    metrics = ", ".join(x.name for x in updated.metrics)
    said = (
        f"monitor {updated.name!r} ({updated.status}): samples {_rate(updated)}, a window {updated.window},"
        f" scored with {metrics}{', alerting ' + updated.alert.webhook_url if updated.alert.webhook_url else ''}"
    )
    if not updated.alert_secret:
        st.out.print(said, highlight=False)
        return
    st.err.print(f"{said}; the new secret signing its alerts is below, shown this once", highlight=False)
    st.out.print(updated.alert_secret, highlight=False, soft_wrap=True)


@monitors.command("pause")
def monitors_pause(ctx: typer.Context, monitor: Annotated[str, typer.Argument(help="Monitor id or name.")]) -> None:
    """Stop sampling (the open window still closes and is scored)."""
    st = state(ctx)
    done = st.client.pause_monitor(find_monitor(st, monitor).id)
    st.out.print(f"monitor {done.name!r} is {done.status}")


@monitors.command("delete")
def monitors_delete(ctx: typer.Context, monitor: Annotated[str, typer.Argument(help="Monitor id or name.")]) -> None:
    """Delete a monitor: it samples nothing more and the calls of its open window are dropped; the
    runs of its closed windows stay."""
    st = state(ctx)
    gone = st.client.delete_monitor(find_monitor(st, monitor).id)
    plural = "s" * (gone.windows != 1)
    kept = f"the runs of its {gone.windows} window{plural} stay" if gone.windows else "no window closed"
    st.out.print(f"deleted monitor {gone.name!r}: {kept}", highlight=False)


@monitors.command("resume")
def monitors_resume(ctx: typer.Context, monitor: Annotated[str, typer.Argument(help="Monitor id or name.")]) -> None:
    """Sample again from now on."""
    st = state(ctx)
    done = st.client.resume_monitor(find_monitor(st, monitor).id)
    st.out.print(f"monitor {done.name!r} is {done.status}")


def _calls(path: Path) -> Iterator[CallIn]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                unknown = set(data) - _CALL_FIELDS
                if unknown:
                    raise ValueError(f"unknown fields {', '.join(sorted(unknown))}")
                yield CallIn(**data)
            except (ValueError, TypeError) as exc:
                raise CliError(f"{path}:{number}: {exc}") from None


@monitors.command("log")
def monitors_log(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL: one call a line (inputs, outputs, metadata, call_id …).")],
) -> None:
    """Log production calls from a file (a replay logs nothing twice: calls keep their call_id)."""
    st = state(ctx)
    if not file.is_file():
        raise CliError(f"no such file: {file}")
    project = st.project_id()
    totals = {"stored": 0, "duplicates": 0, "sampled": 0, "refused": 0}
    batch: list[CallIn] = []

    def send() -> None:
        result = st.client.log_calls(project, batch)
        for key in ("stored", "duplicates", "sampled"):
            totals[key] += getattr(result, key)
        totals["refused"] += len(result.refused)
        batch.clear()

    for call in _calls(file):
        batch.append(call)
        if len(batch) == MAX_CALLS:
            send()
    if batch:
        send()
    st.out.print(", ".join(f"{v} {k}" for k, v in totals.items()))
