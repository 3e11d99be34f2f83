"""Logged production calls and their feedback: ``send_feedback`` (MonitorService) gives a call a
verdict after it — a user's thumbs up or down, a 1–5 rating —, ``list_calls`` / ``get_call`` /
``feedback_summary`` (QueryService) read them back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from google.protobuf import struct_pb2
from scorekeeper.v1 import monitors_pb2 as mpb
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.api.base import Operations, path
from scorekeeper_sdk.api.monitors import MONITORS
from scorekeeper_sdk.api.reads import EXPORT_FORMATS, QUERY
from scorekeeper_sdk.api.runs import verdict
from scorekeeper_sdk.api.testsets import MAX_TO_TESTSET, TESTSETS, AddedFrom, added_from
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.tracing import Span
from scorekeeper_sdk.views import CallSteps, Score, StepSummary, group_label

MAX_FEEDBACK = 1000


@dataclass(frozen=True)
class FeedbackIn:
    """One verdict of a logged call, for :meth:`CallOperations.send_feedback_batch`: ``value`` is
    true / false, a whole number 1..5 or a number 0..1 as the metric's output type says; None
    takes the call's feedback of that metric back."""

    call_id: str
    metric: str
    value: bool | float | None
    comment: str = ""
    author: str = ""

    def to_proto(self) -> mpb.Feedback:
        item = mpb.Feedback(call_id=self.call_id, metric=self.metric, comment=self.comment, author=self.author)
        if self.value is None:
            item.value.null_value = struct_pb2.NULL_VALUE
        else:
            item.value.CopyFrom(verdict(self.value))
        return item


@dataclass(frozen=True)
class FeedbackResult:
    """What SendFeedback did: new feedback, feedback that replaced earlier, feedback taken back."""

    stored: int = 0
    replaced: int = 0
    removed: int = 0


@dataclass(frozen=True)
class CallFeedback:
    metric_id: str
    metric_name: str
    output_type: str
    value: bool | float | None = None
    passed: bool = False
    comment: str = ""
    author: str = ""
    given_at: str = ""
    metric_version_id: str = ""


@dataclass(frozen=True)
class CallSample:
    """The record a monitor made of the call (the window's run), with its scores."""

    record_id: str
    run_id: str
    monitor_id: str
    monitor_name: str = ""
    status: str = ""
    scores: list[Score] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """A logged production call; ``call_key`` is the text id it was logged with (when not a UUID)."""

    id: str
    project_id: str
    logged_at: str
    call_key: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    error: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    trace_id: str = ""
    session_id: str = ""
    feedback: list[CallFeedback] = field(default_factory=list)
    # get_call only.
    samples: list[CallSample] = field(default_factory=list)
    # Its page in the console.
    url: str = ""
    # Its steps (get_call only).
    spans: list[Span] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The id it was logged with."""
        return self.call_key or self.id


@dataclass(frozen=True)
class FeedbackSummary:
    """One metric's feedback over the calls a filter matches."""

    metric_id: str
    metric_name: str
    output_type: str
    given: int = 0
    passed: int = 0
    pass_rate: float = 0.0
    mean: float = 0.0
    # feedback_trend: the start of its hour or day (RFC 3339, UTC).
    bucket_start: str = ""

    @property
    def value(self) -> float:
        """What a chart shows: the pass rate of a boolean metric, the mean of any other."""
        return self.pass_rate if self.output_type == "boolean" else self.mean


@dataclass(frozen=True)
class CallTraffic:
    """A project's calls of one hour or day: how many, how many errored, how long they took (the
    median and 95th percentile within ~12%), their tokens and cost."""

    bucket_start: str
    calls: int = 0
    errored: int = 0
    latency_mean_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class CallGroup:
    """The calls of one value of a metadata key (call_breakdown): their traffic over the window
    and their feedback per metric. ``rest``: every value beyond the 25 with the most calls,
    together (``rest_values`` of them); ``no_value``: the calls without the key."""

    value: str = ""
    rest: bool = False
    rest_values: int = 0
    no_value: bool = False
    traffic: CallTraffic = field(default_factory=lambda: CallTraffic(bucket_start=""))
    feedback: list[FeedbackSummary] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The value, or what stands for it."""
        return group_label(self.value, self.rest, self.rest_values, self.no_value)


class CallFilter(TypedDict, total=False):
    """Which calls list_calls, feedback_summary, feedback_trend, call_traffic and export_calls
    take: ``search`` words of the inputs or outputs (web-search syntax: "a phrase", or, -word),
    ``status`` completed or errored, ``metadata`` "key=value" pairs, ``feedback``
    "metric=passed|failed|given|none", ``logged_after`` / ``logged_before`` RFC 3339 times,
    ``usage`` what a call used ("latency_ms:gt:2000", "tokens:lt:500", "cost_usd:gt:0.01"),
    ``steps`` the steps it took ("retrieve", "retrieve:failed", "answer:gt:2000" in ms, "*:failed");
    every one given must hold."""

    search: str
    status: str
    trace_id: str
    session_id: str
    metadata: Sequence[str]
    logged_after: str
    logged_before: str
    feedback: Sequence[str]
    usage: Sequence[str]
    steps: Sequence[str]


def _filter_fields(filters: CallFilter) -> dict[str, Any]:
    """The filters as fields of ListCallsRequest and ExportCallsRequest."""
    fields: dict[str, Any] = dict(filters)
    for name in ("metadata", "feedback", "usage", "steps"):
        if name in fields:
            fields[name] = list(fields[name])
    return fields


class CallOperations(Operations):
    async def send_feedback(
        self,
        call_id: str,
        metric: str,
        value: bool | float | None,
        *,
        comment: str = "",
        author: str = "",
        project_id: str = "",
    ) -> FeedbackResult:
        """Gives a logged call (the id it was logged with) a verdict of a human or code metric (its
        id or name): true / false, 1..5 or 0..1 by the metric's output type; giving it again
        replaces it, None takes it back. ``author``: who gave it (an end user's id). The project is
        ``project_id``, else the client's, else the key's own (as for ``log``)."""
        item = FeedbackIn(call_id, metric, value, comment, author)
        return await self.send_feedback_batch([item], project_id=project_id)

    async def send_feedback_batch(self, feedback: Sequence[FeedbackIn], *, project_id: str = "") -> FeedbackResult:
        """Up to 1,000 verdicts in one request, checked whole: one bad item refuses them all."""
        if not project_id:
            project_id = await self._default_project()
        request = mpb.SendFeedbackRequest(project_id=project_id, feedback=[f.to_proto() for f in feedback])
        response = await self._unary(MONITORS, "SendFeedback", request, mpb.SendFeedbackResponse)
        return from_proto(FeedbackResult, response)

    async def _default_project(self) -> str:
        raise ValueError("give project_id=: the project whose calls these are")

    async def list_calls(
        self, project_id: str, *, page_size: int = 100, **filters: Unpack[CallFilter]
    ) -> AsyncIterator[Call]:
        """The project's logged calls, newest first, every page, as ``filters`` choose (CallFilter:
        search, status, trace_id, session_id, metadata, logged_after / _before, feedback)."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=page_size, **_filter_fields(filters))
        async for call in self._pages(QUERY, "ListCalls", request, qpb.ListCallsResponse, lambda p: p.calls):
            yield from_proto(Call, call)

    async def feedback_summary(self, project_id: str, **filters: Unpack[CallFilter]) -> list[FeedbackSummary]:
        """Per metric, the feedback of the calls these filters match (as list_calls takes them):
        how many were given, passed, the pass rate and the mean."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=1, with_summary=True, **_filter_fields(filters))
        response = await self._unary(QUERY, "ListCalls", request, qpb.ListCallsResponse)
        return [from_proto(FeedbackSummary, s) for s in response.summary]

    async def call_steps(self, project_id: str, **filters: Unpack[CallFilter]) -> CallSteps:
        """Where the calls these filters match spend their time, step by step (the newest 50,000 of
        them): per step, the calls that took it, how often it failed, its mean / p50 / p95 / max
        duration, tokens and cost — as ``run_steps`` sums a run's."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=1, with_steps=True, **_filter_fields(filters))
        response = await self._unary(QUERY, "ListCalls", request, qpb.ListCallsResponse)
        return CallSteps(
            calls=response.steps_calls,
            calls_with_steps=response.calls_with_steps,
            steps=[from_proto(StepSummary, s) for s in response.steps],
        )

    async def feedback_trend(
        self, project_id: str, *, by: str = "day", **filters: Unpack[CallFilter]
    ) -> list[FeedbackSummary]:
        """The feedback of the calls these filters match per ``by`` ("hour" or "day", UTC, of when
        the calls were logged) and metric, oldest first (the newest 1,000 buckets at most); each
        item's ``bucket_start`` says which."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=1, trend=by, **_filter_fields(filters))
        response = await self._unary(QUERY, "ListCalls", request, qpb.ListCallsResponse)
        return [from_proto(FeedbackSummary, s) for s in response.trend]

    async def add_calls_to_testset(
        self,
        project_id: str,
        testset_id: str,
        *,
        output_as_expected: bool = False,
        **filters: Unpack[CallFilter],
    ) -> AddedFrom:
        """Every call ``list_calls`` would list with these filters (at most 10,000: more is refused
        before anything is added) as testcases of the testset's next version, each once — the
        thumbs-down calls of the week as regression testcases (``add_to_testset`` with their ids)."""
        ids: list[str] = []
        async for call in self.list_calls(project_id, page_size=1000, **filters):
            ids.append(call.id)
            if len(ids) > MAX_TO_TESTSET:
                raise ValueError(f"more than {MAX_TO_TESTSET:,} calls match these filters: narrow them, then add them")
        if not ids:
            raise ValueError("no call matches these filters: nothing to add")
        request = tpb.AddTestcasesFromRequest(
            testset_id=testset_id, call_ids=ids, output_as_expected=output_as_expected
        )
        return added_from(await self._unary(TESTSETS, "AddTestcasesFrom", request, tpb.AddTestcasesFromResponse))

    async def call_traffic(
        self, project_id: str, *, by: str = "day", **filters: Unpack[CallFilter]
    ) -> list[CallTraffic]:
        """The calls these filters match (as list_calls takes them) per ``by`` ("hour" or "day",
        UTC), oldest first, the buckets with calls: how many, errored, latency, tokens, cost. With
        no filter but the time logged, every call of the project from its hourly figures (whole
        hours; percentiles within ~12%); with others, from the calls themselves (exact)."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=1, trend=by, **_filter_fields(filters))
        response = await self._unary(QUERY, "ListCalls", request, qpb.ListCallsResponse)
        return [from_proto(CallTraffic, t) for t in response.traffic]

    async def call_breakdown(self, project_id: str, key: str, **filters: Unpack[CallFilter]) -> list[CallGroup]:
        """The calls these filters match (as list_calls takes them) per value of the metadata
        ``key`` ("model", "route" …): the 25 values with the most calls, most first, then every
        other value together, then the calls without the key — each group's calls, errored,
        latency (exact percentiles), tokens, cost and feedback per metric."""
        request = qpb.ListCallsRequest(project_id=project_id, page_size=1, breakdown=key, **_filter_fields(filters))
        response = await self._unary(QUERY, "ListCalls", request, qpb.ListCallsResponse)
        return [from_proto(CallGroup, g) for g in response.breakdown]

    async def export_calls(
        self, project_id: str, *, format: str = "csv", limit: int = 0, **filters: Unpack[CallFilter]
    ) -> AsyncIterator[bytes]:
        """The calls ``list_calls`` would list with these filters, newest first, as CSV or JSONL,
        chunk by chunk, each with its feedback (``limit``: at most that many; 0 every one)."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be csv or jsonl, got {format!r}")
        request = qpb.ExportCallsRequest(project_id=project_id, format=format, limit=limit, **_filter_fields(filters))
        async for chunk in self._transport.server_stream(path(QUERY, "ExportCalls"), request, qpb.ExportRunChunk):
            if chunk.data:
                yield chunk.data

    async def get_call(self, project_id: str, call_id: str) -> Call:
        """The call (by the id it was logged with), its feedback and the records monitors made of it."""
        request = qpb.GetCallRequest(project_id=project_id, call_id=call_id)
        return from_proto(Call, await self._unary(QUERY, "GetCall", request, qpb.CallView))
