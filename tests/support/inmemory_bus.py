"""The bus on FastStream's in-memory test brokers: both broker kinds, a recorder of every
delivery's final ack state, and an observer of a topic's dead letters (on a broker of its own, as
another service would read them)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.nats import NatsBroker, PullSub, TestNatsBroker

from shared.events import DeadLetter
from shared.messaging.bus import Bus
from shared.topics import Topic

PREFIX = "t1."


@dataclass(frozen=True)
class Transport:
    """One broker kind: the bus URL and FastStream's in-memory harness for it."""

    name: str
    url: str
    harness: Callable[..., AbstractAsyncContextManager[Any]]


KAFKA = Transport("kafka", "kafka://localhost:9092", TestKafkaBroker)
NATS = Transport("nats", "nats://localhost:4222", TestNatsBroker)

TRANSPORTS = [pytest.param(KAFKA, id="kafka"), pytest.param(NATS, id="nats")]
TRANSPORTS_TRANSIENT = TRANSPORTS


def record_deliveries(broker: KafkaBroker | NatsBroker) -> list[StreamMessage[Any]]:
    """Every message the broker's subscribers receive, to read its final ack state afterwards."""
    seen: list[StreamMessage[Any]] = []

    class Recorder(BaseMiddleware):
        async def consume_scope(self, call_next: Callable[..., Any], msg: StreamMessage[Any]) -> Any:
            seen.append(msg)
            return await call_next(msg)

    broker.add_middleware(Recorder)
    return seen


def observe_dead_letters(bus: Bus, topic: Topic) -> tuple[KafkaBroker | NatsBroker, list[DeadLetter]]:
    """A separate broker subscribed to ``<topic>.dlq``, parsing each message as a DeadLetter."""
    letters: list[DeadLetter] = []

    async def collect(letter: DeadLetter) -> None:
        letters.append(letter)

    name = bus.topic_name(topic.dlq)
    observer: KafkaBroker | NatsBroker
    if isinstance(bus.broker, KafkaBroker):
        observer = KafkaBroker(logger=None)
        observer.subscriber(name, group_id=f"{PREFIX}dlq-observer", ack_policy=AckPolicy.ACK)(collect)
    else:
        # The in-memory broker routes by stream name: use the stream the bus subscribed with.
        stream = only_subscriber(bus).stream
        observer = NatsBroker(logger=None)
        observer.subscriber(
            name,
            stream=stream,
            durable="dlq_observer",
            pull_sub=PullSub(timeout=1.0),
            ack_policy=AckPolicy.ACK,
        )(collect)
    return observer, letters


def only_subscriber(bus: Bus) -> Any:
    (subscriber,) = bus.broker.subscribers
    return subscriber
