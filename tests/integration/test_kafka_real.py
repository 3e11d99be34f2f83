"""The bus's publish → handle → DLQ round trip on a real Apache Kafka.

Kafka comes from ``KAFKA_BOOTSTRAP_SERVERS`` when set, otherwise from a testcontainers Kafka
(KRaft) where a container engine answers; without either the tests skip, quickly. Each test
gets its own topics under a random prefix, created up front with the admin client (as
kafka-init does in docker-compose.yml), so they can share a cluster with anything else.

What a real broker adds over tests/integration/test_kafka_wiring.py: the ack is a committed
consumer-group offset, and a nack really seeks back and the message comes again.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import ConcurrentBetweenPartitionsSubscriber

from shared.events import DeadLetter, ScoreRequested
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.topics import ALL_TOPICS, Topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

NO_KAFKA = "no Kafka: KAFKA_BOOTSTRAP_SERVERS is not set and no container engine is available"
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
PARTITIONS = 2
SERVICE = "scorer"
WAIT_S = 60.0


def container_engine_available() -> bool:
    """Whether a Docker-compatible engine answers within a few seconds (what testcontainers uses)."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        return False
    try:
        # Requests' errors (connection refused, timeout) are OSErrors.
        client = docker.from_env(timeout=3)
    except (DockerException, OSError):
        return False
    try:
        return bool(client.ping())
    except (DockerException, OSError):
        return False
    finally:
        client.close()


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        yield configured
        return
    if not container_engine_available():
        pytest.skip(NO_KAFKA)
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.start(timeout=180)
    try:
        yield container.get_bootstrap_server()
    finally:
        container.stop()


@pytest_asyncio.fixture
async def prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh topic prefix whose eight topics exist before anything subscribes."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    names = [f"{prefix}{t}" for t in ALL_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","), request_timeout_ms=20_000)
    async with asyncio.timeout(WAIT_S):
        await admin.start()
    try:
        async with asyncio.timeout(WAIT_S):
            await admin.create_topics([NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names])
        yield prefix
        async with asyncio.timeout(WAIT_S):
            await admin.delete_topics(names)
    finally:
        await admin.close()


def make_bus(bootstrap: str, prefix: str, **options: Any) -> Bus:
    # concurrency == partitions: FastStream runs one consumer per worker in the group
    # (manual commits), so each consumer ends up owning one partition.
    return Bus(
        f"kafka://{bootstrap}",
        service=SERVICE,
        topic_prefix=prefix,
        concurrency=PARTITIONS,
        **options,
    )


def observe_dead_letters(bootstrap: str, prefix: str) -> tuple[KafkaBroker, list[DeadLetter]]:
    letters: list[DeadLetter] = []
    observer = KafkaBroker(bootstrap.split(","), logger=None)

    @observer.subscriber(
        f"{prefix}{Topic.SCORE_REQUESTED.dlq}",
        group_id=f"{prefix}dlq-observer",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
    )
    async def collect(letter: DeadLetter) -> None:
        letters.append(letter)

    return observer, letters


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"after {timeout_s:.0f} s: {what}")


async def until_each_consumer_owns_a_partition(bus: Bus) -> None:
    # Publishing before the group settles would let a rebalance redeliver an in-flight message
    # (allowed by at-least-once, but it would blur the exact counts asserted below).
    (subscriber,) = bus.broker.subscribers
    # What FastStream builds for manual acks with several workers: one consumer per worker.
    assert isinstance(subscriber, ConcurrentBetweenPartitionsSubscriber)
    consumers = subscriber.consumer_subgroup
    await eventually(
        lambda: len(consumers) == PARTITIONS and all(c.assignment() for c in consumers),
        "the consumer group never settled",
    )


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """Messages the group has acknowledged on the topic: committed offsets summed over partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == topic)


async def wait_committed(bootstrap: str, group: str, topic: str, expected: int) -> None:
    done = 0
    try:
        async with asyncio.timeout(WAIT_S):
            while (done := await committed_offsets(bootstrap, group, topic)) < expected:
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"{group} committed {done} of {expected} messages on {topic}")
    assert done == expected


@pytest.mark.asyncio
async def test_valid_event_is_handled_and_invalid_ones_dead_lettered(kafka_bootstrap: str, prefix: str) -> None:
    bus = make_bus(kafka_bootstrap, prefix)
    handled: list[ScoreRequested] = []
    poison_record = uuid.uuid4()

    async def handle(event: ScoreRequested) -> None:
        if event.record_id == poison_record:
            raise InvalidEvent(f"unknown record {event.record_id}")
        handled.append(event)

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(kafka_bootstrap, prefix)
    valid = ScoreRequested(run_id=uuid.uuid4(), record_id=uuid.uuid4(), metric_version_id=uuid.uuid4())
    poison = ScoreRequested(run_id=uuid.uuid4(), record_id=poison_record, metric_version_id=uuid.uuid4())

    await observer.start()
    await bus.start()
    try:
        await until_each_consumer_owns_a_partition(bus)
        await bus.publish(valid)
        await bus.publish_raw(Topic.SCORE_REQUESTED.value, b"{not json")
        await bus.publish(poison)

        await eventually(
            lambda: len(handled) >= 1 and len(letters) >= 2,
            "event handled and two dead letters",
        )
        # All three acknowledged = committed for the service's consumer group.
        await wait_committed(
            kafka_bootstrap,
            f"{prefix}scorekeeper-{SERVICE}",
            f"{prefix}score.requested",
            expected=3,
        )
        await asyncio.sleep(1.0)  # nothing comes again once committed
    finally:
        await bus.drain(timeout_s=10)
        await observer.stop()

    assert handled == [valid]
    assert len(letters) == 2
    by_error = {letter.error.split(":")[0]: letter for letter in letters}
    assert set(by_error) == {
        "invalid score.requested event",
        "unknown record " + str(poison_record),
    }
    undecodable = by_error["invalid score.requested event"]
    assert (undecodable.topic, undecodable.service, undecodable.payload) == (
        "score.requested",
        SERVICE,
        "{not json",
    )
    rejected = by_error["unknown record " + str(poison_record)]
    assert (rejected.topic, rejected.service) == ("score.requested", SERVICE)
    assert ScoreRequested.model_validate_json(rejected.payload) == poison


@pytest.mark.asyncio
async def test_transient_failure_is_redelivered_then_dead_lettered(kafka_bootstrap: str, prefix: str) -> None:
    attempts, max_deliveries = 2, 3
    bus = make_bus(kafka_bootstrap, prefix, attempts=attempts, max_deliveries=max_deliveries)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database unavailable")

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(kafka_bootstrap, prefix)
    event = ScoreRequested(run_id=uuid.uuid4(), record_id=uuid.uuid4(), metric_version_id=uuid.uuid4())

    await observer.start()
    await bus.start()
    try:
        await until_each_consumer_owns_a_partition(bus)
        await bus.publish(event)
        await eventually(lambda: len(letters) >= 1, "the event was never dead-lettered")
        await wait_committed(
            kafka_bootstrap,
            f"{prefix}scorekeeper-{SERVICE}",
            f"{prefix}score.requested",
            expected=1,
        )
        await asyncio.sleep(1.0)
    finally:
        await bus.drain(timeout_s=10)
        await observer.stop()

    # Each nack seeks back, so Kafka delivers it again: max_deliveries deliveries × attempts each.
    assert calls == attempts * max_deliveries
    assert len(letters) == 1
    assert letters[0].error.startswith(f"gave up after {max_deliveries} deliveries: ConnectionError(")
    assert ScoreRequested.model_validate_json(letters[0].payload) == event
