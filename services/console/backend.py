"""The APIs the console reads and writes through: one gRPC channel per service, shared by every
visitor; each call carries the signed-in visitor's API key (never the console's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from scorekeeper.v1 import (
    access_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    monitors_pb2_grpc,
    playground_pb2_grpc,
    query_pb2_grpc,
    review_pb2_grpc,
    runs_pb2_grpc,
    schedules_pb2_grpc,
    testsets_pb2_grpc,
    webhooks_pb2_grpc,
)
from scorekeeper.v1 import testsets_pb2 as tpb

from shared.scoring.eval_types import FEEDBACK_EVAL_TYPES

R = TypeVar("R", bound=Message)

# Streamed uploads: a 64 KiB chunk per message, as the SDK sends them.
_MESSAGE_LIMIT = 64 * 1024 * 1024


class Channels:
    """The two long-lived gRPC channels; ``async with`` closes them."""

    def __init__(self, orchestrator: str, query: str) -> None:
        options = [
            ("grpc.max_send_message_length", _MESSAGE_LIMIT),
            ("grpc.max_receive_message_length", _MESSAGE_LIMIT),
        ]
        self.orchestrator = grpc.aio.insecure_channel(orchestrator, options=options)
        self.query = grpc.aio.insecure_channel(query, options=options)
        self.stubs = Stubs(self)

    async def __aenter__(self) -> Channels:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.orchestrator.close()
        await self.query.close()


class Stubs:
    """The generated stubs over the channels (untyped: every call goes through ``Api.call``)."""

    def __init__(self, channels: Channels) -> None:
        self.access: Any = access_pb2_grpc.AccessServiceStub(channels.orchestrator)
        self.catalog: Any = catalog_pb2_grpc.CatalogServiceStub(channels.orchestrator)
        self.testsets: Any = testsets_pb2_grpc.TestsetServiceStub(channels.orchestrator)
        self.runs: Any = runs_pb2_grpc.RunServiceStub(channels.orchestrator)
        self.reviews: Any = review_pb2_grpc.ReviewServiceStub(channels.orchestrator)
        self.playground: Any = playground_pb2_grpc.PlaygroundServiceStub(channels.orchestrator)
        self.monitors: Any = monitors_pb2_grpc.MonitorServiceStub(channels.orchestrator)
        self.webhooks: Any = webhooks_pb2_grpc.WebhookServiceStub(channels.orchestrator)
        self.schedules: Any = schedules_pb2_grpc.ScheduleServiceStub(channels.orchestrator)
        self.query: Any = query_pb2_grpc.QueryServiceStub(channels.query)


class Api:
    """The APIs as one visitor: every call carries their key and the console's deadline."""

    def __init__(self, stubs: Stubs, api_key: str, timeout_s: float) -> None:
        self.stubs = stubs
        self._metadata = (("authorization", f"Bearer {api_key}"), ("x-scorekeeper-client", "scorekeeper-console"))
        self._timeout = timeout_s

    async def call(self, method: Any, request: Message, response_type: type[R]) -> R:
        response = await method(request, metadata=self._metadata, timeout=self._timeout)
        if not isinstance(response, response_type):
            raise TypeError(f"expected {response_type.__name__}, got {type(response).__name__}")
        return response

    def stream(self, method: Any, request: Message) -> AsyncIterator[Any]:
        """A server-streaming call; no deadline (it lasts as long as the download)."""
        call: AsyncIterator[Any] = method(request, metadata=self._metadata)
        return call

    async def import_testcases(
        self, first: tpb.ImportTestcasesRequest, chunks: AsyncIterator[bytes]
    ) -> tpb.ImportTestcasesResponse:
        """An import: ``first`` names the testset (or the new one) and the format, ``chunks`` the file."""

        async def requests() -> AsyncIterator[tpb.ImportTestcasesRequest]:
            yield first
            async for chunk in chunks:
                yield tpb.ImportTestcasesRequest(data=chunk)

        response = await self.stubs.testsets.ImportTestcases(requests(), metadata=self._metadata, timeout=600)
        if not isinstance(response, tpb.ImportTestcasesResponse):
            raise TypeError(f"expected ImportTestcasesResponse, got {type(response).__name__}")
        return response


async def feedback_metrics(api: Api, project_id: str) -> list[catalog_pb2.Metric]:
    """The project's metrics that take feedback on logged calls (human or code, not archived), by name."""
    listed = await api.call(
        api.stubs.catalog.ListMetrics,
        catalog_pb2.ListMetricsRequest(project_id=project_id),
        catalog_pb2.ListMetricsResponse,
    )
    return [m for m in listed.metrics if m.eval_type in FEEDBACK_EVAL_TYPES]


async def project_testsets(api: Api, project_id: str) -> tpb.ListTestsetsResponse:
    """The project's newest 100 testsets: what a record or a call can be kept in, and what the runs
    list and its charts can be narrowed to."""
    listing = tpb.ListTestsetsRequest(project_id=project_id, page_size=100)
    return await api.call(api.stubs.testsets.ListTestsets, listing, tpb.ListTestsetsResponse)
