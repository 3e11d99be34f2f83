"""The runs list with its run-history charts."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlencode

import grpc
from scorekeeper.v1 import catalog_pb2 as cpb
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb
from scorekeeper.v1 import schedules_pb2 as spb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api, project_testsets
from services.console.formatting import SOURCE_LABELS
from services.console.history import chart_data
from services.console.previous_run import moved_on_page
from services.console.web import CHOICE_ERRORS, INPUT_ERRORS, Console, api_message, redirect
from shared.auth.keys import prefix_of
from shared.run_status import ALL as RUN_STATUSES
from shared.run_status import SOURCES

# Charts shown when the visitor has picked none: the metrics of the newest run, at most this many.
DEFAULT_CHARTS = 4
# Runs archived or unarchived at once from the list (a page holds fewer).
BULK_RUNS = 200
COMPARE_TWO = "Tick two runs or more, of one testset, to compare them."


async def no_runs_of(api: Api, project_id: str, *, monitor: str = "", schedule: str = "") -> qpb.RunView:
    """What the runs list names when a monitor or a schedule it lists the runs of has none yet: its
    name (a schedule found nowhere was deleted)."""
    if monitor:
        found = await api.call(
            api.stubs.monitors.GetMonitor, mpb.GetMonitorRequest(monitor_id=monitor), mpb.MonitorWithWindows
        )
        return qpb.RunView(monitor_id=monitor, monitor_name=found.monitor.name)
    listed = await api.call(
        api.stubs.schedules.ListSchedules, spb.ListSchedulesRequest(project_id=project_id), spb.ListSchedulesResponse
    )
    name = next((s.name for s in listed.schedules if s.id == schedule), "")
    return qpb.RunView(schedule_id=schedule, schedule_name=name)


def routes(console: Console) -> list[Route]:
    async def runs_page(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        api = console.api(request)
        params = request.query_params
        sources = [s for s in params.getlist("source") if s in SOURCES]
        statuses = [s for s in params.getlist("status") if s in RUN_STATUSES]
        chosen = params.getlist("metric")
        monitor = params.get("monitor", "")
        schedule = params.get("schedule", "")
        archived = params.get("archived") == "1"
        # A project key's prefix (the instance admin key from the environment has none).
        my_prefix = prefix_of(console.security.api_key(request)) or ""
        mine = params.get("mine") == "1" and bool(my_prefix)
        tags = list(dict.fromkeys(t for t in params.getlist("tag") if t.strip()))
        testset = params.get("testset", "")
        # A slice of the runs' records the charts count alone ("metadata.lang=fr"), as typed.
        sliced = [f.strip() for f in params.getlist("field") if f.strip()]
        # Also chart the runs' latency, tokens and cost per record.
        usage = params.get("usage") == "1"
        page_request = qpb.ListRunsRequest(
            project_id=project_id,
            page_size=console.settings.page_size,
            page_token=params.get("token", ""),
            sources=sources,
            statuses=statuses,
            monitor_id=monitor,
            schedule_id=schedule,
            archived=archived,
            tags=tags,
            created_by_key_prefix=my_prefix if mine else "",
            testset_id=testset,
        )
        data = await console.project_page(
            request,
            api,
            project_id,
            {
                "page": api.call(api.stubs.query.ListRuns, page_request, qpb.ListRunsResponse),
                "metrics": api.call(
                    api.stubs.catalog.ListMetrics,
                    cpb.ListMetricsRequest(project_id=project_id),
                    cpb.ListMetricsResponse,
                ),
                "testsets": project_testsets(api, project_id),
            },
        )
        page: qpb.ListRunsResponse = data["page"]
        known = {m.id for m in data["metrics"].metrics}
        charted = [m for m in chosen if m in known]
        if not chosen and page.runs:
            # The metrics most runs of this page were scored with, in the newest run's order.
            uses = Counter(m.metric_id for r in page.runs for m in r.metrics)
            order = {m: i for i, m in enumerate(dict.fromkeys(m.metric_id for r in page.runs for m in r.metrics))}
            charted = sorted(uses, key=lambda m: (-uses[m], order[m]))[:DEFAULT_CHARTS]
        history: dict[str, Any] = {"runs": [], "charts": []}
        history_error = ""
        if charted and not archived:  # the run history leaves archived runs out
            try:
                response = await api.call(
                    api.stubs.query.GetRunHistory,
                    qpb.GetRunHistoryRequest(
                        project_id=project_id,
                        metrics=charted,
                        sources=sources,
                        limit=100,
                        monitor_id=monitor,
                        schedule_id=schedule,
                        tags=tags,
                        testset_id=testset,
                        fields=sliced,
                        with_usage=usage,
                    ),
                    qpb.GetRunHistoryResponse,
                )
                history = chart_data(response, project_id)
            except grpc.aio.AioRpcError as exc:
                if sliced and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    # A slice is counted from the runs' records: many large runs take long.
                    history_error = "The slice's history took longer than the page waits: pick a testset or a source."
                elif exc.code() in INPUT_ERRORS:
                    history_error = api_message(exc)
                else:
                    raise
        filters = [("source", s) for s in sources] + [("status", s) for s in statuses]
        filters += [("monitor", monitor)] if monitor else []
        filters += [("schedule", schedule)] if schedule else []
        filters += [("archived", "1")] if archived else []
        filters += [("mine", "1")] if mine else []
        filters += [("tag", t) for t in tags]
        filters += [("testset", testset)] if testset else []
        keep = [*filters, *(("field", f) for f in sliced)]
        keep += [("metric", m) for m in chosen] + ([("usage", "1")] if usage else [])
        keep_charted = filters + [("metric", m) for m in chosen] + ([("usage", "1")] if usage else [])
        next_url = (
            f"{request.url.path}?{urlencode([*keep, ('token', page.next_page_token)])}" if page.next_page_token else ""
        )
        return console.render(
            request,
            "runs.html",
            {
                **data,
                "runs": page.runs,
                "moved": await moved_on_page(api, page.runs),
                "archived": archived,
                "mine": mine,
                "my_prefix": my_prefix,
                "archived_now": params.get("archived_now", ""),
                "unarchived_now": params.get("unarchived_now", ""),
                "refused": params.getlist("refused")[:BULK_RUNS],
                "monitor": next(iter(page.runs), None) or await no_runs_of(api, project_id, monitor=monitor)
                if monitor
                else None,
                "schedule": next(iter(page.runs), None) or await no_runs_of(api, project_id, schedule=schedule)
                if schedule
                else None,
                "sources": sources,
                "statuses": statuses,
                "tags": tags,
                "all_sources": SOURCE_LABELS,
                "all_statuses": RUN_STATUSES,
                "charted": charted,
                "history": history,
                "history_error": history_error,
                "testset_id": testset,
                "testset_name": next((t.name for t in data["testsets"].testsets if t.id == testset), testset),
                "sliced": sliced,
                "usage": usage,
                "unsliced_url": f"{request.url.path}?{urlencode(keep_charted)}",
                "next_url": next_url,
                "first_url": f"{request.url.path}?{urlencode(keep)}" if params.get("token") else "",
            },
        )

    async def archive_chosen(request: Request) -> Response:
        """Archive (or, from the archived runs, unarchive) the runs ticked in the list, one call
        each; the list then says how many were, and why any was not."""
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        unarchive = form.get("action") == "unarchive"
        chosen = [str(v) for v in form.getlist("run")][:BULK_RUNS]
        rpc, message = ("UnarchiveRun", rpb.UnarchiveRunRequest) if unarchive else ("ArchiveRun", rpb.ArchiveRunRequest)
        done, refused = 0, []
        for run_id in chosen:
            try:
                await api.call(getattr(api.stubs.runs, rpc), message(run_id=run_id), rpb.Run)
                done += 1
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in CHOICE_ERRORS:
                    raise
                refused.append(api_message(exc))
        outcome = urlencode(
            [("archived", "1")] * unarchive
            + [(f"{'un' * unarchive}archived_now", done)]
            + [("refused", r) for r in refused]
        )
        return redirect(f"/projects/{project_id}/runs?{outcome}")

    async def compare_chosen(request: Request) -> Response:
        """The runs ticked in the list compared: two on the A/B page (the older, listed lower, as
        the baseline), more side by side; the compare pages refuse runs of different testsets."""
        params = request.query_params
        project_id = request.path_params["project_id"]
        chosen = list(dict.fromkeys(params.getlist("run")))[:BULK_RUNS]
        back = [("archived", "1")] if params.get("action") == "unarchive" else []
        if len(chosen) < 2:
            return redirect(f"/projects/{project_id}/runs?{urlencode([*back, ('refused', COMPARE_TWO)])}")
        if len(chosen) == 2:
            return redirect(f"/projects/{project_id}/compare?{urlencode({'baseline': chosen[1], 'run': chosen[0]})}")
        return redirect(f"/projects/{project_id}/compare/matrix?{urlencode([('run', r) for r in chosen])}")

    return [
        Route("/projects/{project_id}/runs", runs_page),
        Route("/projects/{project_id}/runs/compare", compare_chosen),
        Route("/projects/{project_id}/runs/archive", archive_chosen, methods=["POST"]),
    ]
