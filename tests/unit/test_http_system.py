"""The ``http`` system kind against a real HTTP server: outputs, retries, Retry-After, timeouts,
size cap and redirects."""

from __future__ import annotations

import itertools
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import pytest

from services.system_executor.execution import Execution
from services.system_executor.http_system import RetryPolicy, _excerpt
from shared.embedded import free_port
from tests.support.fake_system import FakeSystemServer, delay, fail
from tests.support.http_caller import CONTEXT, NOT_ALLOWED, call

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
        pytest.param("/malformed", "system answered non-JSON: this is not JSON {", id="malformed-json"),
        pytest.param("/text", "system answered non-JSON: I am not JSON", id="text"),
        pytest.param("/status/400", 'system answered HTTP 400: {"error":"status 400"}', id="400"),
        pytest.param("/status/404", 'system answered HTTP 404: {"error":"status 404"}', id="404"),
        pytest.param("/status/401", 'system answered HTTP 401: {"error":"status 401"}', id="401"),
    ],
)
async def test_final_answers_are_not_retried(system: FakeSystemServer, path: str, error: str) -> None:
    result = await call({"url": system.url(path)})
    assert (result.status, result.error) == ("errored", error)
    assert result.latency_ms > 0
    assert len(system.received()) == 1


async def test_an_answers_excerpt_is_readable_text_cut_where_marked(system: FakeSystemServer) -> None:
    body = "Überlastet\n\tzu viele Anfragen: " + "日本" * 150
    system.script(fail(400, body=body), path="/echo")
    result = await call({"url": system.url("/echo")})
    # The first 200 characters, a newline and a tab shown as \n and \t, "…" for the rest.
    expected = body[:200].replace("\n", "\\n").replace("\t", "\\t")
    assert result.error == f"system answered HTTP 400: {expected}…"


def test_an_excerpt_shows_undecodable_bytes_as_replacement_characters() -> None:
    assert _excerpt(b"bad \xff\xfe bytes\x00", []) == "bad \ufffd\ufffd bytes\\x00"
    assert _excerpt(b"key sk-123 leaked", ["sk-123"]) == "key *** leaked"


# -- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_retryable_statuses_are_tried_max_attempts_times(system: FakeSystemServer, status: int) -> None:
    result = await call({"url": system.url(f"/status/{status}")})
    assert (result.status, result.error) == (
        "errored",
        f'system answered HTTP {status} after 3 attempts: {{"error":"status {status}"}}',
    )
    assert len(system.received()) == 3


async def test_max_attempts_is_the_systems_setting(system: FakeSystemServer) -> None:
    one = await call({"url": system.url("/status/503"), "max_attempts": 1})
    assert one.error == 'system answered HTTP 503: {"error":"status 503"}'
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
