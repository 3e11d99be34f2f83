"""A handler run on events, and what its outcome means for their deliveries.

The bus (shared/messaging/bus.py) receives, heartbeats and settles deliveries; this module turns
a delivery's body into an event and a handler's outcome into a decision of the delivery policy
(shared/messaging/policy.py):

* an event that cannot be parsed, or a handler raising ``InvalidEvent``: dead-lettered;
* ``Postpone``: delivered again after the delay it names;
* an outage (``infrastructure_failure``): delivered again, never counted against the event;
* any other failure: retried in place with jittered backoff, then delivered again, counted
  against the event until ``max_deliveries``;
* a batch that fails for a reason of its own is handled again event by event, so that a poison
  event is dead-lettered alone while the rest commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from shared import telemetry
from shared.events import Event
from shared.logs import correlation_id
from shared.messaging.errors import InvalidEvent, Postpone
from shared.messaging.policy import Decision, Verdict, decide, infrastructure_failure

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]
BatchHandler = Callable[[list[E]], Awaitable[None]]

# How many events' failure counts are remembered (the oldest are forgotten first).
REMEMBERED_FAILURES = 10_000


class Handling:
    """Runs a service's handlers and decides each delivery's fate."""

    def __init__(self, service: str, *, attempts: int, max_deliveries: int, max_backoff_s: float) -> None:
        self._service = service
        self._attempts = attempts
        self._max_deliveries = max_deliveries
        self._max_backoff_s = max_backoff_s
        # Failures of each message for reasons of its own, by event id (bounded): infrastructure
        # failures are not counted, so the broker's own delivery count cannot be used.
        self._failures: OrderedDict[str, int] = OrderedDict()

    def parse(self, event_type: type[E], topic: str, body: bytes) -> E | Decision:
        """The event, or the decision to dead-letter what can never be one."""
        try:
            return event_type.parse(body)
        except ValidationError as exc:
            return decide(Verdict.INVALID, reason=f"invalid {topic} event: {_summarise(exc)}")
        except (ValueError, RecursionError) as exc:
            return decide(Verdict.INVALID, reason=f"invalid {topic} event: {exc!r}")

    async def one(self, topic: str, event: E, handler: Handler[E]) -> Decision:
        token = correlation_id.set(event.correlation_id or str(event.event_id))
        key = str(event.event_id)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                retry=retry_if_exception(lambda e: not isinstance(e, InvalidEvent | Postpone)),
                reraise=True,
            ):
                with attempt:
                    await handler(event)
        except InvalidEvent as exc:
            return decide(Verdict.INVALID, reason=str(exc))
        except Postpone as postponed:
            log.debug("event postponed", extra={"topic": topic, "reason": str(postponed)})
            return decide(Verdict.POSTPONED, postpone_s=postponed.delay_s, reason=str(postponed))
        except Exception as exc:
            if infrastructure_failure(exc):
                return self.unavailable(topic, exc)
            telemetry.MESSAGES_FAILED.labels(self._service, topic, "transient").inc()
            failures = self._count_failure(key)
            log.warning(
                "handler failed; leaving the event for redelivery",
                extra={"topic": topic, "error": repr(exc), "failures": failures},
            )
            return decide(
                Verdict.FAILED,
                failures=failures,
                max_deliveries=self._max_deliveries,
                reason=repr(exc),
                max_backoff_s=self._max_backoff_s,
            )
        finally:
            correlation_id.reset(token)
        self._handled(topic, key)
        return decide(Verdict.HANDLED)

    async def batch(self, topic: str, events: list[E], handler: BatchHandler[E]) -> list[Decision]:
        """One handler call for the whole batch (retried once for a passing failure). An outage
        redelivers them all; any other failure handles the events again one by one."""

        async def alone(event: E) -> None:
            await handler([event])

        telemetry.BATCH_EVENTS.labels(self._service, topic).observe(len(events))
        if len(events) == 1:
            return [await self.one(topic, events[0], alone)]
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(min(self._attempts, 2)),
                wait=wait_random_exponential(multiplier=0.05, max=0.5),
                retry=retry_if_exception(
                    lambda e: not isinstance(e, InvalidEvent | Postpone) and not infrastructure_failure(e)
                ),
                reraise=True,
            ):
                with attempt:
                    await handler(events)
        except Exception as exc:
            if infrastructure_failure(exc):
                return [self.unavailable(topic, exc)] * len(events)
            log.info(
                "a batch failed; handling its events one by one",
                extra={"topic": topic, "events": len(events), "error": repr(exc)},
            )
            return list(await asyncio.gather(*(self.one(topic, event, alone) for event in events)))
        for event in events:
            self._handled(topic, str(event.event_id))
        return [decide(Verdict.HANDLED)] * len(events)

    def unavailable(self, topic: str, exc: Exception) -> Decision:
        """A dependency is down: delivered again later, not counted against the event."""
        telemetry.MESSAGES_FAILED.labels(self._service, topic, "unavailable").inc()
        log.warning("a dependency is unavailable; redelivering", extra={"topic": topic, "error": repr(exc)})
        return decide(Verdict.UNAVAILABLE, reason=repr(exc), max_backoff_s=self._max_backoff_s)

    def _handled(self, topic: str, key: str) -> None:
        self._failures.pop(key, None)
        telemetry.MESSAGES_HANDLED.labels(self._service, topic).inc()

    def _count_failure(self, key: str) -> int:
        count = self._failures.pop(key, 0) + 1
        self._failures[key] = count
        while len(self._failures) > REMEMBERED_FAILURES:
            self._failures.popitem(last=False)
        return count


def _summarise(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5])
