"""Apache Kafka (and Kafka-protocol brokers such as Tansu): one consumer group per service, manual
commits after the handler is done (never FastStream's ACK_FIRST). Kafka keeps no per-message
delivery count and cannot delay one message: a redelivery is a wait here, then a seek back.
Long handlers (``prefetch=False``: the executor's chunks) get a consumer of their own instead,
which handles several of a partition's messages at once (shared/messaging/kafka_consumer.py).

Topics are never created here: FastStream would create a subscribed topic with one partition,
and brokers that auto-create would pick their own count. shared/messaging/kafka_topics.py creates
them, with their partition counts, before any service starts."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlparse

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from shared.messaging.kafka_consumer import MAX_REDELIVERY_WAIT_S, ConcurrentConsumer
from shared.messaging.kafka_topics import DATA_PARTITIONS
from shared.messaging.nats_transport import raw_decoder
from shared.messaging.transport import Consume, GroupTiming

# FastStream injects the message being handled through this default.
_MESSAGE: Any = Context("message")


class KafkaDelivery:
    def __init__(self, body: bytes, message: StreamMessage[Any]) -> None:
        self.body = body
        self._message = message

    def broker_deliveries(self) -> int | None:
        return None

    async def ack(self) -> None:
        await self._message.ack()

    async def redeliver(self, delay_s: float) -> None:
        await asyncio.sleep(min(delay_s, MAX_REDELIVERY_WAIT_S))
        await self._message.nack()

    async def in_progress(self) -> None:
        """Kafka's liveness is the consumer's poll loop, not per message."""


class KafkaTransport:
    kind = "kafka"

    def __init__(self, url: str, *, service: str, topic_prefix: str, group_timing: GroupTiming | None = None) -> None:
        self._servers = [h for h in urlparse(url).netloc.split(",") if h]
        self._client_id = f"scorekeeper-{service}"
        self.broker = KafkaBroker(self._servers, client_id=self._client_id, logger=None, allow_auto_create_topics=False)
        self._prefix = topic_prefix
        self._timing = group_timing or GroupTiming()
        # Long handlers' subscriptions (prefetch off): shared/messaging/kafka_consumer.py.
        self.concurrent: list[ConcurrentConsumer] = []

    async def start(self) -> None:
        # FastStream starts subscribers one after another, and each aiokafka consumer's start waits
        # for its group join: every subscriber of a service would make the service's group
        # rebalance once more (about 2 s each on Tansu, 6 subscribers in the orchestrator). Started
        # together, the service's consumers join in one round. This is FastStream's
        # ``BrokerUsecase.start`` (0.7.8) with the subscribers gathered.
        await self.broker.connect()
        await asyncio.gather(
            *(subscriber.start() for subscriber in self.broker.subscribers),
            *(consumer.start() for consumer in self.concurrent),
        )
        for publisher in self.broker.publishers:
            await publisher.start()
        self.broker.running = True

    async def stop(self, timeout_s: float) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(self.broker.stop(), *(consumer.stop() for consumer in self.concurrent)), timeout_s
            )

    async def connected(self) -> bool:
        try:
            return bool(await self.broker.ping(timeout=1.0))
        except Exception:
            return False

    async def publish(
        self, name: str, body: bytes, *, key: str | None, correlation_id: str | None, message_id: str | None
    ) -> None:
        await self.broker.publish(body, topic=name, key=key.encode() if key else None, correlation_id=correlation_id)

    def subscribe(
        self, name: str, *, service: str, topic: str, consume: Consume, concurrency: int, prefetch: bool
    ) -> None:
        group_id = f"{self._prefix}scorekeeper-{service}"
        if not prefetch:
            # Long handlers: several messages of a partition at once, commits in order.
            self.concurrent.append(
                ConcurrentConsumer(
                    self._servers,
                    name,
                    group_id=group_id,
                    client_id=self._client_id,
                    consume=consume,
                    concurrency=concurrency,
                    timing=self._timing,
                )
            )
            return

        async def handle(body: bytes, message: StreamMessage[Any] = _MESSAGE) -> None:
            await consume(KafkaDelivery(body, message))

        self.broker.subscriber(
            name,
            # One consumer group per service (its replicas share the partitions).
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            # A consumer of the group per worker, each handling its partitions in order: more than
            # the topic's partitions would sit idle and make every join a longer rebalance (a batch
            # subscription asks for hundreds of deliveries in flight; on Kafka its batches fill
            # from the partitions' consumers instead).
            max_workers=min(concurrency, DATA_PARTITIONS),
            decoder=raw_decoder,
            session_timeout_ms=self._timing.session_timeout_ms,
            heartbeat_interval_ms=self._timing.heartbeat_interval_ms,
            rebalance_timeout_ms=self._timing.rebalance_timeout_ms,
        )(handle)
