"""The delivery policy as a pure function: what happens to a message after its handler."""

from __future__ import annotations

import asyncpg
import nats.errors
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from shared.messaging.policy import Action, Decision, Verdict, decide, infrastructure_failure, redelivery_delay


@pytest.mark.parametrize(
    ("verdict", "failures", "expected"),
    [
        (Verdict.HANDLED, 0, Decision(Action.ACK)),
        (Verdict.INVALID, 0, Decision(Action.DEAD_LETTER, reason="bad")),
        (Verdict.POSTPONED, 0, Decision(Action.REDELIVER, delay_s=7.5, reason="bad")),
        (Verdict.FAILED, 1, Decision(Action.REDELIVER, delay_s=2.0, reason="bad")),
        (Verdict.FAILED, 3, Decision(Action.REDELIVER, delay_s=8.0, reason="bad")),
        (Verdict.FAILED, 10, Decision(Action.DEAD_LETTER, reason="gave up after 10 deliveries: bad")),
        # An outage is never counted: the hundredth redelivery is still just a redelivery.
        (Verdict.UNAVAILABLE, 100, Decision(Action.REDELIVER, delay_s=5.0, reason="bad")),
    ],
)
def test_decide(verdict: Verdict, failures: int, expected: Decision) -> None:
    assert decide(verdict, failures=failures, max_deliveries=10, reason="bad", postpone_s=7.5) == expected


def test_redelivery_waits_double_up_to_a_minute() -> None:
    assert [redelivery_delay(n) for n in (1, 2, 3, 4, 5, 6, 7, 20)] == [2, 4, 8, 16, 32, 60, 60, 60]
    assert decide(Verdict.FAILED, failures=9, max_deliveries=10, max_backoff_s=3.0).delay_s == 3.0


@pytest.mark.parametrize(
    ("exc", "infrastructure"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (OSError("no route"), True),
        (TimeoutError(), True),
        (asyncpg.CannotConnectNowError("starting up"), True),
        (asyncpg.ConnectionDoesNotExistError("gone"), True),
        (asyncpg.TooManyConnectionsError("full"), True),
        (asyncpg.InterfaceError("pool is closing"), True),
        (nats.errors.ConnectionClosedError(), True),
        (nats.errors.NoServersError(), True),
        (KafkaConnectionError(), True),
        # The message's own doing: counted, then dead-lettered.
        (asyncpg.QueryCanceledError("statement timeout"), False),
        (asyncpg.UniqueViolationError("dup"), False),
        (asyncpg.CharacterNotInRepertoireError("NUL"), False),
        (nats.errors.MaxPayloadError(), False),
        (MessageSizeTooLargeError(), False),
        (RuntimeError("bug"), False),
        (ValueError("bad data"), False),
        (RecursionError(), False),
    ],
)
def test_infrastructure_failures(exc: BaseException, infrastructure: bool) -> None:
    assert infrastructure_failure(exc) is infrastructure
