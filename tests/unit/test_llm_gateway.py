"""The LLM gateway against a real HTTP server speaking the chat-completions API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import REGISTRY

from shared.config import ServiceSettings
from shared.embedded import free_port
from shared.llm import (
    ChatRequest,
    Endpoint,
    LlmGateway,
    LlmLimits,
    LlmRejected,
    LlmSettings,
    LlmUnavailable,
    PriceTable,
)
from tests.support.fake_llm import (
    FakeLlmServer,
    Reply,
    answer,
    delay,
    http_error,
    malformed,
    tool_call,
)

KEY_ENV = "SCOREKEEPER_TEST_JUDGE_KEY"
SECRET = "sk-test-7c1f0d9e-not-a-real-key"
FAST = LlmLimits(requests_per_s=1000, burst=1000, max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.05)


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def llm(llm_server: FakeLlmServer) -> FakeLlmServer:
    llm_server.reset()
    return llm_server


@pytest.fixture
async def gateway() -> AsyncIterator[LlmGateway]:
    async with LlmGateway(FAST, PriceTable.defaults(), purpose="judge") as gw:
        yield gw


def ask(model: str = "gpt-4o-mini", text: str = "hi", **kwargs: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kwargs)  # type: ignore[arg-type]


def endpoint(server: FakeLlmServer) -> Endpoint:
    return Endpoint(base_url=server.base_url)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- answers -----------------------------------------------------------------------------------


async def test_answer_is_parsed_with_usage_and_cost(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(
        Reply(content="The answer is 4.", prompt_tokens=1000, completion_tokens=500, model="gpt-4o-mini-2024-07-18")
    )
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        temperature=0.0,
        max_tokens=50,
        response_format={"type": "json_object"},
    )

    got = await gateway.complete(endpoint(llm), request)

    assert got.content == "The answer is 4."
    assert got.tool_arguments is None
    assert got.finish_reason == "stop"
    assert (got.prompt_tokens, got.completion_tokens) == (1000, 500)
    # gpt-4o-mini: 0.15 in, 0.60 out per million tokens; the dated name the server reports matches.
    assert got.cost_usd == pytest.approx(0.00045)
    assert got.attempts == 1
    assert got.latency_ms > 0
    [sent] = llm.received()
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == request.messages
    assert sent.body["temperature"] == 0.0
    assert sent.body["max_tokens"] == 50
    assert sent.body["response_format"] == {"type": "json_object"}
    assert "tools" not in sent.body and "stream" not in sent.body


async def test_unpriced_model_and_missing_usage_have_no_cost(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(answer("a", prompt_tokens=10, completion_tokens=2), answer("b", include_usage=False))

    unpriced = await gateway.complete(endpoint(llm), ask("llama3.1:8b"))
    no_usage = await gateway.complete(endpoint(llm), ask("gpt-4o"))

    assert (unpriced.prompt_tokens, unpriced.cost_usd) == (10, None)
    assert (no_usage.prompt_tokens, no_usage.completion_tokens, no_usage.cost_usd) == (0, 0, None)


async def test_tool_call_answer(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(tool_call("record_score", {"score": 1, "reason": "correct"}))
    tools = [{"type": "function", "function": {"name": "record_score", "parameters": {"type": "object"}}}]
    choice = {"type": "function", "function": {"name": "record_score"}}

    got = await gateway.complete(endpoint(llm), ask(tools=tools, tool_choice=choice))

    assert got.tool_arguments == '{"score": 1, "reason": "correct"}'
    assert got.content == ""
    assert got.finish_reason == "tool_calls"
    [sent] = llm.received()
    assert sent.body["tools"] == tools
    assert sent.body["tool_choice"] == choice


# -- retries -----------------------------------------------------------------------------------


async def test_429_waits_for_retry_after(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(http_error(429, headers={"Retry-After": "1"}))

    started = time.monotonic()
    got = await gateway.complete(endpoint(llm), ask())
    elapsed = time.monotonic() - started

    assert got.attempts == 2
    assert elapsed >= 1.0
    first, second = llm.received()
    assert second.at - first.at >= 1.0


async def test_429_retry_after_ms(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(http_error(429, headers={"retry-after-ms": "300"}))

    got = await gateway.complete(endpoint(llm), ask())

    assert got.attempts == 2
    first, second = llm.received()
    assert 0.3 <= second.at - first.at < 1.0


async def test_huge_retry_after_is_capped_and_counted(llm: FakeLlmServer) -> None:
    limits = LlmLimits(backoff_base_s=0.01, backoff_max_s=0.05, max_retry_after_s=0.2)
    host = f"127.0.0.1:{llm.port}"
    before = metric("scorekeeper_llm_retry_after_capped_total", purpose="capped", endpoint=host)
    llm.script(http_error(429, headers={"Retry-After": "3600"}))

    async with LlmGateway(limits, PriceTable.defaults(), purpose="capped") as gw:
        started = time.monotonic()
        got = await gw.complete(endpoint(llm), ask())

    assert got.attempts == 2
    assert 0.2 <= time.monotonic() - started < 1.0
    assert metric("scorekeeper_llm_retry_after_capped_total", purpose="capped", endpoint=host) == before + 1


async def test_server_error_then_success(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(http_error(500), http_error(503, {"error": {"message": "overloaded"}}))

    got = await gateway.complete(endpoint(llm), ask(text="again"))

    assert got.attempts == 3
    assert got.content == "echo: again"
    assert len(llm.received()) == 3


async def test_malformed_answer_is_retried(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(malformed(), malformed(content_type="text/plain"), malformed('{"no": "choices"}'))

    got = await gateway.complete(endpoint(llm), ask(text="x"))

    assert (got.attempts, got.content) == (4, "echo: x")


async def test_retries_run_out_with_the_last_error(llm: FakeLlmServer, gateway: LlmGateway) -> None:
    llm.script(http_error(500), http_error(502), http_error(429), http_error(503, {"error": {"message": "overloaded"}}))

    with pytest.raises(LlmUnavailable) as caught:
        await gateway.complete(endpoint(llm), ask())

    assert (
        str(caught.value) == f"judge endpoint 127.0.0.1:{llm.port} unavailable after 4 attempts: HTTP 503: overloaded"
    )
    assert (caught.value.status, caught.value.attempts) == (503, 4)
    assert len(llm.received()) == 4


async def test_timeouts_are_retried_then_unavailable(llm: FakeLlmServer) -> None:
    llm.script(delay(1), delay(1), delay(1))
    limits = LlmLimits(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.05)

    async with LlmGateway(limits, PriceTable.defaults(), purpose="judge") as gw:
        started = time.monotonic()
        with pytest.raises(LlmUnavailable) as caught:
            await gw.complete(endpoint(llm), ask(timeout_s=0.2))

    assert time.monotonic() - started < 1.5
    assert str(caught.value).endswith("unavailable after 3 attempts: timed out after 0.2 s")
    assert caught.value.attempts == 3
    assert len(llm.received()) == 3


async def test_connection_errors_are_retried_then_unavailable(gateway: LlmGateway) -> None:
    port = free_port()  # nothing listens there

    with pytest.raises(LlmUnavailable) as caught:
        await gateway.complete(Endpoint(f"http://127.0.0.1:{port}/v1"), ask())

    assert str(caught.value).startswith(f"judge endpoint 127.0.0.1:{port} unavailable after 4 attempts: connection")


# -- rejections --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(llm: FakeLlmServer, gateway: LlmGateway, status: int) -> None:
    llm.script(http_error(status, {"error": {"message": "model 'nope' not found"}}))

    with pytest.raises(LlmRejected) as caught:
        await gateway.complete(endpoint(llm), ask("nope"))

    where = f"judge endpoint 127.0.0.1:{llm.port}"
    assert str(caught.value) == f"{where} rejected the request for model nope: HTTP {status}: model 'nope' not found"
    assert (caught.value.status, caught.value.attempts) == (status, 1)
    assert len(llm.received()) == 1


async def test_missing_key_variable_is_rejected_without_a_request(
    llm: FakeLlmServer, gateway: LlmGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)

    with pytest.raises(LlmRejected, match=f"environment variable {KEY_ENV} is not set"):
        await gateway.complete(Endpoint(llm.base_url, api_key_env=KEY_ENV), ask())

    assert llm.received() == []


async def test_invalid_base_url_is_rejected(gateway: LlmGateway) -> None:
    with pytest.raises(LlmRejected, match="base URL"):
        await gateway.complete(Endpoint("ftp://user:pw@example.com/v1"), ask())


# -- secrets -----------------------------------------------------------------------------------


async def test_key_is_sent_as_bearer_and_never_shown(
    llm: FakeLlmServer, gateway: LlmGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, SECRET)
    keyed = Endpoint(llm.base_url, api_key_env=KEY_ENV)
    llm.script(http_error(503, {"error": {"message": f"upstream refused key {SECRET}"}}))

    got = await gateway.complete(keyed, ask())

    assert got.attempts == 2
    assert {r.headers["authorization"] for r in llm.received()} == {f"Bearer {SECRET}"}
    # A server that echoes the key it was given (as some do on 401) does not get it into our error.
    llm.expected_key = "sk-some-other-key"
    with pytest.raises(LlmRejected) as caught:
        await gateway.complete(keyed, ask())
    assert "HTTP 401: Incorrect API key provided: ***" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text
    assert all(SECRET not in str(r.__dict__) for r in caplog.records)


async def test_no_key_sends_a_placeholder_not_the_ambient_openai_key(
    llm: FakeLlmServer, gateway: LlmGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    await gateway.complete(endpoint(llm), ask())

    [sent] = llm.received()
    assert sent.headers["authorization"] == "Bearer no-key"


# -- limits ------------------------------------------------------------------------------------


async def test_concurrency_cap_per_endpoint(llm: FakeLlmServer) -> None:
    llm.responder = lambda body: Reply(content="slow", delay_s=0.1)
    limits = LlmLimits(max_concurrency=3, requests_per_s=1000, burst=1000)

    async with LlmGateway(limits, PriceTable.defaults(), purpose="judge") as gw:
        answers = await asyncio.gather(*(gw.complete(endpoint(llm), ask()) for _ in range(10)))

    assert [a.content for a in answers] == ["slow"] * 10
    assert llm.max_in_flight == 3


async def test_token_bucket_spaces_requests(llm: FakeLlmServer) -> None:
    limits = LlmLimits(requests_per_s=5, burst=1)

    async with LlmGateway(limits, PriceTable.defaults(), purpose="judge") as gw:
        started = time.monotonic()
        await asyncio.gather(*(gw.complete(endpoint(llm), ask()) for _ in range(6)))
        elapsed = time.monotonic() - started

    assert 0.95 <= elapsed < 2.0
    arrivals = sorted(r.at for r in llm.received())
    assert arrivals[-1] - arrivals[0] >= 0.9  # 5 tokens after the first at 5 a second


# -- metrics -----------------------------------------------------------------------------------


async def test_prometheus_counters_move(llm: FakeLlmServer) -> None:
    labels = {"purpose": "metrics", "endpoint": f"127.0.0.1:{llm.port}"}
    model = {**labels, "model": "gpt-4o"}
    samples = {
        "ok": ("scorekeeper_llm_requests_total", {**model, "outcome": "ok"}),
        "rejected": ("scorekeeper_llm_requests_total", {**model, "outcome": "rejected"}),
        "retried 5xx": ("scorekeeper_llm_retries_total", {**labels, "reason": "server_error"}),
        "retried 429": ("scorekeeper_llm_retries_total", {**labels, "reason": "rate_limited"}),
        "prompt tokens": ("scorekeeper_llm_tokens_total", {**model, "kind": "prompt"}),
        "completion tokens": ("scorekeeper_llm_tokens_total", {**model, "kind": "completion"}),
        "cost": ("scorekeeper_llm_cost_usd_total", model),
        "latencies": ("scorekeeper_llm_request_seconds_count", model),
        "backoff": ("scorekeeper_llm_backoff_seconds_total", labels),
        "rate wait": ("scorekeeper_llm_rate_limit_wait_seconds_total", labels),
    }
    before = {key: metric(name, **lbl) for key, (name, lbl) in samples.items()}
    llm.script(http_error(500), http_error(429, headers={"retry-after-ms": "10"}))
    llm.script(answer("ok", prompt_tokens=100, completion_tokens=10), http_error(400))

    async with LlmGateway(FAST, PriceTable.defaults(), purpose="metrics") as gw:
        await gw.complete(endpoint(llm), ask("gpt-4o"))
        with pytest.raises(LlmRejected):
            await gw.complete(endpoint(llm), ask("gpt-4o"))

    moved = {key: metric(name, **lbl) - before[key] for key, (name, lbl) in samples.items()}
    assert {key: moved[key] for key in ("ok", "rejected", "retried 5xx", "retried 429", "latencies")} == {
        "ok": 1,
        "rejected": 1,
        "retried 5xx": 1,
        "retried 429": 1,
        "latencies": 1,
    }
    assert (moved["prompt tokens"], moved["completion tokens"]) == (100, 10)
    assert moved["cost"] == pytest.approx((100 * 2.5 + 10 * 10.0) / 1e6)  # gpt-4o: 2.50 in, 10.00 out
    assert moved["backoff"] >= 0.01
    assert moved["rate wait"] >= 0
    assert metric("scorekeeper_llm_in_flight", **labels) == 0


# -- prices, Retry-After parsing, settings -----------------------------------------------------


def test_price_table_matches_dated_and_prefixed_names_only() -> None:
    prices = PriceTable.from_json(
        '{"my-model": {"input_per_mtok": 0.5, "output_per_mtok": 1.5},'
        ' "GPT-4o": {"input_per_mtok": 1, "output_per_mtok": 1}}'
    )

    assert prices.cost("my-model", 1_000_000, 1_000_000) == 2.0
    assert prices.cost("gpt-4o", 1_000_000, 0) == 1.0  # overrides the default, case-insensitively
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.cost("openai/gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.cost("gpt-4o-mini-20240718", 0, 1_000_000) == pytest.approx(0.60)
    assert prices.cost("gpt-4o-mini-fast", 1, 1) is None  # not priced as gpt-4o-mini, nor gpt-4o
    assert prices.cost("llama3.1:8b", 1, 1) is None
    assert PriceTable.from_json("").prices == PriceTable.defaults().prices


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"m": {"input_per_mtok": -1, "output_per_mtok": 1}}', '{"m": {"input_per_mtok": 1}}']
)
def test_price_table_rejects_bad_json(text: str) -> None:
    with pytest.raises(ValueError, match="invalid LLM price table"):
        PriceTable.from_json(text)


def test_settings_mix_into_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    class JudgeServiceSettings(ServiceSettings, LlmSettings):
        pass

    monkeypatch.setenv("SCOREKEEPER_LLM_MAX_CONCURRENCY", "3")
    monkeypatch.setenv("SCOREKEEPER_LLM_REQUESTS_PER_S", "2.5")
    monkeypatch.setenv("SCOREKEEPER_LLM_PRICES_JSON", '{"judge-x": {"input_per_mtok": 1, "output_per_mtok": 3}}')

    settings = JudgeServiceSettings()

    assert settings.limits() == LlmLimits(max_concurrency=3, requests_per_s=2.5)
    assert settings.prices().cost("judge-x", 1_000_000, 1_000_000) == 4.0
    assert settings.prices().cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    monkeypatch.setenv("SCOREKEEPER_LLM_PRICES_JSON", '{"judge-x": {}}')
    with pytest.raises(ValueError, match="invalid LLM price table"):
        JudgeServiceSettings()
