"""A run's page: status and its explanation, aggregates, details and notes, live progress, the
records table, and the downloads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api, feedback_metrics
from services.console.previous_run import changes, previous_of
from services.console.record_filters import FORM_CONTEXT, Condition, RecordFilters, used
from services.console.web import (
    EXPORTS,
    INPUT_ERRORS,
    Console,
    PageNotFound,
    api_message,
    download,
    error_page,
    redirect,
)
from shared.run_status import ARCHIVABLE, RETRYABLE, RunStatus
from shared.run_status import TERMINAL as FINAL_STATUSES
from shared.system_kinds import SYSTEM_KINDS


async def run_of_project(api: Api, project_id: str, run_id: str) -> qpb.RunView:
    """The run, if it belongs to the project in the URL (an admin key sees every project's runs)."""
    run = await api.call(api.stubs.query.GetRun, qpb.GetRunRequest(run_id=run_id), qpb.RunView)
    if run.project_id != project_id:
        raise PageNotFound
    return run


def retryable(run: qpb.RunView) -> bool:
    """Whether the run page offers to execute its errored records again (the API decides for good)."""
    kind = SYSTEM_KINDS.get(run.system_version.kind) if run.HasField("system_version") else None
    return run.errored_records > 0 and run.status in RETRYABLE and kind is not None and kind.executed_by_platform


def agreement_pair(run: qpb.RunView, params: Any, feedback: Sequence[str] = ()) -> tuple[str, str]:
    """The two metrics the agreement form compares: the chosen ones, else a machine-scored metric
    against the first human one (or, in a monitor's run, the first metric its calls got feedback
    of), else the first two."""
    chosen = (params.get("agree_a", ""), params.get("agree_b", ""))
    if all(chosen):
        return chosen
    humans = [m.metric_id for m in run.metrics if m.eval_type == "human"] + list(feedback)
    others = [m.metric_id for m in run.metrics if m.eval_type != "human"]
    if humans and others:
        return others[0], humans[0]
    ids = [m.metric_id for m in run.metrics]
    return (ids[0], ids[1]) if len(ids) >= 2 else ("", "")


async def weak_slices_of(api: Api, run: qpb.RunView, params: Any, baseline_id: str = "") -> dict[str, Any]:
    """The run's weak slices when the address asks for them (``slices=1``; against a baseline run's
    same slices, if given: those that regressed), or nothing."""
    if params.get("slices") != "1":
        return {"weak": None, "weak_error": ""}
    least = params.get("min", "").strip()
    if least and not least.isdigit():
        return {"weak": None, "weak_error": f"At least how many records: {least[:20]!r} is not a whole number."}
    request = qpb.GetWeakSlicesRequest(
        run_id=run.id, min_records=min(int(least or 0), 2**31 - 1), baseline_run_id=baseline_id
    )
    try:
        return {"weak": await api.call(api.stubs.query.GetWeakSlices, request, qpb.WeakSlices), "weak_error": ""}
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in INPUT_ERRORS:
            raise
        return {"weak": None, "weak_error": api_message(exc)}


async def breakdown_of(api: Api, run: qpb.RunView, params: Any, baseline_id: str = "") -> dict[str, Any]:
    """The run broken down by the field the address asks for (``by``; against a baseline run's
    groups, if given), with the fields to choose from; or the API's reason it cannot be. Also where
    a slice's history over the runs of the testset is charted (the runs page, that slice alone)."""
    by = params.get("by", "").strip()
    over_runs: list[tuple[str, str]] = []
    if run.testset_id:
        over_runs.append(("testset", run.testset_id))
    elif run.monitor_id:  # a monitor's window: over that monitor's windows
        over_runs.append(("monitor", run.monitor_id))
    over_runs += [("metric", m.metric_id) for m in run.metrics]
    shown = {"by": by, "slice_history": f"/projects/{run.project_id}/runs?{urlencode(over_runs)}"}
    request = qpb.GetRunBreakdownRequest(run_id=run.id, field=by, baseline_run_id=baseline_id)
    try:
        found = await api.call(api.stubs.query.GetRunBreakdown, request, qpb.RunBreakdown)
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in INPUT_ERRORS:
            raise
        request.field, request.baseline_run_id = "", ""  # the fields to choose from, still
        found = await api.call(api.stubs.query.GetRunBreakdown, request, qpb.RunBreakdown)
        return {**shown, "breakdown": found, "breakdown_error": api_message(exc), "overall_pass_rate": {}}
    overall = {m.metric_id: m.pass_rate for m in run.metrics if m.HasField("pass_rate")}
    return {**shown, "breakdown": found, "breakdown_error": "", "overall_pass_rate": overall}


async def agreement_of(api: Api, run: qpb.RunView, params: Any) -> dict[str, Any]:
    """The agreement of the two metrics the address asks for (nothing when it asks for none), with
    a link from each cell to those records; or the API's reason it cannot be told. A monitor's run
    also offers the human and code metrics it does not pin: its calls' feedback."""
    pinned = {m.metric_id for m in run.metrics}
    feedback = [m for m in await feedback_metrics(api, run.project_id) if m.id not in pinned] if run.monitor_id else []
    choices = [(m.metric_id, m.name) for m in run.metrics] + [(m.id, f"{m.name} (users' feedback)") for m in feedback]
    a, b = agreement_pair(run, params, [m.id for m in feedback])
    found: dict[str, Any] = {
        "agree": (a, b),
        "agreement": None,
        "agreement_error": "",
        "agreement_urls": {},
        "agreement_choices": choices,
    }
    if not (params.get("agree_a") and params.get("agree_b")):
        return found
    request = qpb.GetMetricAgreementRequest(run_id=run.id, metric_a=a, metric_b=b)
    try:
        agreement = await api.call(api.stubs.query.GetMetricAgreement, request, qpb.MetricAgreement)
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in INPUT_ERRORS:
            raise
        found["agreement_error"] = api_message(exc)
        return found
    found["agreement"] = agreement
    if agreement.metric_a_feedback or agreement.metric_b_feedback:
        return found  # the records list filters by scores, not by feedback: no links
    for a_op in ("passed", "failed"):
        for b_op in ("passed", "failed"):
            cell = RecordFilters(conditions=(Condition(a, a_op), Condition(b, b_op)))
            found["agreement_urls"][a_op, b_op] = f"?{cell.query()}#records"
    return found


def record_columns(run: qpb.RunView) -> list[dict[str, str]]:
    return [{"id": m.metric_id, "name": m.name, "version_id": m.metric_version_id} for m in run.metrics]


def scores_by_metric(record: qpb.RecordView) -> dict[str, qpb.ScoreView]:
    """The score of each metric the run pins now (a superseded version's score is history)."""
    return {s.metric_id: s for s in record.scores if s.current}


def reviewing(run: qpb.RunView) -> bool:
    """Whether the run waits for reviewers: its records and machine scores are all in, so its
    testcases against the previous run and its steps are shown as a finished run's are — loaded once
    and kept (hx-preserve) across the progress polls, which go on until the reviews are done."""
    return run.status == RunStatus.AWAITING_HUMAN_SCORING


def routes(console: Console) -> list[Route]:
    def records_request(run_id: str, filters: RecordFilters) -> qpb.ListRecordsRequest:
        fields: dict[str, Any] = filters.request_fields()
        fields.pop("run_ids")
        return qpb.ListRecordsRequest(run_id=run_id, page_size=console.settings.page_size, **fields)

    def table_context(
        project_id: str, run: qpb.RunView, page: qpb.ListRecordsResponse, filters: RecordFilters
    ) -> dict[str, Any]:
        base = f"/projects/{project_id}/runs/{run.id}"
        return {
            "run": run,
            "records": page.records,
            "columns": record_columns(run),
            "scores_by_metric": scores_by_metric,
            "filters": filters,
            **FORM_CONTEXT,
            "used": used(page.records),
            "next_query": filters.query(token=page.next_page_token) if page.next_page_token else "",
            "page_url": base,
            "fragment_url": f"{base}/records",
        }

    async def run_page(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        api = console.api(request)
        data = await console.project_page(request, api, project_id, {"run": run_of_project(api, project_id, run_id)})
        run: qpb.RunView = data["run"]
        filters = RecordFilters.parse(request.query_params, {m.metric_id for m in run.metrics})
        loads: list[Awaitable[Any]] = [
            api.call(api.stubs.query.ListRecords, records_request(run_id, filters), qpb.ListRecordsResponse),
            agreement_of(api, run, request.query_params),
            breakdown_of(api, run, request.query_params),
            weak_slices_of(api, run, request.query_params),
            previous_of(api, run),
        ]
        # A spread to draw, or trials that may disagree.
        if run.trials > 1 or any(m.output_type != "boolean" and m.scored for m in run.metrics):
            spread = qpb.GetScoreDistributionRequest(run_id=run_id)
            loads.append(api.call(api.stubs.query.GetScoreDistribution, spread, qpb.ScoreDistribution))
        page, agreement, breakdown, weak, previous, *distribution = await asyncio.gather(*loads)
        return console.render(
            request,
            "run.html",
            {
                **data,
                **agreement,
                **breakdown,
                **weak,
                "distribution": distribution[0] if distribution else None,
                "previous": previous,
                "moved": changes(run, previous),
                **table_context(project_id, run, page, filters),
                "final": run.status in FINAL_STATUSES,
                "reviewing": reviewing(run),
                "retryable": retryable(run),
                "archivable": run.status in ARCHIVABLE,
            },
        )

    async def progress(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        api = console.api(request)
        run, _ = await asyncio.gather(run_of_project(api, project_id, run_id), console.role(request, api))
        final = run.status in FINAL_STATUSES
        previous = await previous_of(api, run)  # once it has its scores
        live = request.query_params.get("was") == "live"
        # The records table listens: it reloads when the run settles, and while the run is live
        # whenever these counts differ from the ones it was drawn with (at most every few seconds,
        # see _run_records.html; every poll says them, so a change it let pass is caught later).
        events: dict[str, Any] = {}
        if live and final:
            events["run-settled"] = {}
        elif live:
            events["run-progressed"] = {"records": run.records, "scores": run.scores}
        context = {
            "run": run,
            "final": final,
            "reviewing": reviewing(run),
            "project_id": project_id,
            # A poll also brings the actions up to date (Cancel gone, Retry / Review come).
            "oob": live,
            "retryable": retryable(run),
            "archivable": run.status in ARCHIVABLE,
            "previous": previous,
            "moved": changes(run, previous),
        }
        headers = {"HX-Trigger": json.dumps(events)} if events else {}
        return console.render(request, "_run_progress.html", context, headers=headers)

    async def records_fragment(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        api = console.api(request)
        run = await run_of_project(api, project_id, run_id)
        filters = RecordFilters.parse(request.query_params, {m.metric_id for m in run.metrics})
        page = await api.call(api.stubs.query.ListRecords, records_request(run_id, filters), qpb.ListRecordsResponse)
        context = {"project_id": project_id, **table_context(project_id, run, page, filters)}
        # The address bar shows the page with these filters, so reload, back and forward keep them;
        # the table reloading itself (reload=1: the run settled or progressed) adds no history entry.
        if request.query_params.get("reload") == "1":
            return console.render(request, "_run_records.html", context)
        query = filters.query(token=filters.token)
        pushed = f"/projects/{project_id}/runs/{run_id}" + (f"?{query}" if query else "")
        return console.render(request, "_run_records.html", context, headers={"HX-Push-Url": pushed})

    async def save_notes(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        form = await console.form(request)
        api = console.api(request)
        await run_of_project(api, project_id, run_id)
        notes = str(form.get("notes", ""))
        updated = await api.call(
            api.stubs.runs.UpdateRunNotes, rpb.UpdateRunNotesRequest(run_id=run_id, notes=notes), rpb.Run
        )
        if console.is_fragment(request):
            return console.render(
                request,
                "_notes.html",
                {"notes": updated.notes, "project_id": project_id, "run_id": run_id, "saved": True},
            )
        return redirect(f"/projects/{project_id}/runs/{run_id}")

    async def save_tags(request: Request) -> Response:
        """The run's tags as typed (comma-separated): those added and those removed since."""
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        form = await console.form(request)
        api = console.api(request)
        run = await run_of_project(api, project_id, run_id)
        typed = list(dict.fromkeys(t.strip() for t in str(form.get("tags", "")).split(",") if t.strip()))
        context: dict[str, Any] = {"project_id": project_id, "run_id": run_id}
        try:
            updated = await api.call(
                api.stubs.runs.UpdateRunTags,
                rpb.UpdateRunTagsRequest(
                    run_id=run_id,
                    add=[t for t in typed if t not in run.tags],
                    remove=[t for t in run.tags if t not in typed],
                ),
                rpb.Run,
            )
            context.update(tags=list(updated.tags), saved=True)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            context.update(tags=typed, error=api_message(exc))
        if console.is_fragment(request):
            return console.render(request, "_tags.html", context, status_code=400 if "error" in context else 200)
        if "error" in context:
            return error_page(console, request, 400, "That did not work", context["error"])
        return redirect(f"/projects/{project_id}/runs/{run_id}")

    async def cancel(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        await console.form(request)
        api = console.api(request)
        await run_of_project(api, project_id, run_id)
        await api.call(api.stubs.runs.CancelRun, rpb.CancelRunRequest(run_id=run_id), rpb.Run)
        return redirect(f"/projects/{project_id}/runs/{run_id}", request)

    def archiving(rpc: str) -> Callable[[Request], Awaitable[Response]]:
        """ArchiveRun or UnarchiveRun from the run page's button, back to the run page."""

        async def act(request: Request) -> Response:
            project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
            await console.form(request)
            api = console.api(request)
            await run_of_project(api, project_id, run_id)
            message = getattr(rpb, f"{rpc}Request")(run_id=run_id)
            await api.call(getattr(api.stubs.runs, rpc), message, rpb.Run)
            return redirect(f"/projects/{project_id}/runs/{run_id}", request)

        return act

    async def retry_errors(request: Request) -> Response:
        project_id, run_id = request.path_params["project_id"], request.path_params["run_id"]
        await console.form(request)
        api = console.api(request)
        await run_of_project(api, project_id, run_id)
        await api.call(
            api.stubs.runs.RetryErroredRecords,
            rpb.RetryErroredRecordsRequest(run_id=run_id),
            rpb.RetryErroredRecordsResponse,
        )
        return redirect(f"/projects/{project_id}/runs/{run_id}", request)

    async def export(request: Request) -> Response:
        project_id, run_id, fmt = (request.path_params[k] for k in ("project_id", "run_id", "format"))
        if fmt not in EXPORTS:
            raise PageNotFound
        api = console.api(request)
        await run_of_project(api, project_id, run_id)
        chunks = api.stream(api.stubs.query.ExportRun, qpb.ExportRunRequest(run_id=run_id, format=fmt))
        media_type, suffix = EXPORTS[fmt]
        return await download(chunks, media_type, f"run-{run_id}.{suffix}")

    base = "/projects/{project_id}/runs/{run_id}"
    return [
        Route(base, run_page),
        Route(f"{base}/progress", progress),
        Route(f"{base}/records", records_fragment),
        Route(f"{base}/notes", save_notes, methods=["POST"]),
        Route(f"{base}/tags", save_tags, methods=["POST"]),
        Route(f"{base}/cancel", cancel, methods=["POST"]),
        Route(f"{base}/retry-errors", retry_errors, methods=["POST"]),
        Route(f"{base}/archive", archiving("ArchiveRun"), methods=["POST"]),
        Route(f"{base}/unarchive", archiving("UnarchiveRun"), methods=["POST"]),
        Route(base + "/export.{format}", export),
    ]
