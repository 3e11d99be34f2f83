"""One bus API over Kafka (production) and NATS JetStream (one machine), picked by URL.

Handlers are plain ``async def handle(event) -> None`` functions written once. The bus parses the
event and runs the handler, retrying in place with jittered backoff (shared/messaging/handling.py),
then does what the delivery policy (shared/messaging/policy.py) decides — acknowledge, redeliver
later, or dead-letter to ``<topic>.dlq`` — through the broker's transport
(shared/messaging/transport.py). It also:

* acknowledges only after the handler returned, i.e. after its transaction committed;
* sends "in progress" heartbeats while a handler runs, so a long one is not redelivered;
* refuses to publish an event larger than any broker takes (``EventTooLarge``);
* on drain, redelivers new deliveries unprocessed and waits for in-flight ones, then closes;
* delivers dead letters to whoever settles them (``subscribe_dead_letters``): a run never waits
  for an event that was dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from shared import telemetry
from shared.events import DeadLetter, Event
from shared.json_limits import MAX_EVENT_BYTES
from shared.messaging.batching import Batcher
from shared.messaging.handling import BatchHandler, E, Handler, Handling
from shared.messaging.policy import Action, Decision, Verdict, decide, infrastructure_failure
from shared.messaging.transport import Delivery, GroupTiming, open_transport
from shared.topics import Topic, physical

log = logging.getLogger(__name__)

DeadLetterHandler = Callable[[DeadLetter], Awaitable[None]]


# How long acknowledging (or nacking, or dead-lettering) one delivery may take.
SETTLE_TIMEOUT_S = 30.0


class EventTooLarge(ValueError):
    """An event over ``MAX_EVENT_BYTES``: no broker would carry it."""


class Bus:
    """A broker transport plus the subscription and delivery policy shared by every service."""

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
        max_backoff_s: float = 60.0,
        group_timing: GroupTiming | None = None,
    ) -> None:
        """``group_timing``: Kafka consumer-group timing (shared/messaging/transport.py)."""
        self.service = service
        self.prefix = topic_prefix
        self._transport = open_transport(
            url, service=service, topic_prefix=topic_prefix, ack_wait_s=ack_wait_s, group_timing=group_timing
        )
        self.kind = self._transport.kind
        self._concurrency = concurrency
        self._handling = Handling(
            service, attempts=attempts, max_deliveries=max_deliveries, max_backoff_s=max_backoff_s
        )
        self._max_backoff_s = max_backoff_s
        self._ack_wait_s = ack_wait_s
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False
        self._batchers: list[Batcher[Any]] = []

    @property
    def broker(self) -> Any:
        """The FastStream broker underneath (tests drive it with FastStream's in-memory harness)."""
        return self._transport.broker

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._transport.start()

    async def drain(self, timeout_s: float) -> None:
        """Stop taking new work, wait for in-flight handlers, then close the broker."""
        self._draining = True

        async def settled() -> None:
            for batcher in self._batchers:
                await batcher.close()  # what waits for a batch to fill is handled now
            await self._idle.wait()

        try:
            await asyncio.wait_for(settled(), timeout_s)
        except TimeoutError:
            log.warning("drain timed out with handlers in flight", extra={"inflight": self._inflight})
        await self._transport.stop(timeout_s=5.0)

    async def connected(self) -> bool:
        """Whether the broker connection is up (for /readyz)."""
        return await self._transport.connected()

    @property
    def inflight(self) -> int:
        return self._inflight

    # -- publishing --------------------------------------------------------------------------

    def topic_name(self, name: str) -> str:
        return physical(name, self.prefix)

    async def publish(self, event: Event, *, key: str | None = None, deduplicate: bool = False) -> None:
        """``deduplicate``: the event id is deterministic, and a broker that can (JetStream, within
        its duplicate window) drops a second publish of it; consumers stay idempotent anyway."""
        body = event.model_dump_json().encode()
        if len(body) > MAX_EVENT_BYTES:
            raise EventTooLarge(
                f"a {event.topic.value} event of {len(body):,} bytes is more than the {MAX_EVENT_BYTES:,} "
                "any broker carries"
            )
        await self.publish_raw(
            event.topic.value,
            body,
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
        """A publish whose acknowledgement timed out (a broker slow under load) is sent again, up to
        three times: it may then be stored twice, which every consumer takes as a redelivery."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_random_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type(TimeoutError),
            reraise=True,
        ):
            with attempt:
                await self._transport.publish(
                    self.topic_name(topic), body, key=key, correlation_id=correlation_id, message_id=message_id
                )

    async def dead_letter(self, topic: str, payload: bytes, error: str) -> None:
        letter = DeadLetter(
            topic=topic, service=self.service, error=error, payload=payload.decode("utf-8", errors="replace")
        )
        await self.publish_raw(f"{topic}.dlq", letter.model_dump_json().encode())
        telemetry.MESSAGES_FAILED.labels(self.service, topic, "invalid").inc()
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

        async def run(body: bytes) -> Decision:
            event = self._handling.parse(event_type, topic, body)
            if isinstance(event, Decision):
                return event
            return await self._handling.one(topic, event, handler)

        self._consume(topic, run, concurrency=concurrency or self._concurrency, prefetch=prefetch)

    def subscribe_batch(
        self,
        event_type: type[E],
        handler: BatchHandler[E],
        *,
        max_batch: int = 64,
        linger_s: float = 0.01,
        concurrency: int | None = None,
    ) -> None:
        """Hand the handler the events of up to ``max_batch`` deliveries at once (waiting at most
        ``linger_s`` for a batch to fill): one transaction and one publish per batch. Each
        delivery is still acknowledged only after the batch committed; a batch that fails is
        handled again event by event, so a poison message is dead-lettered alone
        (shared/messaging/batching.py)."""
        topic = event_type.topic.value
        batcher: Batcher[E] = Batcher(
            lambda events: self._handling.batch(topic, events, handler), max_batch=max_batch, linger_s=linger_s
        )
        self._batchers.append(batcher)

        async def run(body: bytes) -> Decision:
            event = self._handling.parse(event_type, topic, body)
            if isinstance(event, Decision):
                return event
            return await batcher.submit(event)

        # Enough deliveries in flight to fill a batch while the previous one is being handled.
        self._consume(topic, run, concurrency=concurrency or max(self._concurrency, 2 * max_batch), prefetch=True)

    def _consume(
        self, topic: str, run: Callable[[bytes], Awaitable[Decision]], *, concurrency: int, prefetch: bool
    ) -> None:
        async def consume(delivery: Delivery) -> None:
            await self._deliver(topic, delivery, lambda: run(delivery.body))

        self._transport.subscribe(
            self.topic_name(topic),
            service=self.service,
            topic=topic,
            consume=consume,
            concurrency=concurrency,
            prefetch=prefetch,
        )

    def subscribe_dead_letters(self, topic: Topic, handler: DeadLetterHandler) -> None:
        """Settle what was dead-lettered on ``topic``: the handler makes sure nothing waits for it
        (an errored record, an errored score, a failed run). A letter that cannot be settled is
        logged and left on the dead-letter topic; an outage is retried for as long as it lasts."""
        name = topic.dlq

        async def settle(delivery: Delivery) -> None:
            async def run() -> Decision:
                try:
                    await handler(DeadLetter.model_validate_json(delivery.body))
                except Exception as exc:
                    if infrastructure_failure(exc):
                        raise
                    log.error("a dead letter cannot be settled", extra={"topic": name, "error": repr(exc)})
                return Decision(Action.ACK)

            await self._deliver(name, delivery, run)

        self._transport.subscribe(
            self.topic_name(name), service=self.service, topic=name, consume=settle, concurrency=4, prefetch=True
        )

    # -- delivering --------------------------------------------------------------------------

    async def _deliver(self, topic: str, delivery: Delivery, run: Callable[[], Awaitable[Decision]]) -> None:
        if self._draining:
            await delivery.redeliver(1.0)
            return
        self._inflight += 1
        self._idle.clear()
        started = time.perf_counter()
        heartbeat = asyncio.create_task(self._heartbeat(delivery))
        try:
            decision = await self._outcome(topic, delivery, run)
            await self._settle(topic, delivery, decision)
        finally:
            heartbeat.cancel()
            telemetry.HANDLER_SECONDS.labels(self.service, topic).observe(time.perf_counter() - started)
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _settle(self, topic: str, delivery: Delivery, decision: Decision) -> None:
        """Carry out the decision, for at most ``SETTLE_TIMEOUT_S``: an ack the broker client keeps
        retrying (a commit to a coordinator that is away) must not hold the handler for good. A
        delivery left unsettled is delivered again by the broker, and handled idempotently."""
        try:
            await asyncio.wait_for(self._carry_out(topic, delivery, decision), SETTLE_TIMEOUT_S)
        except Exception as exc:
            log.warning(
                "could not settle a delivery; the broker will deliver it again",
                extra={"topic": topic, "action": decision.action.value, "error": repr(exc)},
            )

    async def _outcome(self, topic: str, delivery: Delivery, run: Callable[[], Awaitable[Decision]]) -> Decision:
        try:
            return await run()
        except Exception as exc:
            # Only a settler's outage reaches here: its other failures are logged and acked.
            log.warning("a dependency is unavailable; redelivering", extra={"topic": topic, "error": repr(exc)})
            return decide(Verdict.UNAVAILABLE, reason=repr(exc), max_backoff_s=self._max_backoff_s)

    async def _heartbeat(self, delivery: Delivery) -> None:
        """Tell the broker a long handler is still working, so it does not redeliver meanwhile."""
        while True:
            await asyncio.sleep(self._ack_wait_s / 3)
            with contextlib.suppress(Exception):
                await delivery.in_progress()

    async def _carry_out(self, topic: str, delivery: Delivery, decision: Decision) -> None:
        if decision.action is Action.ACK:
            await delivery.ack()
        elif decision.action is Action.REDELIVER:
            await delivery.redeliver(decision.delay_s)
        else:
            try:
                await self.dead_letter(topic, delivery.body, decision.reason)
            except Exception:
                # Never ack what did not reach the DLQ: a later ack would commit past it on Kafka.
                log.exception("could not dead-letter an event; leaving it for redelivery", extra={"topic": topic})
                await delivery.redeliver(5.0)
                return
            await delivery.ack()
