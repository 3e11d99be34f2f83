"""What the bus needs of a broker (as arroyo's ``backends/abstract.py``): publish bytes, consume
bytes with manual acknowledgement, and say whether it is connected. Each broker is one module
implementing it; the delivery policy (shared/messaging/policy.py) never sees which one it is.

A new broker is one new module with a ``Transport`` and a ``Delivery``, plus one line in
``open_transport``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse


class Delivery(Protocol):
    """One message as the broker delivered it."""

    body: bytes

    def broker_deliveries(self) -> int | None:
        """How often the broker has delivered it (JetStream counts); None where it does not count."""

    async def ack(self) -> None:
        """Done: never deliver it again (Kafka: commit past it)."""

    async def redeliver(self, delay_s: float) -> None:
        """Not done: deliver it again after about ``delay_s``."""

    async def in_progress(self) -> None:
        """Still working on it: do not redeliver it meanwhile (a no-op where liveness is the poll)."""


Consume = Callable[[Delivery], Awaitable[None]]

# Set by a transport, for the handler of one delivery, where its pull loop may fetch the next
# message before that handler is done (see fetch_next).
FETCH_NEXT: ContextVar[Callable[[], None] | None] = ContextVar("fetch_next", default=None)


def fetch_next() -> None:
    """Let the pull loop that delivered the message being handled fetch its next one now; the
    handler goes on and still settles its own message when done. For a long handler that has
    nothing to do for a while (every call it waits for is in a retry's backoff). NATS frees the
    pull loop; Kafka frees a slot of the long handlers' consumer (its commits stay in order,
    shared/messaging/kafka_consumer.py); a no-op for FastStream's Kafka consumers, which take a
    partition's messages one after another."""
    free = FETCH_NEXT.get()
    if free is not None:
        free()


def handle_freeable(handler: Coroutine[Any, Any, None], free: Callable[[], None]) -> asyncio.Task[None]:
    """Run a delivery's handler as a task in which ``fetch_next()`` calls ``free`` (what a
    transport does to let its loop or slot go early)."""
    context = contextvars.copy_context()
    context.run(FETCH_NEXT.set, free)
    return asyncio.create_task(handler, context=context)


@dataclass(frozen=True)
class GroupTiming:
    """Kafka consumer-group timing in ms. The defaults are the client's, which Apache Kafka
    accepts (its group.min.session.timeout.ms is 6 s); rebalance None: as long as the session.
    Shorter values make joins and takeovers faster on Tansu (shared/embedded_kafka.py), whose
    joins take about half the session timeout."""

    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    rebalance_timeout_ms: int | None = None


class Transport(Protocol):
    """One broker connection of one service."""

    kind: str
    # The underlying FastStream broker (tests drive it with FastStream's in-memory harness).
    broker: Any

    async def start(self) -> None: ...

    async def stop(self, timeout_s: float) -> None:
        """Close the connection; never waits longer than ``timeout_s`` (a broker that is away)."""

    async def connected(self) -> bool: ...

    async def publish(
        self, name: str, body: bytes, *, key: str | None, correlation_id: str | None, message_id: str | None
    ) -> None:
        """``message_id``: a broker that deduplicates (JetStream) drops a second publish of it."""

    def subscribe(
        self, name: str, *, service: str, topic: str, consume: Consume, concurrency: int, prefetch: bool
    ) -> None:
        """Deliver the messages of the physical topic ``name`` (the logical ``topic``) to ``consume``,
        at most ``concurrency`` at once, shared with every replica of ``service``."""


def open_transport(
    url: str, *, service: str, topic_prefix: str, ack_wait_s: float, group_timing: GroupTiming | None = None
) -> Transport:
    """The transport a bus URL names: ``nats://host:4222`` or ``kafka://host:9092[,host2:9092]``.
    ``group_timing`` applies to Kafka only."""
    scheme = urlparse(url).scheme
    if scheme == "nats":
        from shared.messaging.nats_transport import NatsTransport

        return NatsTransport(url, topic_prefix=topic_prefix, ack_wait_s=ack_wait_s)
    if scheme == "kafka":
        from shared.messaging.kafka_transport import KafkaTransport

        return KafkaTransport(url, service=service, topic_prefix=topic_prefix, group_timing=group_timing)
    raise ValueError(f"unsupported bus URL {url!r}: use kafka://host:port or nats://host:port")
