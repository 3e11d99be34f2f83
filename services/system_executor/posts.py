"""Webhook POSTs (monitor alerts, run webhooks): one POST through the checked outbound client, its
outcome, and what a failed one does next. The loops delivering them run in every executor replica
(the service that calls out); each claims a delivery as a lease, so one POST is made per delivery,
unless a replica dies between the receiver's answer and its write (a second POST then carries the
same delivery id)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from shared import telemetry
from shared.json_limits import json_text
from shared.outbound.allowlist import HostNotAllowed

log = logging.getLogger(__name__)

# A delivery older than this is no longer made (the executors were down for that long, or its
# webhook paused): it is given up, failed with given_up()'s reason.
HORIZON = timedelta(days=7)


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``X-Scorekeeper-Signature``: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
    secret> (a receiver recomputes it and refuses an old t, so a captured POST cannot be replayed)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def body_of(payload: dict[str, Any], format: str) -> bytes:
    """The bytes POSTed: the whole document (json), or its text alone (slack; a document written
    before documents had a text — an alert decided before — is its own text)."""
    if format != "slack":
        return json_text(payload).encode()
    return json_text({"text": payload.get("text") or json_text(payload)}).encode()


def given_up(why: str) -> str:
    return f"given up: not sent within {HORIZON.days} days ({why})"


@dataclass(frozen=True)
class DeliverySettings:
    poll_s: float = 1.0
    claim_ttl_s: float = 30.0
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_base_s: float = 2.0


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool
    status: int | None
    error: str


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Outcome:
    """One POST of ``body``; the answer's body is not read."""
    try:
        async with asyncio.timeout(timeout_s):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
    except HostNotAllowed as exc:
        return Outcome(False, False, None, str(exc))
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(False, True, None, f"no answer within {timeout_s:g}s from {url}")
    except httpx.HTTPError as exc:
        return Outcome(False, True, None, f"could not call {url}: {type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Outcome(True, False, status, "")
    return Outcome(False, status >= 500 or status in (408, 429), status, f"the webhook answered HTTP {status}")


def next_step(kind: str, outcome: Outcome, attempts: int, settings: DeliverySettings) -> tuple[str, timedelta | None]:
    """The delivery's status after an attempt (delivered | retrying | failed) and, when retrying,
    the wait before the next attempt (doubling from ``backoff_base_s``); counted per ``kind``."""
    step: tuple[str, timedelta | None] = ("failed", None)
    if outcome.delivered:
        step = ("delivered", None)
    elif outcome.retryable and attempts < settings.max_attempts:
        step = ("retrying", timedelta(seconds=settings.backoff_base_s * 2 ** (attempts - 1)))
    telemetry.WEBHOOK_POSTS.labels(kind, step[0]).inc()
    return step


async def deliver_forever(what: str, tick: Callable[[], Awaitable[int]], settings: DeliverySettings) -> None:
    """Call ``tick`` (deliver what is due; how many it delivered) again at once after it delivered
    some, else after ``poll_s``; a failed tick is logged and tried again."""
    while True:
        delivered = 0
        try:
            delivered = await tick()
        except Exception:
            log.warning("%s: the delivery tick failed; trying again", what, exc_info=True)
        if not delivered:
            await asyncio.sleep(settings.poll_s)
