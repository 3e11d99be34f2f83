"""shared.throttle: the token bucket and Retry-After parsing used by the LLM gateway and the executor."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest

from shared.throttle import TokenBucket, retry_after_s


async def test_token_bucket_serves_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=20, burst=3)
    started = time.monotonic()
    waited = await asyncio.gather(*(bucket.take() for _ in range(5)))
    elapsed = time.monotonic() - started
    assert sorted(waited)[:3] == pytest.approx([0, 0, 0], abs=0.01)
    assert 0.09 <= elapsed < 0.3  # two more tokens at 20 a second


async def test_token_bucket_rate_change_keeps_saved_tokens_up_to_the_new_burst() -> None:
    bucket = TokenBucket(rate=100, burst=10)
    bucket.set_rate(20, 4)
    started = time.monotonic()
    for _ in range(4):
        await bucket.take()
    assert time.monotonic() - started < 0.05  # the 10 saved tokens, capped at the new burst of 4
    await bucket.take()
    assert time.monotonic() - started >= 0.045  # then 20 a second


async def test_token_bucket_pause() -> None:
    bucket = TokenBucket(rate=1000, burst=10)
    bucket.pause_until(time.monotonic() + 0.2)
    bucket.pause_until(time.monotonic() + 0.1)  # an earlier moment does not shorten the pause
    assert await bucket.take() >= 0.19


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after": "2"}, 2.0, id="seconds"),
        pytest.param({"retry-after": "0.5"}, 0.5, id="fraction"),
        pytest.param({"retry-after": "-3"}, 0.0, id="negative"),
        pytest.param({"retry-after-ms": "250", "retry-after": "9"}, 0.25, id="ms-first"),
        pytest.param({"retry-after-ms": "x", "retry-after": "9"}, 9.0, id="bad-ms"),
        pytest.param({"retry-after": formatdate(1_000_030, usegmt=True)}, 30.0, id="http-date"),
        pytest.param({"retry-after": formatdate(999_970, usegmt=True)}, 0.0, id="http-date-past"),
        pytest.param({"retry-after": "soon"}, None, id="unreadable"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_retry_after_s(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_s(headers, now=1_000_000) == seconds
