"""MonitorService (proto/scorekeeper/v1/monitors.proto): proto ⇄ domain, then the use case."""

from __future__ import annotations

import math
import uuid
from typing import Any

import asyncpg
from scorekeeper.v1 import monitors_pb2 as pb

from services.run_orchestrator.catalog.api import CatalogApi
from services.run_orchestrator.catalog.pinning import pin_metrics
from services.run_orchestrator.catalog.repository import CatalogRepository
from services.run_orchestrator.monitors import otlp, rules, slices
from services.run_orchestrator.monitors.calls import LogCalls, LogOutcome
from services.run_orchestrator.monitors.feedback import SendFeedback, takes_feedback
from services.run_orchestrator.monitors.messages import monitor_pb, test_alert_pb, window_pb
from services.run_orchestrator.monitors.repository import CallRow, MonitorRepository
from services.run_orchestrator.monitors.trace_store import TraceStore
from services.run_orchestrator.runs.results import Threshold
from services.run_orchestrator.runs.rules import MAX_ERROR_CHARS
from shared import spans
from shared.db.pool import Connection
from shared.edge.api import checks_own_text
from shared.edge.convert import parse_uuid, struct_to_dict
from shared.edge.errors import ApiError, Code, invalid, not_found
from shared.edge.validation import checked
from shared.ids import call_id_of
from shared.scoring.eval_types import reads_expected, refuse_client_scored
from shared.scoring.metric import check_threshold


def _thresholds(alert: pb.MonitorAlert, field: str = "thresholds") -> tuple[Threshold, ...]:
    return tuple(
        Threshold(parse_uuid(t.metric_id, f"alert.{field}[{i}].metric_id"), t.below)
        for i, t in enumerate(getattr(alert, field))
    )


def _definition(
    request: pb.CreateMonitorRequest | pb.UpdateMonitorRequest, row: asyncpg.Record | None = None
) -> rules.MonitorDefinition:
    """What the request defines, checked; an update's fields left out are the monitor's (``row``)."""
    given = request.HasField  # an update's optional fields (a creation gives every one)
    window = (request.window_minutes, request.window_calls)
    if row is not None and not (given("window_minutes") or given("window_calls")):
        window = (row["window_minutes"] or 0, row["window_calls"] or 0)
    alert = request.alert
    if row is None or given("alert"):
        alert_fields: dict[str, Any] = {
            "alert_url": alert.webhook_url.strip(),
            "thresholds": _thresholds(alert),
            "alert_format": alert.format or "json",
            "alert_recovery": alert.notify_recovery,
            "alert_max_error_rate": alert.max_error_rate if alert.HasField("max_error_rate") else None,
            "feedback_thresholds": _thresholds(alert, "feedback_thresholds"),
            "min_feedback": alert.min_feedback or rules.DEFAULT_MIN_FEEDBACK,
            "alert_max_latency_ms": alert.max_latency_ms if alert.HasField("max_latency_ms") else None,
            "slice_fields": tuple(alert.slice_fields),
            "min_slice_calls": alert.min_slice_calls or slices.DEFAULT_MIN_SLICE_CALLS,
        }
    else:
        alert_fields = {
            "alert_url": row["alert_url"],
            "thresholds": rules.stored_thresholds(row["alert_thresholds"]),
            "alert_format": row["alert_format"],
            "alert_recovery": row["alert_recovery"],
            "alert_max_error_rate": row["alert_max_error_rate"],
            "feedback_thresholds": rules.stored_thresholds(row["alert_feedback_thresholds"]),
            "min_feedback": row["alert_min_feedback"],
            "alert_max_latency_ms": row["alert_max_latency_ms"],
            "slice_fields": tuple(row["alert_slice_fields"]),
            "min_slice_calls": row["alert_min_slice_calls"],
        }
    return checked(
        rules.validate_monitor,
        rules.MonitorDefinition(
            name=request.name if row is None or given("name") else row["name"],
            sample_rate=request.sample_rate if row is None or given("sample_rate") else row["sample_rate"],
            metadata_filter=struct_to_dict(request.metadata_filter)
            if row is None or given("metadata_filter")
            else row["metadata_filter"],
            window_minutes=window[0],
            window_calls=window[1],
            **alert_fields,
        ),
    )


def _check_thresholds(definition: rules.MonitorDefinition, versions: list[asyncpg.Record], new: bool = True) -> None:
    """Each threshold is of one of the monitor's metrics, within that metric's range, and (when the
    alert is ``new`` in this request) not of a human metric: reviewers score when they can, and an
    alert waiting for them would hold back every later window's."""
    by_metric = {v["metric_id"]: v for v in versions}
    for i, t in enumerate(definition.thresholds):
        version = by_metric.get(t.metric_id)
        if version is None:
            raise invalid(f"alert.thresholds[{i}].metric_id {t.metric_id} is not one of the monitor's metrics")
        if new and version["eval_type"] == "human":
            raise invalid(
                f"alert.thresholds[{i}]: {version['name']!r} is a human metric — its scores come when reviewers"
                " give them, so an alert cannot wait for them; give thresholds to ai and heuristic metrics"
            )
        checked(check_threshold, f"alert.thresholds[{i}]", t.below, version["name"], version["output_type"])


def _check_feedback_thresholds(definition: rules.MonitorDefinition, metrics: list[asyncpg.Record]) -> None:
    """Each feedback threshold is of a metric of the project that takes feedback (eval type human or
    code, not archived: ``metrics``, the project's latest versions), within that metric's range."""
    by_id = {m["metric_id"]: m for m in metrics}
    for i, t in enumerate(definition.feedback_thresholds):
        field = f"alert.feedback_thresholds[{i}]"
        metric = by_id.get(t.metric_id)
        if metric is None:
            raise invalid(f"{field}.metric_id {t.metric_id} is not a metric of this project")
        checked(takes_feedback, field, metric, "alert on its feedback")
        checked(check_threshold, field, t.below, metric["name"], metric["output_type"])


def call_row(i: int, call: pb.LoggedCall) -> CallRow:
    """One logged call, checked; ValueError names the field as calls[i].field."""
    call_id, call_key = uuid.uuid4(), ""
    if call.call_id:
        if len(call.call_id) > rules.MAX_ID_TEXT or "\x00" in call.call_id or not call.call_id.strip():
            raise ValueError(
                f"calls[{i}].call_id must be a UUID or text of 1..{rules.MAX_ID_TEXT} characters without NUL,"
                f" got {call.call_id[:40]!r}{'…' if len(call.call_id) > 40 else ''}"
            )
        call_id = call_id_of(call.call_id)
        call_key = "" if str(call_id) == call.call_id.lower() else call.call_id
    status = call.status or "completed"
    if status not in ("completed", "errored"):
        raise ValueError(f"calls[{i}].status must be completed or errored, got {call.status!r}")
    if len(call.error) > MAX_ERROR_CHARS:
        raise ValueError(f"calls[{i}].error must be at most {MAX_ERROR_CHARS:,} characters")
    for name in ("latency_ms", "prompt_tokens", "completion_tokens", "cost_usd"):
        value = getattr(call, name)
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"calls[{i}].{name} must be a number that is not negative, got {value}")
    for name in ("trace_id", "session_id"):
        text = getattr(call, name)
        if len(text) > rules.MAX_ID_TEXT:
            raise ValueError(f"calls[{i}].{name} must be at most {rules.MAX_ID_TEXT} characters")
        if "\x00" in text:
            raise ValueError(f"calls[{i}].{name} contains a NUL character (\\u0000), which cannot be stored")
    return CallRow(
        id=call_id,
        inputs=struct_to_dict(call.inputs),
        outputs=struct_to_dict(call.outputs),
        metadata=struct_to_dict(call.metadata),
        status=status,
        error=call.error,
        latency_ms=call.latency_ms,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cost_usd=call.cost_usd if call.HasField("cost_usd") else None,
        trace_id=call.trace_id,
        session_id=call.session_id,
        key=call_key,
        spans=spans.parse(call.spans, f"calls[{i}].spans"),
    )


class MonitorApi:
    def __init__(
        self,
        catalog_api: CatalogApi,
        catalog: CatalogRepository,
        monitors: MonitorRepository,
        log_calls: LogCalls,
        send_feedback: SendFeedback,
        console_url: str,
        traces: TraceStore,
    ) -> None:
        self._catalog_api = catalog_api
        self._catalog = catalog
        self._monitors = monitors
        self._log_calls = log_calls
        self._send_feedback = send_feedback
        self._console_url = console_url
        self._traces = traces

    @checks_own_text
    async def log_calls(self, request: pb.LogCallsRequest) -> pb.LogCallsResponse:
        pid = await self._catalog_api.project(request.project_id)
        if len(request.calls) > rules.MAX_CALLS_PER_REQUEST:
            raise invalid(f"at most {rules.MAX_CALLS_PER_REQUEST:,} calls per request, got {len(request.calls):,}")
        calls = [checked(call_row, i, c) for i, c in enumerate(request.calls)]
        outcome = await self._log_calls(pid, calls)
        return pb.LogCallsResponse(
            call_ids=[c.key or str(c.id) for c in calls],
            stored=outcome.stored,
            duplicates=outcome.duplicates,
            sampled=outcome.sampled,
            refused=[
                pb.RefusedCall(index=r.index, call_id=calls[r.index].key or str(r.call_id), reason=r.reason)
                for r in outcome.refused
            ],
        )

    @checks_own_text
    async def ingest_traces(self, request: pb.IngestTracesRequest) -> pb.IngestTracesResponse:
        pid = await self._catalog_api.project(request.project_id)
        try:
            traces = otlp.by_trace(otlp.spans_of(otlp.decode(request.otlp)))
        except ValueError as exc:
            raise invalid(str(exc)) from None

        async def log_calls(conn: Connection, calls: list[pb.LoggedCall], start: int) -> LogOutcome:
            return await self._log_calls(pid, [checked(call_row, start + i, c) for i, c in enumerate(calls)], conn)

        done = await self._traces.ingest(pid, traces, log_calls)
        return pb.IngestTracesResponse(
            call_ids=done.call_ids,
            stored=done.logged.stored,
            duplicates=done.logged.duplicates,
            sampled=done.logged.sampled,
            pending_spans=done.pending_spans,
            added_spans=done.added_spans,
        )

    async def send_feedback(self, request: pb.SendFeedbackRequest) -> pb.SendFeedbackResponse:
        pid = await self._catalog_api.project(request.project_id)
        metrics = await self._catalog.latest_metric_versions(pid)
        outcome = await self._send_feedback(pid, list(request.feedback), metrics)
        return pb.SendFeedbackResponse(stored=outcome.stored, replaced=outcome.replaced, removed=outcome.removed)

    async def create_monitor(self, request: pb.CreateMonitorRequest) -> pb.Monitor:
        pid = await self._catalog_api.project(request.project_id)
        definition = _definition(request)
        group = parse_uuid(request.metric_group_id, "metric_group_id") if request.metric_group_id else None
        versions = await self._pin(pid, list(request.metric_ids), group)
        _check_thresholds(definition, versions)
        _check_feedback_thresholds(definition, await self._catalog.latest_metric_versions(pid))
        row = await self._monitors.create(pid, definition, versions, group, request.paused)
        if row is None:
            raise ApiError(Code.ALREADY_EXISTS, f"project {pid} already has a monitor named {definition.name!r}")
        return monitor_pb(row, {v["version_id"]: v for v in versions}, 0, secret=row["alert_secret"])

    async def update_monitor(self, request: pb.UpdateMonitorRequest) -> pb.Monitor:
        row = await self._monitor(request.monitor_id)
        given = request.HasField
        definition = _definition(request, row)
        group = row["metric_group_id"]
        if request.metric_ids or given("metric_group_id"):
            group = parse_uuid(request.metric_group_id, "metric_group_id") if request.metric_group_id else None
            versions = await self._pin(row["project_id"], list(request.metric_ids), group)
        else:
            versions = await self._catalog.metric_versions_in_order(list(row["metric_version_ids"]))
        _check_thresholds(definition, versions, given("alert"))
        if given("alert"):
            _check_feedback_thresholds(definition, await self._catalog.latest_metric_versions(row["project_id"]))
        mute = (
            checked(rules.check_mute, request.mute_alert_minutes, definition.alert_url)
            if given("mute_alert_minutes")
            else None
        )
        updated = await self._monitors.update(row["id"], definition, versions, group, request.rotate_alert_secret, mute)
        if updated is None:
            if await self._monitors.get(row["id"]) is None:
                raise not_found(f"monitor {request.monitor_id} does not exist")
            raise ApiError(
                Code.ALREADY_EXISTS, f"project {row['project_id']} already has a monitor named {definition.name!r}"
            )
        view = (await self._views([updated]))[0]
        if request.rotate_alert_secret:
            view.alert_secret = updated["alert_secret"]
        return view

    async def _pin(self, pid: uuid.UUID, metric_ids: list[str], group: uuid.UUID | None) -> list[asyncpg.Record]:
        """The latest version of each metric (and of the group's): at least one, each scorable
        without expected values."""
        versions = await pin_metrics(self._catalog, pid, [parse_uuid(m, "metric_ids") for m in metric_ids], group)
        if not versions:
            raise invalid("a monitor needs at least one metric: give metric_ids or metric_group_id")
        checked(
            rules.scorable_without_expected,
            [v["name"] for v in versions if reads_expected(v["eval_type"], v["config"])],
        )
        checked(refuse_client_scored, versions, "a monitor's windows are scored by the platform")
        return versions

    async def get_monitor(self, request: pb.GetMonitorRequest) -> pb.MonitorWithWindows:
        row = await self._monitor(request.monitor_id)
        windows = await self._monitors.windows(row["id"])
        results = await self._monitors.window_results(windows)
        feedback = await self._monitors.windows_feedback(row, windows)
        return pb.MonitorWithWindows(
            monitor=(await self._views([row]))[0],
            windows=[window_pb(w, results.get(w["run_id"], []), row, feedback.get(w["id"], [])) for w in windows],
        )

    async def list_monitors(self, request: pb.ListMonitorsRequest) -> pb.ListMonitorsResponse:
        pid = await self._catalog_api.project(request.project_id)
        return pb.ListMonitorsResponse(monitors=await self._views(await self._monitors.of_project(pid)))

    async def pause_monitor(self, request: pb.PauseMonitorRequest) -> pb.Monitor:
        return await self._set_status(request.monitor_id, "paused")

    async def resume_monitor(self, request: pb.ResumeMonitorRequest) -> pb.Monitor:
        return await self._set_status(request.monitor_id, "active")

    async def _set_status(self, monitor_id: str, status: str) -> pb.Monitor:
        row = await self._monitors.set_status((await self._monitor(monitor_id))["id"], status)
        if row is None:  # deleted meanwhile
            raise not_found(f"monitor {monitor_id} does not exist")
        return (await self._views([row]))[0]

    async def delete_monitor(self, request: pb.DeleteMonitorRequest) -> pb.Monitor:
        row = await self._monitors.delete(parse_uuid(request.monitor_id, "monitor_id"))
        if row is None:
            raise not_found(f"monitor {request.monitor_id} does not exist")
        return (await self._views([row]))[0]

    async def test_monitor_alert(self, request: pb.TestMonitorAlertRequest) -> pb.MonitorTestAlert:
        row = await self._monitor(request.monitor_id)
        if not row["alert_url"]:
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"monitor {row['name']!r} has no alert to test: give it an alert webhook_url first",
            )
        document = rules.test_alert_document(uuid.uuid4(), row["project_id"], row["id"], row["name"], self._console_url)
        return test_alert_pb(await self._monitors.add_test_alert(row, document))

    async def _monitor(self, monitor_id: str) -> asyncpg.Record:
        row = await self._monitors.get(parse_uuid(monitor_id, "monitor_id"))
        if row is None:
            raise not_found(f"monitor {monitor_id} does not exist")
        return row

    async def _views(self, rows: list[asyncpg.Record]) -> list[pb.Monitor]:
        version_ids = list({v for r in rows for v in r["metric_version_ids"]})
        versions = {v["version_id"]: v for v in await self._catalog.metric_versions_in_order(version_ids)}
        ids = [r["id"] for r in rows]
        pending = await self._monitors.pending(ids)
        tests = await self._monitors.latest_test_alerts(ids)
        latest = await self._monitors.latest_windows(ids)
        results = await self._monitors.window_results(list(latest.values()))
        views = []
        for r in rows:
            window = latest.get(r["id"])
            latest_window = None
            if window is not None:
                feedback = (await self._monitors.windows_feedback(r, [window])).get(window["id"], [])
                latest_window = window_pb(window, results.get(window["run_id"], []), r, feedback)
            views.append(
                monitor_pb(
                    r, versions, pending.get(r["id"], 0), test_alert=tests.get(r["id"]), latest_window=latest_window
                )
            )
        return views
