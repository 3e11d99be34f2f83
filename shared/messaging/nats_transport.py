"""NATS JetStream: one stream per topic prefix holding every topic, durable pull consumers shared
by the replicas of a service.

The client reconnects forever: the nats client's default gives up after ~2 minutes, after which
FastStream's pull loop fails every fetch at once and spins without yielding, starving the event
loop (no /healthz, no SIGTERM). A connection closed for any other reason ends the process
(exit 75) so that its supervisor starts it again, rather than leaving a live process doing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from faststream import AckPolicy, Context
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from shared.messaging.transport import Consume, handle_freeable
from shared.topics import ALL_TOPICS, nats_stream, physical

log = logging.getLogger(__name__)

# FastStream injects the message being handled through this default.
_MESSAGE: Any = Context("message")
# How long a fetch of up to a batch of messages waits. nats-py's fetch, once the first message of
# an idle consumer arrives, waits for the rest of the batch until this deadline (counted from the
# fetch's start): with 1 s, a record of a quiet run waited 0–1 s before the orchestrator saw it.
# Shorter costs idle requests to the server and, under load, smaller batches (make bench,
# N = 20,000: 1,170–1,252 testcases/s with 1 s, 962–1,096 with 0.1 s, 1,289 with 0.25 s).
BATCH_FETCH_WAIT_S = 0.25
# Exit status of a process that lost its broker for good (EX_TEMPFAIL): start it again.
EXIT_BROKER_LOST = 75


async def raw_decoder(message: StreamMessage[Any]) -> bytes:
    # async: FastStream runs a sync decoder in a thread pool, a hop per message.
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


def _is_jetstream(raw: Any) -> bool:
    return isinstance(raw, Msg) and (raw.reply or "").startswith("$JS.ACK.")


class NatsDelivery:
    def __init__(self, body: bytes, message: StreamMessage[Any]) -> None:
        self.body = body
        self._message = message

    def broker_deliveries(self) -> int | None:
        raw = self._message.raw_message
        return int(raw.metadata.num_delivered) if _is_jetstream(raw) else None

    async def ack(self) -> None:
        await self._message.ack()

    async def redeliver(self, delay_s: float) -> None:
        # JetStream delays the redelivery itself; the in-memory test broker takes a plain nack.
        if isinstance(self._message, NatsMessage) and _is_jetstream(self._message.raw_message):
            await self._message.nack(delay=delay_s)
        else:
            await self._message.nack()

    async def in_progress(self) -> None:
        raw = self._message.raw_message
        if _is_jetstream(raw):
            await raw.in_progress()


class NatsTransport:
    kind = "nats"

    def __init__(self, url: str, *, topic_prefix: str, ack_wait_s: float) -> None:
        self._stopping = False
        self.broker = NatsBroker(
            url,
            logger=None,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            closed_cb=self._closed,
        )
        self._stream = JStream(nats_stream(topic_prefix), subjects=[physical(t, topic_prefix) for t in ALL_TOPICS])
        self._prefix = topic_prefix
        self._ack_wait_s = ack_wait_s

    async def _closed(self) -> None:
        if not self._stopping:
            log.error("the NATS connection closed for good; exiting so the supervisor starts the service again")
            os._exit(EXIT_BROKER_LOST)

    async def start(self) -> None:
        await self.broker.start()

    async def stop(self, timeout_s: float) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), timeout_s)

    async def connected(self) -> bool:
        try:
            return bool(await self.broker.ping(timeout=1.0))
        except Exception:
            return False

    async def publish(
        self, name: str, body: bytes, *, key: str | None, correlation_id: str | None, message_id: str | None
    ) -> None:
        headers = {"Nats-Msg-Id": message_id} if message_id else None
        await self.broker.publish(
            body, subject=name, stream=self._stream.name, correlation_id=correlation_id, headers=headers
        )

    def subscribe(
        self, name: str, *, service: str, topic: str, consume: Consume, concurrency: int, prefetch: bool
    ) -> None:
        async def handle(body: bytes, message: StreamMessage[Any] = _MESSAGE) -> None:
            await consume(NatsDelivery(body, message))

        # One durable consumer per service and topic, shared by the service's replicas.
        durable = "".join(c if c.isalnum() else "_" for c in f"{self._prefix}{service}_{topic}")
        config = ConsumerConfig(ack_wait=self._ack_wait_s, max_ack_pending=max(concurrency * 4, 64))
        if prefetch:
            # One pull loop fetching up to ``concurrency`` messages, handled concurrently.
            self.broker.subscriber(
                name,
                stream=self._stream,
                durable=durable,
                pull_sub=PullSub(batch_size=concurrency, timeout=BATCH_FETCH_WAIT_S),
                max_workers=concurrency,
                ack_policy=AckPolicy.MANUAL,
                config=config,
                decoder=raw_decoder,
            )(handle)
            return
        # No prefetch: ``concurrency`` pull loops on the consumer, each fetching one message when it
        # is done with the last. No message waits in this process's buffer (where it would get no
        # heartbeat and could not go to an idle replica), and a slow message holds up only its own
        # loop — one loop fetching a batch would wait for the batch's slowest before fetching more.
        # A handler may free its loop early (transport.fetch_next): up to ``2 × concurrency``
        # such handlers go on beside the loops.
        freed = _Freed(spare=2 * concurrency)

        async def handle_in_a_loop(body: bytes, message: StreamMessage[Any] = _MESSAGE) -> None:
            delivery = NatsDelivery(body, message)
            if _is_jetstream(message.raw_message):
                await freed.consume(consume, delivery)
            else:  # FastStream's in-memory test broker: no loop to free
                await consume(delivery)

        for _ in range(concurrency):
            self.broker.subscriber(
                name,
                stream=self._stream,
                durable=durable,
                pull_sub=PullSub(batch_size=1, timeout=1.0),
                max_workers=1,
                ack_policy=AckPolicy.MANUAL,
                config=config,
                decoder=raw_decoder,
            )(handle_in_a_loop)


class _Freed:
    """Handlers that let their pull loop fetch its next message and go on (at most ``spare``)."""

    def __init__(self, spare: int) -> None:
        self._spare = spare
        self._going_on: set[asyncio.Task[None]] = set()

    async def consume(self, consume: Consume, delivery: NatsDelivery) -> None:
        """Handle the delivery; return when it is handled or when its handler frees the loop."""
        freed = asyncio.Event()

        def free() -> None:
            if not freed.is_set() and len(self._going_on) < self._spare:
                self._going_on.add(task)
                task.add_done_callback(self._going_on.discard)
                freed.set()

        async def handle() -> None:
            await consume(delivery)

        task = handle_freeable(handle(), free)
        waiter = asyncio.ensure_future(freed.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if task.done():
            task.result()
