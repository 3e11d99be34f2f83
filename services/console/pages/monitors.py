"""Monitors: the list with a form to create one, a monitor with its windows and a form to change
it, pause and resume, a test alert, its alerts muted for a while."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api
from services.console.web import CHOICE_ERRORS, Console, PageNotFound, api_message, redirect
from shared.edge.convert import dict_to_struct, struct_to_dict
from shared.record_fields import split_unquoted

WINDOW_KINDS = ("minutes", "calls")
# How long the console waits for a test alert's outcome before showing the page (it says to reload).
TEST_ALERT_WAIT_S = 8.0
# What the monitor page offers to mute its alerts for (minutes, label).
MUTE_CHOICES = ((60, "1 hour"), (240, "4 hours"), (24 * 60, "1 day"), (7 * 24 * 60, "7 days"))


class MonitorFormError(ValueError):
    """A form value the console can tell is wrong before asking the API."""


def _number(form: FormData, name: str, label: str, kind: type[int] | type[float]) -> Any:
    text = str(form.get(name, "")).strip()
    try:
        return kind(text)
    except ValueError:
        raise MonitorFormError(f"{label} must be a number, got {text!r}") from None


def _prefixed(form: FormData, prefix: str) -> dict[str, str]:
    """The form's fields named ``prefix`` + a metric id: the metric id by field name."""
    return {str(k): str(k)[len(prefix) :] for k in form if str(k).startswith(prefix)}


def create_request(project_id: str, form: FormData) -> mpb.CreateMonitorRequest:
    """The CreateMonitor request a posted form asks for (the API checks the rest)."""
    metric_ids = [str(m) for m in form.getlist("metric")]
    window = _number(form, "window", "The window", int)
    kind = str(form.get("window_kind", "minutes"))
    if kind not in WINDOW_KINDS:
        raise MonitorFormError(f"the window is counted in minutes or calls, got {kind!r}")
    filter_text = str(form.get("metadata_filter", "")).strip()
    try:
        metadata_filter = json.loads(filter_text) if filter_text else {}
    except json.JSONDecodeError as exc:
        raise MonitorFormError(f"the metadata filter is not JSON: {exc.msg}") from None
    if not isinstance(metadata_filter, dict):
        raise MonitorFormError('the metadata filter is a JSON object, e.g. {"route": "checkout"}')
    thresholds = [
        mpb.AlertThreshold(metric_id=m, below=_number(form, f"below_{m}", "An alert threshold", float))
        for m in metric_ids
        if str(form.get(f"below_{m}", "")).strip()
    ]
    # Users' feedback: any human or code metric of the project, whether the monitor scores with it or not.
    feedback = [
        mpb.AlertThreshold(metric_id=m, below=_number(form, key, "A threshold of the users' feedback", float))
        for key, m in _prefixed(form, "feedback_below_").items()
        if str(form.get(key, "")).strip()
    ]
    min_feedback = _number(form, "min_feedback", "The verdicts a window needs", int) if form.get("min_feedback") else 0
    slices, closed = split_unquoted(str(form.get("alert_slices", "")), ",")
    if not closed:
        raise MonitorFormError("the slice fields: a double quote is not closed")
    min_slice_calls = (
        _number(form, "min_slice_calls", "The calls a slice needs", int) if form.get("min_slice_calls") else 0
    )
    return mpb.CreateMonitorRequest(
        project_id=project_id,
        name=str(form.get("name", "")),
        metric_ids=metric_ids,
        sample_rate=_number(form, "sample_rate", "The sample rate", float),
        metadata_filter=dict_to_struct(metadata_filter),
        window_minutes=window if kind == "minutes" else 0,
        window_calls=window if kind == "calls" else 0,
        alert=mpb.MonitorAlert(
            webhook_url=str(form.get("alert_url", "")).strip(),
            thresholds=thresholds,
            format=str(form.get("alert_format", "json")),
            notify_recovery=form.get("alert_recovery") == "on",
            max_error_rate=_number(form, "alert_errors_above", "The share of errored calls", float) / 100
            if str(form.get("alert_errors_above", "")).strip()
            else None,
            feedback_thresholds=feedback,
            min_feedback=min_feedback,
            max_latency_ms=_number(form, "alert_latency_above", "The latency", float)
            if str(form.get("alert_latency_above", "")).strip()
            else None,
            slice_fields=[f.strip() for f in slices if f.strip()],
            min_slice_calls=min_slice_calls,
        ),
        paused=form.get("paused") == "on",
    )


def update_request(monitor_id: str, form: FormData) -> mpb.UpdateMonitorRequest:
    """The UpdateMonitor request of a posted Edit form: every setting it shows, replaced."""
    made = create_request("", form)
    request = mpb.UpdateMonitorRequest(
        monitor_id=monitor_id,
        name=made.name,
        sample_rate=made.sample_rate,
        window_minutes=made.window_minutes,
        window_calls=made.window_calls,
        metric_ids=made.metric_ids,
        metric_group_id="",
    )
    request.metadata_filter.CopyFrom(made.metadata_filter)
    request.alert.CopyFrom(made.alert)
    return request


def monitor_values(m: mpb.Monitor) -> dict[str, Any]:
    """A monitor's settings as its Edit form shows them."""
    metadata_filter = struct_to_dict(m.metadata_filter)
    return {
        "name": m.name,
        "sample_rate": f"{m.sample_rate:g}",
        "window": str(m.window_minutes or m.window_calls),
        "window_kind": "minutes" if m.window_minutes else "calls",
        "metadata_filter": json.dumps(metadata_filter) if metadata_filter else "",
        "metrics": [x.metric_id for x in m.metrics],
        "below": {t.metric_id: f"{t.below:g}" for t in m.alert.thresholds},
        "alert_url": m.alert.webhook_url,
        "alert_format": m.alert.format,
        "alert_recovery": "on" if m.alert.notify_recovery else "",
        "alert_errors_above": f"{m.alert.max_error_rate * 100:g}" if m.alert.HasField("max_error_rate") else "",
        "feedback_below": {t.metric_id: f"{t.below:g}" for t in m.alert.feedback_thresholds},
        "min_feedback": str(m.alert.min_feedback),
        "alert_latency_above": f"{m.alert.max_latency_ms:g}" if m.alert.HasField("max_latency_ms") else "",
        "alert_slices": ", ".join(m.alert.slice_fields),
        "min_slice_calls": str(m.alert.min_slice_calls),
    }


def posted_values(form: FormData | None) -> dict[str, Any]:
    """What the form shows: the visitor's values after a refusal, defaults otherwise."""
    if form is None:
        defaults = {
            "sample_rate": "10",
            "window": "60",
            "window_kind": "minutes",
            "min_feedback": "10",
            "min_slice_calls": "20",
        }
        return {**defaults, "metrics": [], "below": {}, "feedback_below": {}}
    values: dict[str, Any] = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values["metrics"] = [str(m) for m in form.getlist("metric")]
    values["below"] = {m: str(form.get(k, "")) for k, m in _prefixed(form, "below_").items()}
    values["feedback_below"] = {m: str(form.get(k, "")) for k, m in _prefixed(form, "feedback_below_").items()}
    return values


async def held_fields(api: Api, monitor: mpb.Monitor) -> list[str]:
    """The fields its latest window's calls hold (metadata.lang …): what its alert's slice fields
    can be; none before a window closed, or when the query service cannot say."""
    if not monitor.HasField("latest_window"):
        return []
    request = qpb.GetRunBreakdownRequest(run_id=monitor.latest_window.run_id)
    try:
        found = await api.call(api.stubs.query.GetRunBreakdown, request, qpb.RunBreakdown)
    except grpc.aio.AioRpcError:
        return []  # a hint on the form, not the page
    return [f for f in found.fields if f.startswith(("metadata.", "inputs."))]  # calls have no expected values


def routes(console: Console) -> list[Route]:
    def metrics(api: Api, project_id: str) -> Any:
        return api.call(
            api.stubs.catalog.ListMetrics, cpb.ListMetricsRequest(project_id=project_id), cpb.ListMetricsResponse
        )

    async def list_page(request: Request, values: dict[str, Any], error: str = "", status_code: int = 200) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "monitors": api.call(
                    api.stubs.monitors.ListMonitors,
                    mpb.ListMonitorsRequest(project_id=project_id),
                    mpb.ListMonitorsResponse,
                ),
                "metrics": metrics(api, project_id),
            },
        )
        context = {
            **data,
            "values": values,
            "error": error,
            "window_kinds": WINDOW_KINDS,
            "deleted": request.query_params.get("deleted", ""),
        }
        return console.render(request, "monitors.html", context, status_code=status_code)

    async def monitors_page(request: Request) -> Response:
        return await list_page(request, posted_values(None))

    async def create_monitor(request: Request) -> Response:
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        try:
            created = await api.call(api.stubs.monitors.CreateMonitor, create_request(project_id, form), mpb.Monitor)
        except MonitorFormError as exc:
            return await list_page(request, posted_values(form), str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return await list_page(request, posted_values(form), api_message(exc), 400)
        if not created.alert.webhook_url:
            return redirect(f"/projects/{project_id}/monitors/{created.id}?created=1")
        return await with_secret(request, created.id, created.alert_secret, {"created": True})

    async def with_secret(request: Request, monitor_id: str, secret: str, extra: dict[str, Any]) -> Response:
        """The monitor's page showing its alert signing secret: in this answer only, never in an
        address, a cookie, a log or a cache."""
        response = await detail_page(request, monitor_id, extra={"secret": secret, **extra})
        response.headers["Cache-Control"] = "no-store"
        return response

    async def monitor_of_project(api: Api, project_id: str, monitor_id: str) -> mpb.MonitorWithWindows:
        found = await api.call(
            api.stubs.monitors.GetMonitor, mpb.GetMonitorRequest(monitor_id=monitor_id), mpb.MonitorWithWindows
        )
        if found.monitor.project_id != project_id:
            raise PageNotFound
        return found

    async def addressed(request: Request) -> tuple[Api, str, mpb.Monitor]:
        """The visitor's API, and the project and monitor in the address: NOT_FOUND page unless the
        monitor is of that project."""
        project_id, monitor_id = request.path_params["project_id"], request.path_params["monitor_id"]
        api = console.api(request)
        found = await monitor_of_project(api, project_id, monitor_id)
        return api, project_id, found.monitor

    async def detail_page(
        request: Request,
        monitor_id: str,
        form: FormData | None = None,
        error: str = "",
        status_code: int = 200,
        extra: dict[str, Any] | None = None,
    ) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        data = await console.project_page(
            request,
            api,
            project_id,
            {"detail": monitor_of_project(api, project_id, monitor_id), "metrics": metrics(api, project_id)},
        )
        context = {
            **data,
            "slice_fields": await held_fields(api, data["detail"].monitor),
            "values": posted_values(form) if form is not None else monitor_values(data["detail"].monitor),
            "window_kinds": WINDOW_KINDS,
            "error": error,
            "saved": request.query_params.get("saved") == "1",
            "created": request.query_params.get("created") == "1",
            "tested": request.query_params.get("tested") == "1",
            "mute_choices": MUTE_CHOICES,
            **(extra or {}),
        }
        return console.render(request, "monitor.html", context, status_code=status_code)

    async def monitor_page(request: Request) -> Response:
        return await detail_page(request, request.path_params["monitor_id"])

    async def edit_monitor(request: Request) -> Response:
        form = await console.form(request)
        api, project_id, monitor = await addressed(request)
        try:
            changing = update_request(monitor.id, form)
            # An alert added to a monitor that had none comes with a secret its owner sees.
            changing.rotate_alert_secret = bool(changing.alert.webhook_url and not monitor.alert.webhook_url)
            changed = await api.call(api.stubs.monitors.UpdateMonitor, changing, mpb.Monitor)
        except MonitorFormError as exc:
            return await detail_page(request, monitor.id, form, str(exc), 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in CHOICE_ERRORS:
                raise
            return await detail_page(request, monitor.id, form, api_message(exc), 400)
        if changed.alert_secret:
            return await with_secret(request, monitor.id, changed.alert_secret, {"saved": True})
        return redirect(f"/projects/{project_id}/monitors/{monitor.id}?saved=1")

    async def rotate_secret(request: Request) -> Response:
        await console.form(request)
        api, _, monitor = await addressed(request)
        rotating = mpb.UpdateMonitorRequest(monitor_id=monitor.id, rotate_alert_secret=True)
        rotated = await api.call(api.stubs.monitors.UpdateMonitor, rotating, mpb.Monitor)
        return await with_secret(request, monitor.id, rotated.alert_secret, {"rotated": True})

    async def test_alert(request: Request) -> Response:
        """A test alert sent; the page shows it once the URL answered (or after TEST_ALERT_WAIT_S)."""
        await console.form(request)
        api, project_id, monitor = await addressed(request)
        testing = mpb.TestMonitorAlertRequest(monitor_id=monitor.id)
        sent = await api.call(api.stubs.monitors.TestMonitorAlert, testing, mpb.MonitorTestAlert)
        deadline = time.monotonic() + TEST_ALERT_WAIT_S
        while sent.status not in ("delivered", "failed") and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            latest = (await monitor_of_project(api, project_id, monitor.id)).monitor.last_test_alert
            sent = latest if latest.id == sent.id else sent
        return redirect(f"/projects/{project_id}/monitors/{monitor.id}?tested=1", request)

    async def mute(request: Request) -> Response:
        """Its alerts muted for one of MUTE_CHOICES, or unmuted (minutes 0)."""
        form = await console.form(request)
        api, project_id, monitor = await addressed(request)
        minutes = str(form.get("minutes", "")).strip()
        if minutes not in {"0", *(str(m) for m, _ in MUTE_CHOICES)}:
            return await detail_page(request, monitor.id, error=f"mute for how long? got {minutes!r}", status_code=400)
        muting = mpb.UpdateMonitorRequest(monitor_id=monitor.id, mute_alert_minutes=int(minutes))
        await api.call(api.stubs.monitors.UpdateMonitor, muting, mpb.Monitor)
        return redirect(f"/projects/{project_id}/monitors/{monitor.id}", request)

    async def set_status(request: Request, pause: bool) -> Response:
        await console.form(request)
        api, project_id, monitor = await addressed(request)
        monitor_id = monitor.id
        if pause:
            await api.call(api.stubs.monitors.PauseMonitor, mpb.PauseMonitorRequest(monitor_id=monitor_id), mpb.Monitor)
        else:
            resume = mpb.ResumeMonitorRequest(monitor_id=monitor_id)
            await api.call(api.stubs.monitors.ResumeMonitor, resume, mpb.Monitor)
        listed = request.query_params.get("back") == "list"
        return redirect(f"/projects/{project_id}/monitors" + ("" if listed else f"/{monitor_id}"), request)

    async def delete(request: Request) -> Response:
        await console.form(request)
        api, project_id, monitor = await addressed(request)
        gone = await api.call(
            api.stubs.monitors.DeleteMonitor, mpb.DeleteMonitorRequest(monitor_id=monitor.id), mpb.Monitor
        )
        return redirect(f"/projects/{project_id}/monitors?{urlencode({'deleted': gone.name})}")

    async def pause(request: Request) -> Response:
        return await set_status(request, pause=True)

    async def resume(request: Request) -> Response:
        return await set_status(request, pause=False)

    base = "/projects/{project_id}/monitors"
    return [
        Route(base, monitors_page, methods=["GET"]),
        Route(base, create_monitor, methods=["POST"]),
        Route(base + "/{monitor_id}", monitor_page, methods=["GET"]),
        Route(base + "/{monitor_id}/edit", edit_monitor, methods=["POST"]),
        Route(base + "/{monitor_id}/delete", delete, methods=["POST"]),
        Route(base + "/{monitor_id}/rotate", rotate_secret, methods=["POST"]),
        Route(base + "/{monitor_id}/test-alert", test_alert, methods=["POST"]),
        Route(base + "/{monitor_id}/mute", mute, methods=["POST"]),
        Route(base + "/{monitor_id}/pause", pause, methods=["POST"]),
        Route(base + "/{monitor_id}/resume", resume, methods=["POST"]),
    ]
