"""Every read (QueryService): runs, records, history, comparisons, exports; and waiting for a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk.api.base import Operations, path
from scorekeeper_sdk.baselines import previous_runs
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.errors import FailedPrecondition
from scorekeeper_sdk.views import (
    Comparison,
    MetricAgreement,
    MetricDistribution,
    MetricSeries,
    Record,
    Run,
    RunBreakdown,
    RunMatrix,
    RunSteps,
    RunUsage,
    TestcaseComparison,
    WeakSlices,
)

QUERY = "QueryService"
EXPORT_FORMATS = ("csv", "jsonl")


class RunTimeout(TimeoutError):
    """The run did not reach a final status in time."""


def _history_request(
    project_id: str,
    metrics: Sequence[str],
    *,
    testset_id: str,
    system_id: str,
    system_version_id: str,
    sources: Sequence[str],
    limit: int,
    monitor_id: str,
    tags: Sequence[str],
    schedule_id: str,
    fields: Sequence[str],
) -> qpb.GetRunHistoryRequest:
    """GetRunHistory's request, as run_history and run_usage take its filters."""
    return qpb.GetRunHistoryRequest(
        project_id=project_id,
        metrics=list(metrics),
        testset_id=testset_id,
        system_id=system_id,
        system_version_id=system_version_id,
        sources=list(sources),
        limit=limit,
        monitor_id=monitor_id,
        tags=list(tags),
        schedule_id=schedule_id,
        fields=list(fields),
    )


class ReadOperations(Operations):
    """Reads from the query service."""

    async def get_run(self, run_id: str) -> Run:
        """The run: status and its explanation, counts, per-metric aggregates, totals, its page's URL."""
        return from_proto(Run, await self._unary(QUERY, "GetRun", qpb.GetRunRequest(run_id=run_id), qpb.RunView))

    async def previous_run(self, run_id: str, *, tags: Sequence[str] = ()) -> Run | None:
        """The run ``run_id`` is compared with when no baseline is named (``Run.previous_run_id``):
        the newest run created before it with scores to compare (completed or waiting for
        reviewers, not archived) of its schedule, else its monitor, else its testset. With ``tags``,
        the newest such run of its testset with every one of them ("main"). None when there is none."""
        run = await self.get_run(run_id)
        if not tags:  # the server names it
            return await self.get_run(run.previous_run_id) if run.previous_run_id else None
        if not run.testset_id:
            return None
        request = previous_runs(run.project_id, run.testset_id, run.created_at, tags)
        found = await self._unary(QUERY, "ListRuns", request, qpb.ListRunsResponse)
        return from_proto(Run, found.runs[0]) if found.runs else None

    async def wait_for_run(
        self,
        run_id: str,
        timeout_s: float | None = None,
        *,
        poll_s: float = 0.5,
        on_update: Callable[[Run], None] | None = None,
    ) -> Run:
        """Polls the run until completed, failed or cancelled (RunTimeout after ``timeout_s``);
        ``on_update`` sees every poll's run."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            run = await self.get_run(run_id)
            if on_update is not None:
                on_update(run)
            if run.finished:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise RunTimeout(
                    f"run {run_id} is still {run.status} after {timeout_s:g}s "
                    f"({run.records}/{run.expected_records} records, {run.scores}/{run.expected_scores} scores)"
                )
            await asyncio.sleep(poll_s)

    async def list_runs(
        self,
        project_id: str,
        *,
        sources: Sequence[str] = (),
        statuses: Sequence[str] = (),
        testset_id: str = "",
        system_id: str = "",
        system_version_id: str = "",
        created_after: str = "",
        created_before: str = "",
        page_size: int = 100,
        monitor_id: str = "",
        archived: bool = False,
        tags: Sequence[str] = (),
        created_by_key_prefix: str = "",
        schedule_id: str = "",
    ) -> AsyncIterator[Run]:
        """The project's runs, newest first, filtered (sources: api, kickoff, playground, monitor, ci, schedule;
        ``tags``: runs with every one of them; ``created_by_key_prefix``: kicked off with that API
        key; ``schedule_id``: kicked off by that schedule); ``archived``: the archived runs instead
        of the others."""
        request = qpb.ListRunsRequest(
            project_id=project_id,
            page_size=page_size,
            sources=list(sources),
            statuses=list(statuses),
            testset_id=testset_id,
            system_id=system_id,
            system_version_id=system_version_id,
            created_after=created_after,
            created_before=created_before,
            monitor_id=monitor_id,
            archived=archived,
            tags=list(tags),
            created_by_key_prefix=created_by_key_prefix,
            schedule_id=schedule_id,
        )
        async for run in self._pages(QUERY, "ListRuns", request, qpb.ListRunsResponse, lambda p: p.runs):
            yield from_proto(Run, run)

    async def list_records(
        self,
        run_id: str = "",
        *,
        project_id: str = "",
        run_ids: Sequence[str] = (),
        testcase_id: str = "",
        statuses: Sequence[str] = (),
        tags: Sequence[str] = (),
        where: Sequence[str] = (),
        search: str = "",
        order_by: str = "",
        fields: Sequence[str] = (),
        usage: Sequence[str] = (),
        steps: Sequence[str] = (),
        page_size: int = 500,
    ) -> AsyncIterator[Record]:
        """Records of a run, or of a project (``project_id``), every page: ``where`` holds score
        conditions ("exact:failed", "overlap:lt:0.5"), ``search`` web-search syntax, ``fields``
        testcase fields' values ("metadata.topic=math"), ``usage`` what a record used
        ("latency_ms:gt:2000", "tokens:lt:500", "cost_usd:gt:0.01"), ``steps`` the steps its call took
        ("retrieve", "retrieve:failed", "retrieve:gt:500" in ms, "*:failed"), ``order_by`` "created_at desc",
        "latency_ms [desc]", "tokens [desc]", "cost_usd [desc]" or "score.<metric> [desc]"."""
        request = qpb.ListRecordsRequest(
            run_id=run_id,
            project_id=project_id,
            run_ids=list(run_ids),
            testcase_id=testcase_id,
            statuses=list(statuses),
            tags=list(tags),
            where=list(where),
            fields=list(fields),
            usage=list(usage),
            steps=list(steps),
            search=search,
            order_by=order_by,
            page_size=page_size,
        )
        async for record in self._pages(QUERY, "ListRecords", request, qpb.ListRecordsResponse, lambda p: p.records):
            yield from_proto(Record, record)

    async def get_record(self, record_id: str) -> Record:
        request = qpb.GetRecordRequest(record_id=record_id)
        return from_proto(Record, await self._unary(QUERY, "GetRecord", request, qpb.RecordView))

    async def run_history(
        self,
        project_id: str,
        metrics: Sequence[str],
        *,
        testset_id: str = "",
        system_id: str = "",
        system_version_id: str = "",
        sources: Sequence[str] = (),
        limit: int = 0,
        monitor_id: str = "",
        tags: Sequence[str] = (),
        schedule_id: str = "",
        fields: Sequence[str] = (),
    ) -> list[MetricSeries]:
        """Per-metric series over runs (metric ids or names): pass rate in % or mean, oldest first;
        ``tags``: over the runs with every one of them; ``schedule_id``: over one schedule's runs;
        ``fields``: a slice's history, each point counting only its run's records holding the values
        ("metadata.lang=fr", as ``list_records``' fields)."""
        request = _history_request(
            project_id,
            metrics,
            testset_id=testset_id,
            system_id=system_id,
            system_version_id=system_version_id,
            sources=sources,
            limit=limit,
            monitor_id=monitor_id,
            tags=tags,
            schedule_id=schedule_id,
            fields=fields,
        )
        response = await self._unary(QUERY, "GetRunHistory", request, qpb.GetRunHistoryResponse)
        _sliced_as_asked(fields, response.fields, "GetRunHistory", "count a slice's history")
        return [from_proto(MetricSeries, s) for s in response.series]

    async def run_usage(
        self,
        project_id: str,
        metrics: Sequence[str],
        *,
        testset_id: str = "",
        system_id: str = "",
        system_version_id: str = "",
        sources: Sequence[str] = (),
        limit: int = 0,
        monitor_id: str = "",
        tags: Sequence[str] = (),
        schedule_id: str = "",
        fields: Sequence[str] = (),
    ) -> list[RunUsage]:
        """The runs ``run_history`` charts (the same filters), oldest first: each one's records' mean
        latency, tokens and cost, and its judges' cost — of a slice's records with ``fields``."""
        request = _history_request(
            project_id,
            metrics,
            testset_id=testset_id,
            system_id=system_id,
            system_version_id=system_version_id,
            sources=sources,
            limit=limit,
            monitor_id=monitor_id,
            tags=tags,
            schedule_id=schedule_id,
            fields=fields,
        )
        request.with_usage = True
        response = await self._unary(QUERY, "GetRunHistory", request, qpb.GetRunHistoryResponse)
        _sliced_as_asked(fields, response.fields, "GetRunHistory", "count a slice's usage")
        return [from_proto(RunUsage, u) for u in response.usage]

    async def compare_runs(
        self,
        run_id: str,
        baseline_run_id: str,
        *,
        metrics: Sequence[str] = (),
        regressions_only: bool = False,
        page_size: int = 100,
        page_token: str = "",
        fields: Sequence[str] = (),
        with_usage: bool = False,
        order_by: str = "",
        testcase_ids: Sequence[str] = (),
        around_testcase_id: str = "",
    ) -> Comparison:
        """One page of ``run_id`` compared with ``baseline_run_id`` (same testset): per-metric counts
        of regressions / improvements over every testcase, and this page's testcases; ``fields``: a
        slice's testcases alone ("metadata.lang=fr", as ``list_records``' fields); ``with_usage``:
        also what each run used (``baseline_usage``, ``usage``; of the slice's records);
        ``order_by``: "testcase" (the default), "delta" (the largest drop first; "delta desc" the
        largest gain), "delta.<metric>" [desc] or "latency_delta" [desc] (desc: the most slowed);
        ``testcase_ids``: only these testcases (at most 100), counts and usage theirs;
        ``around_testcase_id``: also where that testcase stands among those listed (``around``: the
        testcases before and after it, its place)."""
        request = qpb.CompareRunsRequest(
            run_id=run_id,
            baseline_run_id=baseline_run_id,
            metrics=list(metrics),
            regressions_only=regressions_only,
            page_size=page_size,
            page_token=page_token,
            fields=list(fields),
            with_usage=with_usage,
            order_by=order_by,
            testcase_ids=list(testcase_ids),
            around_testcase_id=around_testcase_id,
        )
        response = await self._unary(QUERY, "CompareRuns", request, qpb.CompareRunsResponse)
        _sliced_as_asked(fields, response.fields, "CompareRuns", "compare a slice's testcases")
        return from_proto(Comparison, response)

    async def compared_testcases(
        self,
        run_id: str,
        baseline_run_id: str,
        *,
        metrics: Sequence[str] = (),
        regressions_only: bool = False,
        fields: Sequence[str] = (),
        order_by: str = "",
        page_size: int = 500,
    ) -> AsyncIterator[TestcaseComparison]:
        """Every testcase of ``run_id`` compared with ``baseline_run_id``, page after page, in
        ``order_by``'s order (as ``compare_runs``': "delta" the largest drop first, "latency_delta
        desc" the most slowed first)."""
        token = ""
        while True:
            page = await self.compare_runs(
                run_id,
                baseline_run_id,
                metrics=metrics,
                regressions_only=regressions_only,
                page_size=page_size,
                page_token=token,
                fields=fields,
                order_by=order_by,
            )
            for testcase in page.testcases:
                yield testcase
            if not (token := page.next_page_token):
                return

    async def compare_run_matrix(
        self,
        run_ids: Sequence[str],
        *,
        metrics: Sequence[str] = (),
        differing_only: bool = False,
        page_size: int = 50,
        page_token: str = "",
    ) -> RunMatrix:
        """One page of 2..8 runs of one testset side by side: per testcase each run's output and
        values, per run each metric's mean; ``differing_only`` keeps testcases where they part."""
        request = qpb.CompareRunMatrixRequest(
            run_ids=list(run_ids),
            metrics=list(metrics),
            differing_only=differing_only,
            page_size=page_size,
            page_token=page_token,
        )
        response = await self._unary(QUERY, "CompareRunMatrix", request, qpb.CompareRunMatrixResponse)
        return from_proto(RunMatrix, response)

    async def metric_agreement(self, run_id: str, metric_a: str, metric_b: str) -> MetricAgreement:
        """How often two metrics of the run (ids or names) give the same pass / fail verdict on its
        records — a judge against the reviewers, or two judges; in a monitor's run, a human or code
        metric it does not pin stands for the feedback its calls got (does the judge agree with
        your users?)."""
        request = qpb.GetMetricAgreementRequest(run_id=run_id, metric_a=metric_a, metric_b=metric_b)
        return from_proto(MetricAgreement, await self._unary(QUERY, "GetMetricAgreement", request, qpb.MetricAgreement))

    async def run_steps(self, run_id: str) -> RunSteps:
        """Where the run's calls spend their time, step by step: each step (by name, kind and the
        step it ran inside) over the steps its records hold — taken, failed, mean / p50 / p95 / max
        duration, tokens and cost."""
        request = qpb.GetRunStepsRequest(run_id=run_id)
        return from_proto(RunSteps, await self._unary(QUERY, "GetRunSteps", request, qpb.RunSteps))

    async def score_distribution(self, run_id: str) -> list[MetricDistribution]:
        """Per metric the run pins, how its scores spread: an int's count of each value, a float's
        in ten bins, a boolean's passes and fails."""
        request = qpb.GetScoreDistributionRequest(run_id=run_id)
        response = await self._unary(QUERY, "GetScoreDistribution", request, qpb.ScoreDistribution)
        return [from_proto(MetricDistribution, m) for m in response.metrics]

    async def run_breakdown(
        self, run_id: str, field: str = "", *, baseline_run_id: str = "", max_values: int = 0
    ) -> RunBreakdown:
        """The run's records and scores per value of one of its testcases' fields
        ("metadata.category", "inputs.language", "expected.label"): the 25 values (``max_values``,
        at most 1,000) with the most records, then every other value together, then the records
        without the field — each group's records, errored, latency, cost and, per metric the run
        pins, its scores; with ``baseline_run_id``, each group's ``baseline`` too (where a candidate
        regressed). Also the fields the records hold (``fields``); with no ``field``, only those."""
        request = qpb.GetRunBreakdownRequest(
            run_id=run_id, field=field, baseline_run_id=baseline_run_id, max_values=max_values
        )
        return from_proto(RunBreakdown, await self._unary(QUERY, "GetRunBreakdown", request, qpb.RunBreakdown))

    async def weak_slices(
        self, run_id: str, *, metric: str = "", min_records: int = 5, limit: int = 10, baseline_run_id: str = ""
    ) -> WeakSlices:
        """The slices of the run that fail most, without choosing a field: each value of a
        key of its testcases' metadata, inputs and expected values (or of an object in them) held
        by at least ``min_records`` scored records whose pass rate on a metric (``metric``: one, by
        id or name) is below the rest of the run's — the least likely to be chance first (Fisher's exact test),
        each with its q-value over every slice tested (``tested``). With ``baseline_run_id``, each
        slice against the baseline's same slice instead: the slices that regressed — testcase by
        testcase when both runs are of one testset (``paired``: a sign test on the slice's testcases
        that got worse against those that got better)."""
        request = qpb.GetWeakSlicesRequest(
            run_id=run_id, metric=metric, min_records=min_records, limit=limit, baseline_run_id=baseline_run_id
        )
        found = await self._unary(QUERY, "GetWeakSlices", request, qpb.WeakSlices)
        if baseline_run_id and not found.baseline_run_id:
            # A server older than baseline_run_id ignores it and answers against the rest of the run.
            raise FailedPrecondition(
                "this server does not compare slices with a baseline run (it predates baseline_run_id); upgrade it",
                method="GetWeakSlices",
            )
        return from_proto(WeakSlices, found)

    async def export_run(self, run_id: str, format: str = "csv") -> AsyncIterator[bytes]:
        """The run's records as CSV or JSONL, chunk by chunk (no deadline: it lasts while read)."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be csv or jsonl, got {format!r}")
        request = qpb.ExportRunRequest(run_id=run_id, format=format)
        async for chunk in self._transport.server_stream(path(QUERY, "ExportRun"), request, qpb.ExportRunChunk):
            if chunk.data:
                yield chunk.data

    async def export_records(
        self,
        project_id: str,
        *,
        run_ids: Sequence[str] = (),
        testcase_id: str = "",
        statuses: Sequence[str] = (),
        tags: Sequence[str] = (),
        where: Sequence[str] = (),
        search: str = "",
        order_by: str = "",
        fields: Sequence[str] = (),
        usage: Sequence[str] = (),
        steps: Sequence[str] = (),
        format: str = "csv",
        limit: int = 0,
    ) -> AsyncIterator[bytes]:
        """The records ``list_records(project_id=…)`` would list with these filters, across the
        project's runs, as CSV or JSONL, chunk by chunk (``limit``: at most that many; 0 every one)."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be csv or jsonl, got {format!r}")
        request = qpb.ExportRecordsRequest(
            project_id=project_id,
            run_ids=list(run_ids),
            testcase_id=testcase_id,
            statuses=list(statuses),
            tags=list(tags),
            where=list(where),
            fields=list(fields),
            usage=list(usage),
            steps=list(steps),
            search=search,
            order_by=order_by,
            format=format,
            limit=limit,
        )
        async for chunk in self._transport.server_stream(path(QUERY, "ExportRecords"), request, qpb.ExportRunChunk):
            if chunk.data:
                yield chunk.data

    async def export_run_to(self, run_id: str, file: str | Path, format: str = "csv") -> int:
        """Writes the export to ``file``; returns the bytes written."""
        written = 0
        with Path(file).open("wb") as handle:
            async for chunk in self.export_run(run_id, format):
                written += await asyncio.to_thread(handle.write, chunk)
        return written


def _sliced_as_asked(asked: Sequence[str], answered: Sequence[str], method: str, what: str) -> None:
    """A server older than a read's ``fields`` ignores them and answers for everything: refused,
    never shown as the slice's."""
    if list(asked) and list(answered) != list(asked):
        raise FailedPrecondition(f"this server cannot {what} (it predates fields); upgrade it", method=method)
