"""Every RPC of the API, from the proto descriptors: tests derive their cases from this list, so
no RPC can be added without them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from scorekeeper.v1 import (
    access_pb2,
    catalog_pb2,
    monitors_pb2,
    playground_pb2,
    query_pb2,
    review_pb2,
    runs_pb2,
    schedules_pb2,
    testsets_pb2,
    webhooks_pb2,
)

from scorekeeper_sdk import Client
from shared.auth.access import Role, required_role
from shared.auth.scope import SCOPED_FIELDS
from shared.devstack.scenario import DemoIds

SERVICES = [
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    testsets_pb2.DESCRIPTOR.services_by_name["TestsetService"],
    runs_pb2.DESCRIPTOR.services_by_name["RunService"],
    access_pb2.DESCRIPTOR.services_by_name["AccessService"],
    review_pb2.DESCRIPTOR.services_by_name["ReviewService"],
    playground_pb2.DESCRIPTOR.services_by_name["PlaygroundService"],
    monitors_pb2.DESCRIPTOR.services_by_name["MonitorService"],
    webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
    schedules_pb2.DESCRIPTOR.services_by_name["ScheduleService"],
    query_pb2.DESCRIPTOR.services_by_name["QueryService"],
]


@dataclass(frozen=True)
class Rpc:
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def on_query(self) -> bool:
        return self.method.containing_service.name == "QueryService"

    @property
    def role(self) -> Role:
        return required_role(self.method)

    @property
    def request_type(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    def scoped_fields(self) -> list[str]:
        return [
            f.name
            for f in self.method.input_type.fields
            if f.name in SCOPED_FIELDS and f.type == FieldDescriptor.TYPE_STRING
        ]

    def request(self, ids: dict[str, str]) -> Message:
        """A request naming the given entities: ``ids`` maps an entity ("run", "metric" …) to its id."""
        message = self.request_type()
        for name in self.scoped_fields():
            value = ids[SCOPED_FIELDS[name]]
            field = message.DESCRIPTOR.fields_by_name[name]
            if field.is_repeated:
                getattr(message, name).append(value)
            else:
                setattr(message, name, value)
        return message

    async def call(self, channel: grpc.aio.Channel, request: Message, api_key: str | None) -> Message:
        """One call; the first response of a server stream (an error raises AioRpcError)."""
        metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        out = GetMessageClass(self.method.output_type)
        kwargs: dict[str, Any] = {
            "request_serializer": type(request).SerializeToString,
            "response_deserializer": out.FromString,
        }
        if self.method.client_streaming:

            async def one() -> AsyncIterator[Message]:
                yield request

            result: Message = await channel.stream_unary(self.path, **kwargs)(one(), metadata=metadata, timeout=30)
            return result
        if self.method.server_streaming:
            async for response in channel.unary_stream(self.path, **kwargs)(request, metadata=metadata, timeout=30):
                return response  # type: ignore[no-any-return]
            return out()
        return await channel.unary_unary(self.path, **kwargs)(request, metadata=metadata, timeout=30)  # type: ignore[no-any-return]


def all_rpcs() -> Iterator[Rpc]:
    for service in SERVICES:
        for method in service.methods:
            yield Rpc(method)


RPCS = list(all_rpcs())


def unknown_ids() -> dict[str, str]:
    """An id for every entity kind that names nothing."""
    return {entity: str(uuid.uuid4()) for entity in set(SCOPED_FIELDS.values())}


async def webhook_and_schedule(admin: Client, demo: DemoIds, admin_key: str) -> tuple[str, str]:
    """The ids of a webhook and a (paused) schedule made in the demo project, for the sweeps over
    every RPC that name them."""
    metadata = (("authorization", f"Bearer {admin_key}"),)
    webhook = await admin.webhooks.CreateWebhook(
        webhooks_pb2.CreateWebhookRequest(project_id=demo.project_id, name="told", url="http://127.0.0.1:9/hook"),
        metadata=metadata,
    )
    schedule = await admin.schedules.CreateSchedule(
        schedules_pb2.CreateScheduleRequest(
            project_id=demo.project_id,
            name="hourly",
            cron="0 * * * *",
            testset_id=demo.testset_id,
            system_version_id=demo.system_version_id,
            metric_ids=demo.metric_ids[:1],
            paused=True,
        ),
        metadata=metadata,
    )
    return webhook.webhook.id, schedule.id
