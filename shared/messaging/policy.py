"""What to do with a delivery once its handler is done: a pure function of the outcome.

The two failure classes (after arroyo's ``InvalidMessage`` versus everything else), made three:

- the message itself can never succeed (``InvalidEvent``, or it does not parse): dead-letter it
  and acknowledge;
- the message failed for a reason of its own (a bug it triggers, data it carries): retry it,
  and dead-letter it once it has failed ``max_deliveries`` times, so a poison message cannot loop;
- the infrastructure failed (the database or the broker is unreachable, a timeout): retry with
  backoff for as long as it takes. Such failures are never counted: an outage of any length
  dead-letters nothing.

``Postpone`` is not a failure: the work is someone else's right now; redeliver it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import nats.errors
import nats.js.errors

from shared.db.pool import unavailable


class Verdict(Enum):
    HANDLED = "handled"
    INVALID = "invalid"
    POSTPONED = "postponed"
    FAILED = "failed"  # the message's own failure: counted
    UNAVAILABLE = "unavailable"  # the infrastructure's: never counted


class Action(Enum):
    ACK = "ack"
    DEAD_LETTER = "dead_letter"  # publish to <topic>.dlq, then ack
    REDELIVER = "redeliver"  # nack: the broker delivers it again after ``delay_s``


@dataclass(frozen=True)
class Decision:
    action: Action
    delay_s: float = 0.0
    reason: str = ""


# Redelivery waits: 2 s after the first failure, doubling, at most a minute.
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 60.0


def redelivery_delay(failures: int, *, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    return min(base_s * 2.0 ** max(failures - 1, 0), max_s)


def decide(
    verdict: Verdict,
    *,
    failures: int = 0,
    max_deliveries: int = 10,
    reason: str = "",
    postpone_s: float = 0.0,
    max_backoff_s: float = BACKOFF_MAX_S,
) -> Decision:
    """``failures``: how often this message has failed for a reason of its own, this time included."""
    if verdict is Verdict.HANDLED:
        return Decision(Action.ACK)
    if verdict is Verdict.INVALID:
        return Decision(Action.DEAD_LETTER, reason=reason)
    if verdict is Verdict.POSTPONED:
        return Decision(Action.REDELIVER, delay_s=postpone_s, reason=reason)
    if verdict is Verdict.UNAVAILABLE:
        return Decision(Action.REDELIVER, delay_s=min(BACKOFF_BASE_S * 2.5, max_backoff_s), reason=reason)
    if failures >= max_deliveries:
        return Decision(Action.DEAD_LETTER, reason=f"gave up after {failures} deliveries: {reason}")
    return Decision(Action.REDELIVER, delay_s=redelivery_delay(failures, max_s=max_backoff_s), reason=reason)


def infrastructure_failure(exc: BaseException) -> bool:
    """A failure of what the handler depends on, not of the message: the database or the broker
    unreachable, a call that timed out. Retried for as long as it lasts, never dead-lettered."""
    if unavailable(exc) or isinstance(exc, (TimeoutError, ConnectionError, *_BROKER_OUTAGES)):
        return True
    # aiokafka marks the errors worth retrying (a lost leader, a node not ready …).
    return type(exc).__module__.startswith("aiokafka") and bool(getattr(exc, "retriable", False))


# NATS client errors that mean the server is out of reach (a message too large is not one).
_BROKER_OUTAGES = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
)
