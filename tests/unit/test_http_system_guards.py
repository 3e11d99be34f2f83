"""The ``http`` system kind against a real HTTP server: secret headers, the rate limit, and the host
allowlist on real connections."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import pytest

from shared.outbound.allowlist import (
    AllowlistBackend,
    HostAllowlist,
    HostNotAllowed,
    Resolver,
    resolve,
)
from shared.system_config import parse_http_config
from tests.support.fake_system import FakeSystemServer, fail
from tests.support.http_caller import CONTEXT, NOT_ALLOWED, SECRET, call, caller

# -- secret headers ------------------------------------------------------------------------------

SECRET_CONFIG: dict[str, Any] = {"secret_headers": {"Authorization": {"env": "MY_BOT_KEY", "prefix": "Bearer "}}}


async def test_a_secret_header_is_sent(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/echo"), **SECRET_CONFIG}, environ={"MY_BOT_KEY": f" {SECRET}\n"})
    assert result.status == "completed"
    assert system.received()[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(parse_http_config({"url": system.url("/echo"), **SECRET_CONFIG}).model_dump())


async def test_a_secret_echoed_by_the_system_never_reaches_the_error_or_the_log(
    system: FakeSystemServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = '{"error": "' + "x" * 190 + f'bad key Bearer {SECRET}"}}'
    system.script(fail(503, body=body), fail(401, body=body), path="/echo")
    with caplog.at_level(logging.DEBUG):
        result = await call({"url": system.url("/echo"), **SECRET_CONFIG}, environ={"MY_BOT_KEY": SECRET})
    assert SECRET[:4] not in caplog.text and "retrying" in caplog.text
    assert result.status == "errored" and result.error.startswith(
        'system answered HTTP 401 after 2 attempts: {"error": "xxx'
    )
    # Masked before the excerpt was cut: not even the secret's first characters are left.
    assert SECRET[:4] not in result.error


async def test_a_missing_secret_variable_names_the_variable(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/echo"), **SECRET_CONFIG}, environ={})
    assert (result.status, result.error) == (
        "errored",
        "secret header 'Authorization': environment variable MY_BOT_KEY is not set",
    )
    assert system.received() == []


async def test_a_secret_variable_with_a_line_break_is_not_sent(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/echo"), **SECRET_CONFIG}, environ={"MY_BOT_KEY": "a\r\nX-Evil: 1"})
    assert result.error == (
        "secret header 'Authorization': environment variable MY_BOT_KEY does not hold a valid header value"
    )
    assert system.received() == []


async def test_secret_headers_are_not_sent_to_another_origin(system: FakeSystemServer) -> None:
    config = {"secret_headers": {"X-Api-Key": {"env": "K"}}, "headers": {"X-Plain": "p"}}
    other = system.url("/echo", host="localhost")
    same = await call({"url": system.url("/redirect?to=/echo"), **config}, environ={"K": SECRET})
    moved = await call({"url": system.url("/redirect?to=" + quote(other)), **config}, environ={"K": SECRET})
    assert (same.status, moved.status) == ("completed", "completed")
    keys = [(r.headers.get("x-api-key"), r.headers.get("x-plain")) for r in system.received()]
    assert keys == [(SECRET, "p"), (SECRET, "p"), (SECRET, "p"), (None, "p")]


# -- rate limit ----------------------------------------------------------------------------------


async def test_requests_per_s_is_shared_by_calls_to_the_same_system(system: FakeSystemServer) -> None:
    config = parse_http_config({"url": system.url("/echo"), "requests_per_s": 10})
    other = parse_http_config({"url": system.url("/echo?other=1")})
    async with caller() as c:
        started = time.monotonic()
        results = await asyncio.gather(*(c.call(config, CONTEXT) for _ in range(15)), c.call(other, CONTEXT))
        elapsed = time.monotonic() - started
    assert {r.status for r in results} == {"completed"}
    # A burst of 10, then 5 more at 10 a second; the unlimited system is not held back.
    assert 0.45 <= elapsed < 1.5
    # Measured from the start (not the first arrival, which a busy machine may delay): the 15th
    # call cannot be sent before five tokens came back, 0.5 s after the burst.
    limited = sorted(r.at for r in system.received() if not r.query)
    assert limited[-1] - started >= 0.45
    assert next(r for r in system.received() if r.query).at - started < 0.3


async def test_a_replicas_share_of_the_rate_holds_it_to_that_part(system: FakeSystemServer) -> None:
    # Two replicas executing the run: each may send 10 / 2 = 5 a second (burst 5).
    config = parse_http_config({"url": system.url("/echo"), "requests_per_s": 10})
    async with caller() as c:
        started = time.monotonic()
        results = await asyncio.gather(*(c.call(config, CONTEXT, rate_share=0.5) for _ in range(8)))
        elapsed = time.monotonic() - started
    assert {r.status for r in results} == {"completed"}
    # A burst of 5, then 3 more at 5 a second.
    assert 0.55 <= elapsed < 1.5
    arrivals = sorted(r.at for r in system.received())
    assert arrivals[-1] - started >= 0.55


async def test_a_429_pauses_every_call_to_a_rate_limited_system(system: FakeSystemServer) -> None:
    config = parse_http_config({"url": system.url("/echo"), "requests_per_s": 1000})
    system.script(fail(429, retry_after="0.4"), path="/echo")
    async with caller() as c:
        first = asyncio.create_task(c.call(config, CONTEXT))
        await asyncio.sleep(0.1)
        second = await c.call(config, CONTEXT)
        assert second.status == "completed" and (await first).status == "completed"
    arrivals = [r.at for r in system.received()]
    assert arrivals[1] - arrivals[0] >= 0.4  # the second call waited for the first one's Retry-After


# -- the allowlist on real connections -----------------------------------------------------------


async def test_loopback_is_allowed_by_default(system: FakeSystemServer) -> None:
    for host in ("127.0.0.1", "localhost"):
        assert (await call({"url": system.url("/echo", host=host)})).status == "completed", host


async def test_a_public_address_is_refused_by_default() -> None:
    result = await call({"url": "http://93.184.216.34/answer"})
    assert (result.status, result.error) == ("errored", f"system URL host '93.184.216.34' {NOT_ALLOWED}")


def fake_dns(answers: dict[str, list[str]]) -> Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    return resolver


async def test_a_public_name_is_refused_by_default() -> None:
    result = await call({"url": "https://example.com/answer"}, resolver=fake_dns({"example.com": ["93.184.216.34"]}))
    assert (result.status, result.error) == ("errored", f"system URL host 'example.com' {NOT_ALLOWED}")


async def test_a_listed_name_resolving_to_a_private_address_is_refused() -> None:
    result = await call(
        {"url": "http://bot.example.com/answer"},
        allowed="*.example.com,127.0.0.0/8",
        resolver=fake_dns({"bot.example.com": ["10.1.2.3"]}),
    )
    assert (result.status, result.error) == (
        "errored",
        "system URL host 'bot.example.com' resolves to 10.1.2.3, which is not allowed: a name in the "
        "executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS) may reach a non-public address only when that "
        "address is listed too",
    )


async def test_the_backend_connects_to_the_address_it_checked(system: FakeSystemServer) -> None:
    # "bot.test" exists only in this resolver: the connection goes to the address it returned,
    # while the request still names the host.
    result = await call(
        {"url": f"http://bot.test:{system.port}/echo"}, resolver=fake_dns({"bot.test": ["10.9.9.9", "127.0.0.1"]})
    )
    assert result.error == f"system URL host 'bot.test' {NOT_ALLOWED}"  # one refused answer refuses the name
    ok = await call({"url": f"http://bot.test:{system.port}/echo"}, resolver=fake_dns({"bot.test": ["127.0.0.1"]}))
    assert ok.status == "completed"
    assert system.received()[0].headers["host"] == f"bot.test:{system.port}"


async def test_every_new_connection_resolves_and_checks_again(system: FakeSystemServer) -> None:
    answers = iter([["127.0.0.1"], ["10.1.2.3"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    backend = AllowlistBackend(HostAllowlist.parse("127.0.0.0/8"), resolver=rebinding)
    stream = await backend.connect_tcp("rebind.test", system.port, timeout=5)
    await stream.aclose()
    with pytest.raises(HostNotAllowed) as caught:
        await backend.connect_tcp("rebind.test", system.port, timeout=5)
    assert str(caught.value) == f"system URL host 'rebind.test' {NOT_ALLOWED}"


async def test_every_new_connection_of_an_http_system_resolves_and_checks_again(system: FakeSystemServer) -> None:
    answers = iter([["127.0.0.1"], ["10.1.2.3"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    # "Connection: close": the system closes each connection, so the second call opens a new one.
    config = {"url": f"http://rebind.test:{system.port}/echo", "headers": {"Connection": "close"}, "max_attempts": 1}
    async with caller(allowed="127.0.0.0/8", resolver=rebinding) as http:
        first = await http.call(parse_http_config(config), CONTEXT)
        second = await http.call(parse_http_config(config), CONTEXT)
    assert first.status == "completed"
    assert (second.status, second.error) == ("errored", f"system URL host 'rebind.test' {NOT_ALLOWED}")
    assert len(system.received()) == 1


async def test_an_unresolvable_name_is_unreachable() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        return await resolve("no-such-host.invalid", port)

    result = await call({"url": "http://no-such-host.invalid/x", "max_attempts": 1}, resolver=no_dns)
    assert result.error.startswith("could not reach http://no-such-host.invalid/x: ConnectError: cannot resolve")
