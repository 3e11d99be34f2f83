"""Production calls: the Calls page (the project's logged calls, newest first, filtered — by the
feedback people gave them too — with that feedback summed up) and a call's page (what it was, its
feedback with a form to give or take back some, and the records monitors made of it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import grpc
from google.protobuf import struct_pb2
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import query_pb2 as qpb
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.backend import Api, feedback_metrics, project_testsets
from services.console.history import trend_data
from services.console.pages.curation import BULK_MAX, CurationError, add_from, added_query, one_added
from services.console.pages.records import review_value
from services.console.reviewer import remember, reviewer, typed_name
from services.console.steps import typical_bars
from services.console.web import (
    CHOICE_ERRORS,
    EXPORTS,
    INPUT_ERRORS,
    Console,
    PageNotFound,
    api_message,
    download,
    redirect,
    refusal,
)

PAGE_SIZE = 50
# The time windows the page offers, by their parameter: (label, how far back).
WINDOWS = {
    "1h": ("the last hour", timedelta(hours=1)),
    "24h": ("the last 24 hours", timedelta(hours=24)),
    "7d": ("the last 7 days", timedelta(days=7)),
    "30d": ("the last 30 days", timedelta(days=30)),
    "": ("any time", None),
}
# The feedback trend's buckets for each window (none for the last hour: a point or two).
TREND_BY = {"1h": "", "24h": "hour", "7d": "day", "30d": "day", "": "day"}
FEEDBACK_STATES = {"passed": "passed", "failed": "failed", "given": "given", "none": "no feedback"}


@dataclass(frozen=True)
class CallFilters:
    """The Calls page's filters, as its query string holds them."""

    search: str = ""
    status: str = ""
    trace: str = ""
    session: str = ""
    meta: str = ""
    window: str = "24h"
    metric: str = ""
    state: str = ""
    # The calls slower or costlier than these (ListCalls' usage, as the Records page names them).
    latency_ms_gt: str = ""
    cost_usd_gt: str = ""
    # A step the calls took (ListCalls' steps: "retrieve", "retrieve:failed", "answer:gt:2000").
    step: str = ""
    # A metadata key to break the matching calls down by (not a filter).
    by: str = ""
    # The window's start, pinned by the first page so that the next ones (its page token) continue
    # the same list: RFC 3339; empty: now minus the window.
    since: str = ""

    @classmethod
    def of(cls, params: QueryParams) -> CallFilters:
        window = params.get("window", "24h")
        return cls(
            search=params.get("search", "").strip(),
            status=params.get("status", ""),
            trace=params.get("trace", "").strip(),
            session=params.get("session", "").strip(),
            meta=params.get("meta", "").strip(),
            window=window if window in WINDOWS else "24h",
            metric=params.get("metric", ""),
            state=params.get("state", "") if params.get("state", "") in FEEDBACK_STATES else "",
            latency_ms_gt=params.get("latency_ms_gt", "").strip(),
            cost_usd_gt=params.get("cost_usd_gt", "").strip(),
            step=params.get("step", "").strip(),
            by=params.get("by", "").strip(),
            since=params.get("since", ""),
        )

    def request(self, project_id: str) -> qpb.ListCallsRequest:
        """ListCalls' request: ``meta`` holds key=value pairs split by commas."""
        back = WINDOWS[self.window][1]
        since = self.since or ((datetime.now(UTC) - back).isoformat() if back else "")
        return qpb.ListCallsRequest(
            project_id=project_id,
            search=self.search,
            status=self.status,
            trace_id=self.trace,
            session_id=self.session,
            metadata=[pair.strip() for pair in self.meta.split(",") if pair.strip()],
            logged_after=since,
            feedback=[f"{self.metric}={self.state}"] if self.metric and self.state else [],
            # A value that is no number is the API's to refuse, as the page shows it.
            usage=[f"{m}:gt:{v}" for m, v in (("latency_ms", self.latency_ms_gt), ("cost_usd", self.cost_usd_gt)) if v],
            steps=[self.step] if self.step else [],
        )

    def query(self, **changes: str) -> str:
        """This page's query string, with some filters changed."""
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def narrowed(self) -> bool:
        asked = (
            self.search,
            self.status,
            self.trace,
            self.session,
            self.meta,
            self.latency_ms_gt,
            self.cost_usd_gt,
            self.step,
        )
        return any(asked) or bool(self.metric and self.state)

    def with_value(self, value: str) -> str:
        """This page's query string narrowed to the calls whose ``by`` key holds ``value``."""
        pair = f"{self.by}={value}"
        return self.query(meta=f"{self.meta}, {pair}" if self.meta else pair, by="")


async def matching_calls(api: Api, project_id: str, filters: CallFilters) -> list[qpb.CallView]:
    """Every call the filters match, newest first; more than ``BULK_MAX`` is refused."""
    listing = filters.request(project_id)
    listing.page_size = 1000
    found: list[qpb.CallView] = []
    while True:
        page = await api.call(api.stubs.query.ListCalls, listing, qpb.ListCallsResponse)
        found += page.calls
        if len(found) > BULK_MAX:
            raise CurationError(f"More than {BULK_MAX:,} calls match: narrow the filters, then add them.")
        if not page.next_page_token:
            return found
        listing.page_token = page.next_page_token


def routes(console: Console) -> list[Route]:
    async def calls_page(request: Request, bulk_error: str = "") -> Response:
        api = console.api(request)
        project_id = request.path_params["project_id"]
        filters = CallFilters.of(request.query_params)
        listing = filters.request(project_id)
        listing.page_size, listing.with_summary, listing.trend = PAGE_SIZE, True, TREND_BY[filters.window]
        listing.breakdown = filters.by
        listing.page_token = request.query_params.get("page", "")
        loads = {"metrics": feedback_metrics(api, project_id), "testsets": project_testsets(api, project_id)}
        data = await console.project_page(request, api, project_id, loads)
        error, found = "", qpb.ListCallsResponse()
        try:
            found = await api.call(api.stubs.query.ListCalls, listing, qpb.ListCallsResponse)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            error = api_message(exc)
        context = {
            **data,
            "found": found,
            "older": filters.query(since=listing.logged_after, page=found.next_page_token),
            "trend": trend_data(found.trend, listing.trend, project_id, found.traffic),
            "breakdown_metrics": sorted({f.metric_name for g in found.breakdown for f in g.feedback}),
            "filters": filters,
            "windows": WINDOWS,
            "states": FEEDBACK_STATES,
            "error": error,
            "bulk_error": bulk_error,
        }
        return console.render(request, "calls.html", context, status_code=400 if error or bulk_error else 200)

    async def calls_steps(request: Request) -> Response:
        """Where the calls the page's filters match spend their time, step by step (loaded after
        the page): each step links to those calls that took it, its failures to those where it failed."""
        api = console.api(request)
        project_id = request.path_params["project_id"]
        filters = CallFilters.of(request.query_params)
        listing = filters.request(project_id)
        listing.page_size, listing.with_steps = 1, True
        found = await api.call(api.stubs.query.ListCalls, listing, qpb.ListCallsResponse)
        others = filters.query(step="", since="")
        context = {
            "steps": found.steps,
            "bars": typical_bars(found.steps),
            "holding": found.calls_with_steps,
            "total": found.steps_calls,
            "noun": "calls",
            "heading": "Steps across these calls",
            "section_id": "calls-steps",
            "link_base": f"/projects/{project_id}/calls?{others}&" if others else f"/projects/{project_id}/calls?",
            "link_anchor": "",
        }
        return console.render(request, "_steps_summary.html", context)

    async def call_context(request: Request, api: Api) -> dict[str, Any]:
        project_id, call_id = request.path_params["project_id"], request.path_params["call_id"]
        getting = qpb.GetCallRequest(project_id=project_id, call_id=call_id)

        async def call() -> qpb.CallView:
            try:
                return await api.call(api.stubs.query.GetCall, getting, qpb.CallView)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    raise PageNotFound from exc
                raise

        loads = {
            "call": call(),
            "metrics": feedback_metrics(api, project_id),
            "testsets": project_testsets(api, project_id),
        }
        data = await console.project_page(request, api, project_id, loads)
        given = {f.metric_id: f for f in data["call"].feedback}
        return {**data, "given": given, "reviewer": reviewer(request), "error": ""}

    async def call_page(request: Request) -> Response:
        return console.render(request, "call.html", await call_context(request, console.api(request)))

    async def give(request: Request, take_back: bool) -> Response:
        form = await console.form(request)
        api = console.api(request)
        context = await call_context(request, api)
        call: qpb.CallView = context["call"]
        metric = next((m for m in context["metrics"] if m.id == form.get("metric_id")), None)
        name = typed_name(form.get("author"))
        context["reviewer"] = name or context["reviewer"]
        if metric is None:
            return console.render(request, "call.html", {**context, "error": "Choose a human or code metric."}, 400)
        try:
            value = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
            if not take_back:
                value = review_value(metric.output_type, str(form.get("value", "")))
            item = mpb.Feedback(
                call_id=call.id, metric=metric.id, value=value, comment=str(form.get("comment", "")), author=name
            )
            sending = mpb.SendFeedbackRequest(project_id=call.project_id, feedback=[item])
            await api.call(api.stubs.monitors.SendFeedback, sending, mpb.SendFeedbackResponse)
        except ValueError as exc:
            return console.render(request, "call.html", {**context, "error": str(exc)}, 400)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in INPUT_ERRORS:
                raise
            return console.render(request, "call.html", {**context, "error": api_message(exc)}, 400)
        done = "removed" if take_back else "given"
        answered = redirect(f"/projects/{call.project_id}/calls/{call.id}?{urlencode({done: metric.name})}")
        return remember(answered, name)

    async def give_feedback(request: Request) -> Response:
        return await give(request, take_back=False)

    async def take_back(request: Request) -> Response:
        return await give(request, take_back=True)

    async def add_matching(request: Request) -> Response:
        """Every call the Calls page's filters match (its query string), into one testset."""
        form = await console.form(request)
        project_id = request.path_params["project_id"]
        api = console.api(request)
        filters = CallFilters.of(request.query_params)
        try:
            testset_id = str(form.get("testset_id", ""))
            if not testset_id:
                raise CurationError("Choose the testset to add the calls to.")
            found = await matching_calls(api, project_id, filters)
            if not found:
                raise CurationError("No call matches these filters: nothing to add.")
            as_expected = form.get("output_as_expected") == "1"
            done = await add_from(api, project_id, testset_id, as_expected, call_ids=[c.id for c in found])
        except (CurationError, grpc.aio.AioRpcError) as exc:
            return await calls_page(request, bulk_error=refusal(exc, CHOICE_ERRORS))
        return redirect(f"/projects/{project_id}/calls?{filters.query()}&{added_query(done)}#to-testset")

    async def add_one(request: Request) -> Response:
        form = await console.form(request)
        api = console.api(request)
        context = await call_context(request, api)  # also: the call is of this project
        call: qpb.CallView = context["call"]
        try:
            testset_id = str(form.get("testset_id", ""))
            if not testset_id:
                raise CurationError("Choose the testset to add the call to.")
            as_expected = form.get("output_as_expected") == "1"
            done = await add_from(api, call.project_id, testset_id, as_expected, call_ids=[call.id])
            curated = one_added(done, "call")
        except (CurationError, grpc.aio.AioRpcError) as exc:
            message = refusal(exc, CHOICE_ERRORS)
            return console.render(request, "call.html", {**context, "curate_error": message}, status_code=400)
        return redirect(f"/projects/{call.project_id}/calls/{call.id}?curated={curated}#to-testset")

    async def export(request: Request) -> Response:
        """The calls the page's filters match, every one, as a CSV or JSONL download."""
        project_id, fmt = request.path_params["project_id"], request.path_params["format"]
        if fmt not in EXPORTS:
            raise PageNotFound
        api = console.api(request)
        listing = CallFilters.of(request.query_params).request(project_id)
        exporting = qpb.ExportCallsRequest(
            project_id=project_id,
            status=listing.status,
            trace_id=listing.trace_id,
            session_id=listing.session_id,
            metadata=listing.metadata,
            logged_after=listing.logged_after,
            feedback=listing.feedback,
            search=listing.search,
            format=fmt,
        )
        media_type, suffix = EXPORTS[fmt]
        return await download(api.stream(api.stubs.query.ExportCalls, exporting), media_type, f"calls.{suffix}")

    base = "/projects/{project_id}/calls"
    return [
        Route(base, calls_page, methods=["GET"]),
        Route(base + "/{call_id}", call_page, methods=["GET"]),
        Route(base + "/{call_id}/feedback", give_feedback, methods=["POST"]),
        Route(base + "/{call_id}/feedback/remove", take_back, methods=["POST"]),
        Route(base + "/{call_id}/to-testset", add_one, methods=["POST"]),
        Route("/projects/{project_id}/calls-to-testset", add_matching, methods=["POST"]),
        Route("/projects/{project_id}/calls-export.{format}", export, methods=["GET"]),
        Route("/projects/{project_id}/calls-steps", calls_steps, methods=["GET"]),
    ]
