"""The bus's broker wiring and delivery policy, on FastStream's in-memory test brokers.

The static checks read what ``Bus.subscribe`` declared on the FastStream subscriber (physical
topic names, consumer group / durable, ack policy). The behaviour tests publish through the
bus and look at what a user would see: how often the handler ran, what landed on
``<topic>.dlq`` (read back by an observer on its own broker, as another service would), and
whether the delivery ended acked or nacked. They run over ``TestKafkaBroker`` and
``TestNatsBroker`` alike; tests/integration/test_kafka_real.py repeats the round trip on a real
Kafka, where redelivery after a nack can be observed too.
"""

from __future__ import annotations

import uuid

import pytest
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.message import AckStatus

from shared.events import (
    Event,
    RecordProduced,
    RunCreated,
    ScoreCompleted,
    ScoreRequested,
)
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent, Postpone
from shared.topics import ALL_TOPICS, Topic
from tests.support.inmemory_bus import (
    KAFKA,
    NATS,
    PREFIX,
    TRANSPORTS,
    TRANSPORTS_TRANSIENT,
    Transport,
    observe_dead_letters,
    only_subscriber,
    record_deliveries,
)

SERVICE = "scorer"


def score_requested() -> ScoreRequested:
    return ScoreRequested(
        run_id=uuid.uuid4(),
        record_id=uuid.uuid4(),
        metric_version_id=uuid.uuid4(),
        correlation_id="corr-1",
    )


# -- wiring: what Bus.subscribe declares ---------------------------------------------------------


@pytest.mark.parametrize("event_type", [RunCreated, RecordProduced, ScoreRequested, ScoreCompleted])
def test_kafka_subscriber_uses_prefixed_topic_and_service_group(
    event_type: type[Event],
) -> None:
    bus = Bus(KAFKA.url, service=SERVICE, topic_prefix=PREFIX)

    async def handle(event: Event) -> None: ...

    bus.subscribe(event_type, handle)

    subscriber = only_subscriber(bus)
    assert subscriber.topic_names == [f"{PREFIX}{event_type.topic.value}"]
    assert subscriber.group_id == f"{PREFIX}scorekeeper-{SERVICE}"


def test_kafka_consumer_group_is_per_service_and_shared_by_replicas() -> None:
    def group_of(service: str) -> str:
        bus = Bus(KAFKA.url, service=service, topic_prefix=PREFIX)

        async def handle(event: ScoreCompleted) -> None: ...

        bus.subscribe(ScoreCompleted, handle)
        return str(only_subscriber(bus).group_id)

    assert group_of("scorer") == group_of("scorer") == f"{PREFIX}scorekeeper-scorer"
    assert group_of("run-orchestrator") == f"{PREFIX}scorekeeper-run-orchestrator"
    # Without a prefix the group is the bare service group (what docker-compose runs).
    bare = Bus(KAFKA.url, service="query")

    async def handle(event: RunCreated) -> None: ...

    bare.subscribe(RunCreated, handle)
    assert only_subscriber(bare).group_id == "scorekeeper-query"
    assert only_subscriber(bare).topic_names == ["run.created"]


@pytest.mark.parametrize("concurrency", [1, 16])
def test_kafka_ack_policy_is_manual_never_ack_first(concurrency: int) -> None:
    bus = Bus(KAFKA.url, service=SERVICE, topic_prefix=PREFIX, concurrency=concurrency)

    async def handle(event: ScoreRequested) -> None: ...

    bus.subscribe(ScoreRequested, handle)

    subscriber = only_subscriber(bus)
    # Not FastStream's Kafka default, ACK_FIRST (auto-commit on receipt, at-most-once).
    assert subscriber.ack_policy is AckPolicy.MANUAL


def test_nats_subscriber_uses_prefixed_subject_durable_per_service_and_manual_acks() -> None:
    bus = Bus(NATS.url, service=SERVICE, topic_prefix=PREFIX)

    async def handle(event: ScoreRequested) -> None: ...

    bus.subscribe(ScoreRequested, handle)

    subscriber = only_subscriber(bus)
    assert subscriber.subject.broker_address == f"{PREFIX}score.requested"
    assert subscriber.stream.name == "t1_scorekeeper"
    assert sorted(subscriber.stream.subjects) == sorted(f"{PREFIX}{t}" for t in ALL_TOPICS)
    # Replicas of one service share this durable pull consumer; another service gets its own.
    assert subscriber.config.durable_name == "t1_scorer_score_requested"
    assert subscriber.ack_policy is AckPolicy.MANUAL
    assert subscriber.config.ack_policy.value == "explicit"


def test_nats_handlers_with_prefetch_fetch_a_batch_handled_at_once() -> None:
    bus = Bus(NATS.url, service=SERVICE, topic_prefix=PREFIX)

    async def handle(event: ScoreRequested) -> None: ...

    bus.subscribe(ScoreRequested, handle, concurrency=4, prefetch=True)

    subscriber = only_subscriber(bus)
    assert (subscriber.pull_sub.batch_size, getattr(subscriber, "max_workers", 1)) == (4, 4)


def test_nats_long_handlers_fetch_one_message_a_loop_only_when_it_can_start() -> None:
    # prefetch=False (the executor's chunks): four pull loops on the one durable consumer, each
    # fetching a message when done with the last: none waits in a local buffer without heartbeats,
    # and a slow one holds up only its own loop.
    bus = Bus(NATS.url, service=SERVICE, topic_prefix=PREFIX)

    async def handle(event: ScoreRequested) -> None: ...

    bus.subscribe(ScoreRequested, handle, concurrency=4, prefetch=False)

    subscribers = list(bus.broker.subscribers)
    assert len(subscribers) == 4
    assert {s.config.durable_name for s in subscribers} == {"t1_scorer_score_requested"}
    assert all((s.pull_sub.batch_size, getattr(s, "max_workers", 1)) == (1, 1) for s in subscribers)


# -- behaviour: the same tests over both in-memory brokers ----------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_valid_event_is_handled_once_and_acked_after_the_handler(
    transport: Transport,
) -> None:
    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX)
    deliveries = record_deliveries(bus.broker)
    handled: list[ScoreRequested] = []
    ack_state_during_handler: list[AckStatus | None] = []

    async def handle(event: ScoreRequested) -> None:
        ack_state_during_handler.append(deliveries[-1].committed)
        handled.append(event)

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)
    event = score_requested()

    async with transport.harness(bus.broker, observer):
        await bus.publish(event)

    assert handled == [event]
    assert ack_state_during_handler == [None]  # not acked before the handler returned
    assert [d.committed for d in deliveries] == [AckStatus.ACKED]
    assert letters == []


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("payload", "error_detail"),
    [
        pytest.param(b"{not json", "Invalid JSON", id="not-json"),
        pytest.param(b'{"run_id": "nope"}', "run_id", id="schema-invalid"),
        pytest.param(b"\xff\xfe", "Invalid JSON", id="not-utf8"),
    ],
)
async def test_invalid_payload_is_dead_lettered_once_and_acked(
    transport: Transport, payload: bytes, error_detail: str
) -> None:
    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX)
    deliveries = record_deliveries(bus.broker)
    handled: list[ScoreRequested] = []

    async def handle(event: ScoreRequested) -> None:
        handled.append(event)

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await bus.publish_raw(Topic.SCORE_REQUESTED.value, payload)

    assert handled == []
    assert len(letters) == 1
    (letter,) = letters
    # The logical topic name: the dead-letter topic itself carries the prefix.
    assert letter.topic == "score.requested"
    assert letter.service == SERVICE
    assert letter.error.startswith("invalid score.requested event: ")
    assert error_detail in letter.error
    assert letter.payload == payload.decode("utf-8", errors="replace")
    assert [d.committed for d in deliveries] == [AckStatus.ACKED]


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_handler_raising_invalid_event_is_dead_lettered_without_retry_and_acked(
    transport: Transport,
) -> None:
    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX, attempts=4)
    deliveries = record_deliveries(bus.broker)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise InvalidEvent(f"unknown metric version {event.metric_version_id}")

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)
    event = score_requested()

    async with transport.harness(bus.broker, observer):
        await bus.publish(event)

    assert calls == 1
    assert len(letters) == 1
    (letter,) = letters
    assert (letter.topic, letter.service) == ("score.requested", SERVICE)
    assert letter.error == f"unknown metric version {event.metric_version_id}"
    assert ScoreRequested.model_validate_json(letter.payload) == event
    assert [d.committed for d in deliveries] == [AckStatus.ACKED]


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS_TRANSIENT)
async def test_transient_failure_is_retried_in_place_then_nacked(
    transport: Transport,
) -> None:
    attempts = 3
    bus = Bus(
        transport.url,
        service=SERVICE,
        topic_prefix=PREFIX,
        attempts=attempts,
        max_deliveries=10,
    )
    deliveries = record_deliveries(bus.broker)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database unavailable")

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await bus.publish(score_requested())

    assert calls == attempts
    # Nacked: on Kafka the consumer seeks back to the offset, on NATS the message is NAKed. The
    # in-memory brokers do not redeliver, so the redelivery itself is checked on a real Kafka.
    assert [d.committed for d in deliveries] == [AckStatus.NACKED]
    assert letters == []


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS_TRANSIENT)
async def test_postponed_event_is_nacked_once_without_retries_or_dead_letter(
    transport: Transport,
) -> None:
    # Postpone is "another consumer is doing this right now": no in-place retry, no failure
    # counted, never dead-lettered, even at the last allowed delivery.
    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX, attempts=4, max_deliveries=1)
    deliveries = record_deliveries(bus.broker)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise Postpone("chunk 3 is being executed by another holder", 0.01)

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await bus.publish(score_requested())

    assert calls == 1
    assert [d.committed for d in deliveries] == [AckStatus.NACKED]
    assert letters == []


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", TRANSPORTS_TRANSIENT)
async def test_event_failing_every_delivery_is_dead_lettered_after_max_deliveries(
    transport: Transport,
) -> None:
    bus = Bus(
        transport.url,
        service=SERVICE,
        topic_prefix=PREFIX,
        attempts=2,
        max_deliveries=2,
    )
    deliveries = record_deliveries(bus.broker)
    calls = 0

    async def handle(event: ScoreRequested) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("judge keeps failing")

    bus.subscribe(ScoreRequested, handle)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)
    event = score_requested()

    async with transport.harness(bus.broker, observer):
        # The in-memory brokers never redeliver: publishing the same event again stands in for
        # the redelivery after the nack (same bytes, same event_id).
        await bus.publish(event)
        assert letters == []
        await bus.publish(event)

    assert calls == 2 * 2
    assert [d.committed for d in deliveries] == [AckStatus.NACKED, AckStatus.ACKED]
    assert len(letters) == 1
    assert letters[0].error.startswith("gave up after 2 deliveries: RuntimeError(")
    assert ScoreRequested.model_validate_json(letters[0].payload) == event


@pytest.mark.asyncio
async def test_kafka_event_reaches_each_service_group_once() -> None:
    # TestKafkaBroker delivers a message to one subscriber per consumer group, as Kafka does;
    # TestNatsBroker only models queue groups, not shared durables, so this is Kafka-only.
    handled: list[str] = []

    def replica(service: str, index: int) -> Bus:
        bus = Bus(KAFKA.url, service=service, topic_prefix=PREFIX)

        async def handle(event: ScoreCompleted) -> None:
            handled.append(f"{service}#{index}")

        bus.subscribe(ScoreCompleted, handle)
        return bus

    buses = [
        replica("run-orchestrator", 0),
        replica("run-orchestrator", 1),
        replica("query", 0),
    ]
    event = ScoreCompleted(
        run_id=uuid.uuid4(),
        record_id=uuid.uuid4(),
        metric_version_id=uuid.uuid4(),
        score_id=uuid.uuid4(),
        status="completed",
    )

    brokers = [b.broker for b in buses if isinstance(b.broker, KafkaBroker)]
    async with TestKafkaBroker(*brokers):
        await buses[0].publish(event)

    assert sorted(h.split("#")[0] for h in handled) == ["query", "run-orchestrator"]
