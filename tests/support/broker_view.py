"""What end-to-end tests observe of a stack's broker, on NATS JetStream and on Kafka alike.

- ``wait_idle``: every consumer has had everything it was sent acknowledged (JetStream: pending
  and ack-pending counts; Kafka: each service group's committed offsets at the end offsets).
- ``dead_letter_count``: messages on the stack's dead-letter topics.
- ``DeadLetterWatch``: dead letters that arrive from now on (a JetStream subscription delivering
  new messages; a Kafka observer consumer positioned at the end, outside every group).
- ``discard``: an event is gone from its topic, as if its consumer had acknowledged it (JetStream:
  purge the subject; Kafka: commit the consuming service's group past the end).

On Kafka, Tansu answers an OffsetFetch for all of a group's partitions malformed, so offsets are
always asked for partition by partition (which Apache Kafka accepts too).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.devstack.stack import SERVICES, Stack
from shared.embedded_kafka import FAST_JOIN
from shared.messaging.kafka_topics import bootstrap_servers
from shared.topics import ALL_TOPICS, Topic, nats_stream, physical


def _kafka(stack: Stack) -> bool:
    return stack.bus_url.startswith("kafka://")


def group_of(stack: Stack, service: str) -> str:
    """The consumer group of a service (shared/messaging/kafka_transport.py)."""
    return f"{stack.config.topic_prefix}scorekeeper-{service}"


async def _partitions(stack: Stack, names: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(stack.bus_url))
    await admin.start()
    try:
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]


async def _end_offsets(stack: Stack, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(stack.bus_url), enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def kafka_lag(stack: Stack) -> dict[str, int]:
    """Messages not yet acknowledged, per service group and topic. A topic counts for a group once
    the group has committed on any of its partitions (a group never asked about a topic it does
    not consume: it has no offsets there)."""
    partitions = await _partitions(stack, [physical(t, stack.config.topic_prefix) for t in ALL_TOPICS])
    ends = await _end_offsets(stack, partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(stack.bus_url))
    await admin.start()
    lag: dict[str, int] = {}
    try:
        for service, _ in SERVICES.values():
            committed = await admin.list_consumer_group_offsets(group_of(stack, service), partitions=partitions)
            consumed = {tp.topic for tp, meta in committed.items() if meta.offset >= 0}
            for tp in partitions:
                if tp.topic in consumed:
                    # A group committed past the end the broker reports has consumed all it was
                    # fetched: Tansu once reported, for 30 s on, an end one short of a message it had
                    # delivered (the orchestrator's commit of score.completed: lag -1, once in ~25 runs).
                    behind = max(ends[tp] - max(committed[tp].offset, 0), 0)
                    if behind:
                        key = f"{service}:{tp.topic}"
                        lag[key] = lag.get(key, 0) + behind
    finally:
        await admin.close()
    return lag


async def _nats_busy(stack: Stack) -> int:
    import nats

    connection = await nats.connect(stack.bus_url)
    try:
        busy = 0
        for consumer in await connection.jetstream().consumers_info(nats_stream(stack.config.topic_prefix)):
            busy += (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
        return busy
    finally:
        await connection.close()


async def wait_idle(stack: Stack, timeout_s: float = 30.0) -> None:
    """Every consumer of the stack has had everything it was sent acknowledged."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        busy: object = await kafka_lag(stack) if _kafka(stack) else await _nats_busy(stack)
        if not busy:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still pending after {timeout_s}s: {busy}")
        await asyncio.sleep(0.2)


async def dead_letter_count(stack: Stack) -> int:
    """Messages on every dead-letter topic of the stack."""
    prefix = stack.config.topic_prefix
    if _kafka(stack):
        partitions = await _partitions(stack, [physical(t.dlq, prefix) for t in Topic])
        return sum((await _end_offsets(stack, partitions)).values())
    import nats

    connection = await nats.connect(stack.bus_url)
    try:
        info = await connection.jetstream().stream_info(nats_stream(prefix), subjects_filter=f"{prefix}*.dlq")
        return sum((info.state.subjects or {}).values())
    finally:
        await connection.close()


class DeadLetterWatch:
    """The dead letters (as JSON objects) that reach ``topics`` (``<topic>.dlq`` names) after entering."""

    def __init__(self, stack: Stack, *topics: str) -> None:
        self._stack = stack
        self._topics = topics
        self._letters: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
        self._closers: list[Any] = []
        self._next: dict[str, Any] = {}

    async def __aenter__(self) -> DeadLetterWatch:
        prefix = self._stack.config.topic_prefix
        if _kafka(self._stack):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers(self._stack.bus_url), enable_auto_commit=False
            )
            await consumer.start()
            self._closers.append(consumer.stop)
            partitions = await _partitions(self._stack, [physical(t, prefix) for t in self._topics])
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # resolves the positions now, before anything is dead-lettered
                await consumer.position(tp)
            self._consumer = consumer
        else:
            import nats

            connection = await nats.connect(self._stack.bus_url)
            self._closers.append(connection.close)
            js = connection.jetstream()
            for topic in self._topics:
                self._next[topic] = await js.subscribe(
                    physical(topic, prefix),
                    stream=nats_stream(prefix),
                    deliver_policy="new",  # type: ignore[arg-type]
                )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for close in reversed(self._closers):
            await close()

    async def collect(self, topic: str, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """Wait for ``count`` letters on ``topic`` (more may have come); returns them all."""
        async with asyncio.timeout(timeout_s):
            while len(self._letters[topic]) < count:
                if _kafka(self._stack):
                    batches = await self._consumer.getmany(timeout_ms=200)
                    prefix = self._stack.config.topic_prefix
                    for tp, messages in batches.items():
                        self._letters[tp.topic.removeprefix(prefix)].extend(json.loads(m.value) for m in messages)
                else:
                    msg = await self._next[topic].next_msg(timeout=timeout_s)
                    self._letters[topic].append(json.loads(msg.data))
                    await msg.ack()
        return self._letters[topic]


async def discard(stack: Stack, topic: str, service: str) -> None:
    """Everything on ``topic`` so far is gone for ``service``, as if it had acknowledged it. On
    Kafka the service's consumers must be stopped, so that this member gets every partition."""
    prefix = stack.config.topic_prefix
    if not _kafka(stack):
        import nats

        connection = await nats.connect(stack.bus_url)
        try:
            await connection.jetstream().purge_stream(nats_stream(prefix), subject=physical(topic, prefix))
        finally:
            await connection.close()
        return
    partitions = await _partitions(stack, [physical(topic, prefix)])
    ends = await _end_offsets(stack, partitions)
    # A member of the group, not a consumer outside it: Tansu refuses a commit from outside a
    # group (unknown member), which Apache Kafka would take for an empty group. And after every
    # member of a group has left, Tansu sometimes keeps electing the departed leader, so a lone
    # new member's join never completes: leave and join again.
    for _ in range(6):
        consumer = AIOKafkaConsumer(
            physical(topic, prefix),
            bootstrap_servers=bootstrap_servers(stack.bus_url),
            group_id=group_of(stack, service),
            enable_auto_commit=False,
            session_timeout_ms=FAST_JOIN.session_timeout_ms,
            heartbeat_interval_ms=FAST_JOIN.heartbeat_interval_ms,
        )
        try:
            async with asyncio.timeout(8):
                await consumer.start()
                while consumer.assignment() != set(partitions):
                    await asyncio.sleep(0.05)
            await consumer.commit(ends)
            return
        except TimeoutError:
            continue
        finally:
            await consumer.stop()
    raise AssertionError(f"could not join {group_of(stack, service)} to discard {topic}")
