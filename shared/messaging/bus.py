"""One bus API over Kafka (production) and NATS JetStream (one machine), picked by URL.

Handlers are plain ``async def handle(event) -> None`` functions written once. This module owns
the delivery policy every subscriber shares:

* the event is parsed here; an undecodable or invalid event goes to ``<topic>.dlq`` and is acked;
* ``InvalidEvent`` raised by a handler → dead-letter and ack;
* ``Postpone`` raised by a handler → redelivered after its delay, not counted as a failure;
* any other exception is retried in place with jittered backoff; if it still fails the message
  is nacked and left for redelivery; after ``max_deliveries`` it is dead-lettered instead, so a
  poison message cannot loop forever;
* the ack happens only after the handler returned, i.e. after its transaction committed
  (manual ack policy on both brokers, never Kafka's ACK_FIRST);
* on drain, new deliveries are nacked unprocessed and in-flight ones finish before the broker
  closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt, wait_random_exponential

from shared import metrics
from shared.events import DeadLetter, Event
from shared.logs import correlation_id
from shared.messaging.errors import InvalidEvent, Postpone
from shared.topics import ALL_TOPICS, nats_stream, physical

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]


async def _raw_decoder(message: StreamMessage[Any]) -> bytes:
    # async: FastStream runs a sync decoder in a thread pool, a hop per message.
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


# FastStream injects the message being handled through this default.
_MESSAGE: Any = Context("message")


class Bus:
    """A FastStream broker plus the subscription and delivery policy shared by every service."""

    def __init__(
        self,
        url: str,
        *,
        service: str,
        topic_prefix: str = "",
        concurrency: int = 16,
        attempts: int = 4,
        max_deliveries: int = 10,
        ack_wait_s: float = 60.0,
    ) -> None:
        parsed = urlparse(url)
        self.kind = parsed.scheme
        self.service = service
        self.prefix = topic_prefix
        self._concurrency = concurrency
        self._attempts = attempts
        self._max_deliveries = max_deliveries
        self._ack_wait_s = ack_wait_s
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False
        self._failures: OrderedDict[str, int] = OrderedDict()
        self.broker: KafkaBroker | NatsBroker
        if self.kind == "kafka":
            servers = [h for h in parsed.netloc.split(",") if h]
            self.broker = KafkaBroker(servers, client_id=f"scorekeeper-{service}", logger=None)
            self._stream: JStream | None = None
        elif self.kind == "nats":
            self.broker = NatsBroker(url, logger=None)
            self._stream = JStream(nats_stream(topic_prefix), subjects=[physical(t, topic_prefix) for t in ALL_TOPICS])
        else:
            raise ValueError(f"unsupported bus URL {url!r}: use kafka://host:port or nats://host:port")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.broker.start()

    async def drain(self, timeout_s: float) -> None:
        """Stop taking new work, wait for in-flight handlers, then close the broker."""
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("drain timed out with handlers in flight", extra={"inflight": self._inflight})
        await self.broker.stop()

    async def connected(self) -> bool:
        """Whether the broker connection is up (for /readyz)."""
        try:
            return bool(await self.broker.ping(timeout=1.0))
        except Exception:
            return False

    @property
    def inflight(self) -> int:
        return self._inflight

    # -- publishing --------------------------------------------------------------------------

    def topic_name(self, name: str) -> str:
        return physical(name, self.prefix)

    async def publish(self, event: Event, *, key: str | None = None, deduplicate: bool = False) -> None:
        """``deduplicate``: the event id is deterministic, and a broker that can (JetStream, within
        its duplicate window) drops a second publish of it; consumers stay idempotent anyway."""
        await self.publish_raw(
            event.topic.value,
            event.model_dump_json().encode(),
            key=key,
            correlation_id=event.correlation_id or None,
            message_id=str(event.event_id) if deduplicate else None,
        )

    async def publish_raw(
        self,
        topic: str,
        body: bytes,
        *,
        key: str | None = None,
        correlation_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        name = self.topic_name(topic)
        if isinstance(self.broker, KafkaBroker):
            await self.broker.publish(
                body, topic=name, key=key.encode() if key else None, correlation_id=correlation_id
            )
        else:
            assert self._stream is not None
            headers = {"Nats-Msg-Id": message_id} if message_id else None
            await self.broker.publish(
                body, subject=name, stream=self._stream.name, correlation_id=correlation_id, headers=headers
            )

    async def dead_letter(self, topic: str, payload: bytes, error: str) -> None:
        letter = DeadLetter(
            topic=topic, service=self.service, error=error, payload=payload.decode("utf-8", errors="replace")
        )
        await self.publish_raw(f"{topic}.dlq", letter.model_dump_json().encode())
        metrics.MESSAGES_FAILED.labels(self.service, topic, "invalid").inc()
        log.warning("dead-lettered event", extra={"topic": topic, "error": error})

    # -- subscribing -------------------------------------------------------------------------

    def subscribe(
        self, event_type: type[E], handler: Handler[E], *, concurrency: int | None = None, prefetch: bool = True
    ) -> None:
        """``prefetch=False`` for long handlers (on JetStream): take a batch of ``concurrency``
        messages only when the previous batch is done, so no message waits in this process's
        buffer — where it would get no heartbeat and be redelivered to another replica, and
        where its work could not go to an idle replica."""
        topic = event_type.topic.value
        workers = concurrency or self._concurrency

        async def consume(body: bytes, message: StreamMessage[Any] = _MESSAGE) -> None:
            await self._deliver(event_type, handler, topic, body, message)

        name = self.topic_name(topic)
        if isinstance(self.broker, KafkaBroker):
            self.broker.subscriber(
                name,
                group_id=f"{self.prefix}scorekeeper-{self.service}",
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.MANUAL,
                max_workers=workers,
                decoder=_raw_decoder,
            )(consume)
        else:
            durable = "".join(c if c.isalnum() else "_" for c in f"{self.prefix}{self.service}_{topic}")
            self.broker.subscriber(
                name,
                stream=self._stream,
                durable=durable,
                pull_sub=PullSub(batch_size=workers, timeout=1.0),
                # One worker: FastStream then handles each fetched batch concurrently and fetches
                # the next once it is done (no buffer beyond the batch).
                max_workers=workers if prefetch else 1,
                ack_policy=AckPolicy.MANUAL,
                config=ConsumerConfig(ack_wait=self._ack_wait_s, max_ack_pending=max(workers * 4, 64)),
                decoder=_raw_decoder,
            )(consume)

    async def _deliver(
        self, event_type: type[E], handler: Handler[E], topic: str, body: bytes, message: StreamMessage[Any]
    ) -> None:
        if self._draining:
            await self._nack(message, backoff_s=1.0)
            return
        self._inflight += 1
        self._idle.clear()
        started = time.perf_counter()
        heartbeat = asyncio.create_task(self._heartbeat(message))
        try:
            await self._handle(event_type, handler, topic, body, message)
        finally:
            heartbeat.cancel()
            metrics.HANDLER_SECONDS.labels(self.service, topic).observe(time.perf_counter() - started)
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _heartbeat(self, message: StreamMessage[Any]) -> None:
        """Tell JetStream a long handler is still working, so it does not redeliver meanwhile.
        (Kafka needs none: its liveness is the consumer's poll loop, not per message.)"""
        raw = message.raw_message
        if not (isinstance(raw, Msg) and _is_jetstream(raw)):
            return
        while True:
            await asyncio.sleep(self._ack_wait_s / 3)
            with contextlib.suppress(Exception):
                await raw.in_progress()

    async def _handle(
        self, event_type: type[E], handler: Handler[E], topic: str, body: bytes, message: StreamMessage[Any]
    ) -> None:
        try:
            event = event_type.model_validate_json(body)
        except ValidationError as exc:
            await self._dead_letter_and_ack(message, topic, body, f"invalid {topic} event: {_summarise(exc)}")
            return
        token = correlation_id.set(event.correlation_id or str(event.event_id))
        key = str(event.event_id)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                retry=retry_if_not_exception_type((InvalidEvent, Postpone)),
                reraise=True,
            ):
                with attempt:
                    await handler(event)
        except InvalidEvent as exc:
            await self._dead_letter_and_ack(message, topic, body, str(exc))
        except Postpone as postponed:
            log.debug("event postponed", extra={"topic": topic, "reason": str(postponed)})
            await self._nack(message, backoff_s=postponed.delay_s)
        except Exception as exc:
            metrics.MESSAGES_FAILED.labels(self.service, topic, "transient").inc()
            deliveries = self._delivery_count(message, key)
            if deliveries >= self._max_deliveries:
                await self._dead_letter_and_ack(message, topic, body, f"gave up after {deliveries} deliveries: {exc!r}")
                return
            log.warning(
                "handler failed; leaving the event for redelivery",
                extra={"topic": topic, "error": repr(exc), "deliveries": deliveries},
            )
            await self._nack(message, backoff_s=min(2.0**deliveries, 60.0))
        else:
            await message.ack()
            self._failures.pop(key, None)
            metrics.MESSAGES_HANDLED.labels(self.service, topic).inc()
        finally:
            correlation_id.reset(token)

    async def _dead_letter_and_ack(self, message: StreamMessage[Any], topic: str, body: bytes, error: str) -> None:
        try:
            await self.dead_letter(topic, body, error)
        except Exception:
            # Never ack what did not reach the DLQ: a later ack would commit past it on Kafka.
            log.exception("could not dead-letter an event; leaving it for redelivery", extra={"topic": topic})
            await self._nack(message, backoff_s=5.0)
            return
        await message.ack()

    async def _nack(self, message: StreamMessage[Any], backoff_s: float) -> None:
        """Redeliver later: JetStream delays the redelivery itself; Kafka re-reads from the
        uncommitted offset at once, so wait here (that partition cannot advance anyway)."""
        if isinstance(message, NatsMessage) and _is_jetstream(message.raw_message):
            await message.nack(delay=backoff_s)
        else:
            await asyncio.sleep(min(backoff_s, 5.0))
            await message.nack()

    def _delivery_count(self, message: StreamMessage[Any], key: str) -> int:
        raw = message.raw_message
        if isinstance(raw, Msg) and _is_jetstream(raw):
            return int(raw.metadata.num_delivered)
        # Kafka does not count deliveries: count failed ones here (bounded).
        count = self._failures.pop(key, 0) + 1
        self._failures[key] = count
        while len(self._failures) > 10_000:
            self._failures.popitem(last=False)
        return count


def _is_jetstream(raw: Msg) -> bool:
    return (raw.reply or "").startswith("$JS.ACK.")


def _summarise(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5])
