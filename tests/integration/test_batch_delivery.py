"""Batched consumption (Bus.subscribe_batch) on FastStream's in-memory brokers, both kinds: one
handler call per batch, each delivery acknowledged only after its batch committed, a poison
message dead-lettered alone while the rest of its batch commits, an outage redelivering the
whole batch and dead-lettering nothing, and a version-1 event read by a version-2 consumer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from faststream.message import AckStatus

from shared.events import ScoreRequested, ScoresRequested
from shared.messaging.bus import Bus
from shared.messaging.errors import InvalidEvent
from shared.topics import Topic
from tests.support.inmemory_bus import PREFIX, TRANSPORTS, Transport, observe_dead_letters, record_deliveries

pytestmark = pytest.mark.asyncio

SERVICE = "scorer"
RUN = uuid.uuid4()


def request() -> ScoresRequested:
    return ScoresRequested(run_id=RUN, record_ids=[uuid.uuid4()], metric_version_ids=[uuid.uuid4()])


class Store:
    """What a handler committed (in order), and every batch it was called with."""

    def __init__(self) -> None:
        self.committed: list[uuid.UUID] = []
        self.calls: list[list[uuid.UUID]] = []


def batch_bus(
    transport: Transport, store: Store, *, poison: frozenset[uuid.UUID] = frozenset(), outage: bool = False
) -> Bus:
    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX, attempts=2, max_deliveries=3)

    async def handle(events: list[ScoresRequested]) -> None:
        store.calls.append([e.event_id for e in events])
        if outage:
            raise ConnectionError("database unavailable")
        for event in events:
            if event.event_id in poison:
                raise InvalidEvent(f"record {event.record_ids[0]} does not exist in run {event.run_id}")
        # Committed only when the whole batch is good: one transaction.
        store.committed.extend(e.event_id for e in events)

    bus.subscribe_batch(ScoresRequested, handle, max_batch=8, linger_s=0.05)
    return bus


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_handler_call_per_batch_and_every_delivery_acked_after_it(transport: Transport) -> None:
    store = Store()
    bus = batch_bus(transport, store)
    deliveries = record_deliveries(bus.broker)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)
    events = [request() for _ in range(20)]

    async with transport.harness(bus.broker, observer):
        await asyncio.gather(*(bus.publish(e) for e in events))

    assert sorted(store.committed) == sorted(e.event_id for e in events)
    assert [len(call) for call in store.calls] == [8, 8, 4]  # full batches, then the rest after the wait
    assert [d.committed for d in deliveries] == [AckStatus.ACKED] * 20
    assert letters == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_poison_message_is_dead_lettered_alone_and_the_rest_of_its_batch_commits(
    transport: Transport,
) -> None:
    events = [request() for _ in range(6)]
    poison = events[3]
    store = Store()
    bus = batch_bus(transport, store, poison=frozenset({poison.event_id}))
    deliveries = record_deliveries(bus.broker)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await asyncio.gather(*(bus.publish(e) for e in events))

    assert sorted(store.committed) == sorted(e.event_id for e in events if e is not poison)
    # The batch once, then each of its events alone.
    assert sorted(store.calls[0]) == sorted(e.event_id for e in events)
    assert sorted(map(tuple, store.calls[1:])) == sorted((e.event_id,) for e in events)
    (letter,) = letters
    assert letter.error == f"record {poison.record_ids[0]} does not exist in run {RUN}"
    assert ScoresRequested.model_validate_json(letter.payload) == poison
    assert [d.committed for d in deliveries] == [AckStatus.ACKED] * 6


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_outage_redelivers_the_whole_batch_and_dead_letters_nothing(transport: Transport) -> None:
    store = Store()
    bus = batch_bus(transport, store, outage=True)
    deliveries = record_deliveries(bus.broker)
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await asyncio.gather(*(bus.publish(request()) for _ in range(5)))

    assert store.committed == []
    assert len(store.calls) == 1  # an outage is not split into single events
    assert [d.committed for d in deliveries] == [AckStatus.NACKED] * 5
    assert letters == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_version_1_event_is_read_by_the_batch_consumer(transport: Transport) -> None:
    received: list[ScoresRequested] = []

    async def keep(events: list[ScoresRequested]) -> None:
        received.extend(events)

    bus = Bus(transport.url, service=SERVICE, topic_prefix=PREFIX)
    bus.subscribe_batch(ScoresRequested, keep, max_batch=4, linger_s=0.01)
    old = ScoreRequested(run_id=RUN, record_id=uuid.uuid4(), metric_version_id=uuid.uuid4(), correlation_id="c1")
    observer, letters = observe_dead_letters(bus, Topic.SCORE_REQUESTED)

    async with transport.harness(bus.broker, observer):
        await bus.publish(old)

    (event,) = received
    assert (event.event_id, event.schema_version, event.correlation_id) == (old.event_id, 2, "c1")
    assert event.pairs() == [(old.record_id, old.metric_version_id)]
    assert letters == []
