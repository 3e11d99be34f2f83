"""The ``http`` system kind against a real HTTP server: outputs, retries, Retry-After, timeouts,
size cap, redirects, secret headers, rate limit, and the host allowlist on real connections."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import pytest

from services.system_executor.execution import Execution
from services.system_executor.http_system import HttpSystemCaller, RetryPolicy
from shared.embedded import free_port
from shared.outbound.allowlist import (
    DEFAULT_ALLOWED_HOSTS,
    AllowlistBackend,
    HostAllowlist,
    HostNotAllowed,
    Resolver,
    outbound_http_client,
    resolve,
)
from shared.outbound.secrets import SecretEnvPolicy
from shared.system_config import parse_http_config
from tests.support.fake_system import FakeSystemServer, delay, fail, fake_system_server

FAST = RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.05, max_retry_after_s=2.0)
SECRET = "s3cret-7c1f0d9e-not-a-real-key"
CONTEXT: dict[str, Any] = {"inputs": {"question": "2 + 2?", "tags": ["a", "b"]}, "metadata": {"k": 3}}
NOT_ALLOWED = "is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)"

system_server = pytest.fixture(scope="module")(fake_system_server)


@pytest.fixture
def system(system_server: FakeSystemServer) -> Iterator[FakeSystemServer]:
    system_server.reset()
    yield system_server
    system_server.reset()


@asynccontextmanager
async def caller(
    *,
    allowed: str = DEFAULT_ALLOWED_HOSTS,
    resolver: Resolver = resolve,
    environ: dict[str, str] | None = None,
    max_redirects: int = 5,
    retry: RetryPolicy = FAST,
    max_response_bytes: int = 100_000,
) -> AsyncIterator[HttpSystemCaller]:
    async with outbound_http_client(HostAllowlist.parse(allowed), max_connections=16, resolver=resolver) as client:
        yield HttpSystemCaller(
            client,
            max_response_bytes=max_response_bytes,
            max_redirects=max_redirects,
            retry=retry,
            environ=environ or {},
            # The variables the tests name are allowed; the rule itself is tested on its own.
            secret_env=SecretEnvPolicy(names=frozenset(environ or {}) | {"MY_BOT_KEY"}),
        )


async def call(config: dict[str, Any], context: dict[str, Any] = CONTEXT, **options: Any) -> Execution:
    async with caller(**options) as c:
        return await c.call(parse_http_config(config), context)


# -- answers -------------------------------------------------------------------------------------


async def test_default_config_posts_the_inputs_and_keeps_the_whole_answer(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/echo")})
    assert result.status == "completed" and result.error == ""
    assert result.outputs["response"]["received"] == CONTEXT["inputs"]
    assert result.latency_ms > 0
    [request] = system.received()
    assert (request.method, request.json()) == ("POST", CONTEXT["inputs"])


async def test_body_mapping_and_output_paths(system: FakeSystemServer) -> None:
    config = {
        "url": system.url("/echo"),
        "body_mapping": {"question": "$.inputs.question", "k": "$.metadata.k", "tags": "$.inputs.tags[*]"},
        "outputs": {
            "answer": "choices.0.message.content",
            "usage": "usage",
            "contents": "$.choices[*].message.content",
            "tokens": "$.usage.total_tokens",
        },
    }
    result = await call(config)
    assert result == Execution(
        "completed",
        outputs={
            "answer": "echo: 2 + 2?",
            "usage": {"total_tokens": 7},
            "contents": ["echo: 2 + 2?", "second"],
            "tokens": 7,
        },
        latency_ms=result.latency_ms,
    )
    assert system.received()[0].json() == {"question": "2 + 2?", "k": 3, "tags": ["a", "b"]}


async def test_get_sends_the_body_as_query_parameters(system: FakeSystemServer) -> None:
    config = {"url": system.url("/echo"), "method": "GET", "body_mapping": {"q": "$.inputs.question"}}
    result = await call(config)
    assert result.status == "completed"
    assert result.outputs["response"]["query"] == {"q": "2 + 2?"}


@pytest.mark.parametrize(
    ("config", "error"),
    [
        pytest.param(
            {"outputs": {"answer": "$.nothing"}},
            "output 'answer': $.nothing matches nothing in the response",
            id="jsonpath-output-missing",
        ),
        pytest.param(
            {"outputs": {"answer": "choices.5.message"}},
            "output 'answer': response has no '5' at path 'choices.5.message'",
            id="dotted-output-missing",
        ),
        pytest.param(
            {"response_path": "answer"}, "response has no 'answer' at path 'answer'", id="response-path-missing"
        ),
        pytest.param(
            {"body_mapping": {"q": "$.inputs.missing"}},
            "body_mapping.q: $.inputs.missing matches nothing in the testcase",
            id="body-mapping-missing",
        ),
        pytest.param(
            {"body_template": {"q": "{{ inputs.missing }}"}},
            "body template failed: UndefinedError: 'dict object' has no attribute 'missing'",
            id="body-template-missing",
        ),
    ],
)
async def test_missing_paths_are_errored_records_without_retries(
    system: FakeSystemServer, config: dict[str, Any], error: str
) -> None:
    result = await call({"url": system.url("/echo"), **config})
    assert (result.status, result.error, result.outputs) == ("errored", error, {})
    assert len(system.received()) == (0 if "body" in next(iter(config)) else 1)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        pytest.param("/malformed", "system answered non-JSON: b'this is not JSON {'", id="malformed-json"),
        pytest.param("/text", "system answered non-JSON: b'I am not JSON'", id="text"),
        pytest.param("/status/400", 'system answered HTTP 400: b\'{"error":"status 400"}\'', id="400"),
        pytest.param("/status/404", 'system answered HTTP 404: b\'{"error":"status 404"}\'', id="404"),
        pytest.param("/status/401", 'system answered HTTP 401: b\'{"error":"status 401"}\'', id="401"),
    ],
)
async def test_final_answers_are_not_retried(system: FakeSystemServer, path: str, error: str) -> None:
    result = await call({"url": system.url(path)})
    assert (result.status, result.error) == ("errored", error)
    assert result.latency_ms > 0
    assert len(system.received()) == 1


# -- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_retryable_statuses_are_tried_max_attempts_times(system: FakeSystemServer, status: int) -> None:
    result = await call({"url": system.url(f"/status/{status}")})
    assert (result.status, result.error) == (
        "errored",
        f'system answered HTTP {status} after 3 attempts: b\'{{"error":"status {status}"}}\'',
    )
    assert len(system.received()) == 3


async def test_max_attempts_is_the_systems_setting(system: FakeSystemServer) -> None:
    one = await call({"url": system.url("/status/503"), "max_attempts": 1})
    assert one.error == 'system answered HTTP 503: b\'{"error":"status 503"}\''
    five = await call({"url": system.url("/status/503"), "max_attempts": 5})
    assert five.error.startswith("system answered HTTP 503 after 5 attempts")
    assert len(system.received()) == 6


async def test_transient_failures_then_success(system: FakeSystemServer) -> None:
    system.script(fail(503), fail(500), path="/echo")
    result = await call({"url": system.url("/echo"), "outputs": {"answer": "choices.0.message.content"}})
    assert (result.status, result.outputs) == ("completed", {"answer": "echo: 2 + 2?"})
    assert len(system.received("/echo")) == 3


async def test_retry_after_seconds_is_honoured(system: FakeSystemServer) -> None:
    system.script(fail(429, retry_after="0.5"), path="/echo")
    result = await call({"url": system.url("/echo")})
    assert result.status == "completed"
    first, second = system.received("/echo")
    assert 0.5 <= second.at - first.at < 1.0


async def test_retry_after_http_date_is_read_and_capped(system: FakeSystemServer) -> None:
    system.script(fail(503, retry_after=formatdate(time.time() + 30, usegmt=True)), path="/echo")
    result = await call({"url": system.url("/echo")}, retry=RetryPolicy(0.01, 0.05, max_retry_after_s=0.3))
    assert result.status == "completed"
    first, second = system.received("/echo")
    assert 0.3 <= second.at - first.at < 1.0


async def test_without_retry_after_the_backoff_is_short_and_jittered(system: FakeSystemServer) -> None:
    system.script(fail(503), fail(503), path="/echo")
    result = await call({"url": system.url("/echo")}, retry=RetryPolicy(0.05, 1.0, 2.0))
    assert result.status == "completed"
    arrivals = [r.at for r in system.received("/echo")]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # base 0.05 then 0.1, each plus up to 0.05 of jitter.
    assert 0.05 <= gaps[0] < 0.3 and 0.1 <= gaps[1] < 0.4, gaps


async def test_timeouts_are_retried_then_errored(system: FakeSystemServer) -> None:
    url = system.url("/hang")
    result = await call({"url": url, "timeout_s": 0.2, "max_attempts": 2})
    assert (result.status, result.error) == ("errored", f"no answer within 0.2s from {url} after 2 attempts")
    assert 190 <= result.latency_ms < 1000
    assert len(system.received()) == 2


async def test_a_slow_answer_within_the_timeout_completes(system: FakeSystemServer) -> None:
    system.script(delay(0.3), path="/echo")
    result = await call({"url": system.url("/echo"), "timeout_s": 2})
    assert result.status == "completed"
    assert result.latency_ms >= 300
    assert len(system.received()) == 1


async def test_a_timeout_then_success_records_the_successful_attempts_latency(system: FakeSystemServer) -> None:
    system.script(delay(5), path="/echo")
    result = await call({"url": system.url("/echo"), "timeout_s": 0.3})
    assert result.status == "completed"
    assert result.latency_ms < 250
    assert len(system.received()) == 2


async def test_an_unreachable_system_is_retried_then_errored() -> None:
    url = f"http://127.0.0.1:{free_port()}/answer"
    result = await call({"url": url})
    assert result.status == "errored"
    assert result.error.startswith(f"could not reach {url} after 3 attempts: ConnectError"), result.error


# -- response size -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "error"),
    [
        pytest.param("bytes=200000", "response larger than 100000 bytes (200000 announced)", id="content-length"),
        pytest.param("bytes=5000000&chunked=1", "response larger than 100000 bytes", id="chunked"),
    ],
)
async def test_huge_answers_are_cut_off(system: FakeSystemServer, query: str, error: str) -> None:
    result = await call({"url": system.url(f"/huge?{query}")})
    assert (result.status, result.error) == ("errored", error)
    assert len(system.received()) == 1


async def test_an_answer_just_under_the_cap_is_read(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/huge?bytes=100000&chunked=1"), "outputs": {"data": "data"}})
    assert result.status == "completed"
    assert len(result.outputs["data"]) == 100000 - 12


# -- redirects -----------------------------------------------------------------------------------


async def test_a_redirect_is_followed_and_post_becomes_get(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/redirect?to=/echo")})
    assert result.status == "completed"
    assert [(r.method, r.path) for r in system.received()] == [("POST", "/redirect"), ("GET", "/echo")]


async def test_a_307_repeats_the_post_with_its_body(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/redirect?to=/echo&status=307")})
    assert result.status == "completed"
    assert result.outputs["response"]["received"] == CONTEXT["inputs"]
    assert [r.method for r in system.received()] == ["POST", "POST"]


async def test_a_redirect_to_a_refused_host_is_an_errored_record(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/redirect?to=" + quote("http://10.1.2.3:8080/steal"))})
    assert (result.status, result.error) == ("errored", f"system URL host '10.1.2.3' {NOT_ALLOWED}")
    assert len(system.received()) == 1


async def test_a_redirect_loop_stops(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/loop")}, max_redirects=2)
    assert (result.status, result.error) == (
        "errored",
        f"system redirected more than 2 times (last to {system.url('/loop')})",
    )
    assert len(system.received()) == 3


async def test_redirects_can_be_turned_off(system: FakeSystemServer) -> None:
    result = await call({"url": system.url("/redirect?to=/echo")}, max_redirects=0)
    assert result.error == (f"system answered HTTP 302 redirecting to {system.url('/echo')} (redirects are off)")


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
        'system answered HTTP 401 after 2 attempts: b\'{"error": "xxx'
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
    limited = sorted(r.at for r in system.received() if not r.query)
    assert limited[-1] - limited[0] >= 0.45
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
    assert arrivals[-1] - arrivals[0] >= 0.55


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


async def test_an_unresolvable_name_is_unreachable() -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        return await resolve("no-such-host.invalid", port)

    result = await call({"url": "http://no-such-host.invalid/x", "max_attempts": 1}, resolver=no_dns)
    assert result.error.startswith("could not reach http://no-such-host.invalid/x: ConnectError: cannot resolve")
