"""QueryService (proto/scorekeeper/v1/query.proto): one implementation behind gRPC and HTTP.

Each group of reads lives in its own module; this class only gathers them under the RPC names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
from scorekeeper.v1 import query_pb2 as pb
from scorekeeper.v1 import review_pb2 as rpb

from services.query.agreement import AgreementReads
from services.query.call_export import CallExport
from services.query.calls import CallReads
from services.query.compare import CompareReads
from services.query.db import Reader
from services.query.distribution import DistributionReads
from services.query.export import ExportReads
from services.query.history import HistoryReads
from services.query.matrix import MatrixReads
from services.query.records.export import RecordExport
from services.query.records.reads import RecordReads
from services.query.reviews import ReviewReads
from services.query.run_breakdown import BreakdownReads
from services.query.run_steps import StepReads
from services.query.runs import RunReads
from services.query.weak_slices import WeakSliceReads


class QueryApi:
    """Every read; never a write."""

    def __init__(self, pool: asyncpg.Pool, public_url: str) -> None:
        reader = Reader(pool)
        self._runs = RunReads(reader, public_url)
        self._records = RecordReads(reader)
        self._history = HistoryReads(reader)
        self._compare = CompareReads(reader)
        self._matrix = MatrixReads(reader)
        self._agreement = AgreementReads(reader)
        self._distribution = DistributionReads(reader)
        self._steps = StepReads(reader)
        self._breakdown = BreakdownReads(reader)
        self._weak_slices = WeakSliceReads(reader)
        self._export = ExportReads(reader)
        self._record_export = RecordExport(reader, self._records)
        self._reviews = ReviewReads(reader)
        self._calls = CallReads(reader, public_url)
        self._call_export = CallExport(reader, self._calls)

    async def get_run(self, request: pb.GetRunRequest) -> pb.RunView:
        return await self._runs.get_run(request)

    async def list_runs(self, request: pb.ListRunsRequest) -> pb.ListRunsResponse:
        return await self._runs.list_runs(request)

    async def list_records(self, request: pb.ListRecordsRequest) -> pb.ListRecordsResponse:
        return await self._records.list_records(request)

    async def get_record(self, request: pb.GetRecordRequest) -> pb.RecordView:
        return await self._records.get_record(request)

    async def get_run_history(self, request: pb.GetRunHistoryRequest) -> pb.GetRunHistoryResponse:
        return await self._history.get_run_history(request)

    async def compare_runs(self, request: pb.CompareRunsRequest) -> pb.CompareRunsResponse:
        return await self._compare.compare_runs(request)

    async def compare_run_matrix(self, request: pb.CompareRunMatrixRequest) -> pb.CompareRunMatrixResponse:
        return await self._matrix.compare_run_matrix(request)

    async def get_metric_agreement(self, request: pb.GetMetricAgreementRequest) -> pb.MetricAgreement:
        return await self._agreement.get_metric_agreement(request)

    async def get_score_distribution(self, request: pb.GetScoreDistributionRequest) -> pb.ScoreDistribution:
        return await self._distribution.get_score_distribution(request)

    async def get_run_steps(self, request: pb.GetRunStepsRequest) -> pb.RunSteps:
        return await self._steps.get_run_steps(request)

    async def get_run_breakdown(self, request: pb.GetRunBreakdownRequest) -> pb.RunBreakdown:
        return await self._breakdown.get_run_breakdown(request)

    async def get_weak_slices(self, request: pb.GetWeakSlicesRequest) -> pb.WeakSlices:
        return await self._weak_slices.get_weak_slices(request)

    def export_run(self, request: pb.ExportRunRequest) -> AsyncIterator[pb.ExportRunChunk]:
        return self._export.export_run(request)

    def export_records(self, request: pb.ExportRecordsRequest) -> AsyncIterator[pb.ExportRunChunk]:
        return self._record_export.export_records(request)

    async def list_review_queues(self, request: rpb.ListReviewQueuesRequest) -> rpb.ListReviewQueuesResponse:
        return await self._reviews.list_review_queues(request)

    async def list_calls(self, request: pb.ListCallsRequest) -> pb.ListCallsResponse:
        return await self._calls.list_calls(request)

    async def get_call(self, request: pb.GetCallRequest) -> pb.CallView:
        return await self._calls.get_call(request)

    def export_calls(self, request: pb.ExportCallsRequest) -> AsyncIterator[pb.ExportRunChunk]:
        return self._call_export.export_calls(request)
