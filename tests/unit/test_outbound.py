"""Calls out of the platform: which secrets configs may name, masking echoed secrets, the
platform's own listeners, and the LLM client going through the same checks as http systems."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.system_executor.http_system import HttpSystemCaller
from shared.llm import ChatRequest, Endpoint, LlmGateway, LlmLimits, LlmRejected, PriceTable, configured_endpoint
from shared.outbound.allowlist import (
    DEFAULT_ALLOWED_HOSTS,
    HostAllowlist,
    HostNotAllowed,
    PlatformListeners,
    openai_http_client,
)
from shared.outbound.secrets import SecretEnvPolicy, mask
from shared.outbound.session import outbound_session
from shared.system_config import parse_http_config
from tests.support.fake_llm import FakeLlmServer, Reply
from tests.support.fake_system import FakeSystemServer

SECRET = "s3cret-b41e-not-a-real-key"
FAST = LlmLimits(requests_per_s=1000, burst=1000, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02)


# --- which variables configs may name ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("OPENAI_API_KEY", True),
        ("SECRET_MY_BOT", True),
        ("SCOREKEEPER_DATABASE_URL", False),
        ("SCOREKEEPER_ADMIN_KEY", False),
        ("HOME", False),
        ("AWS_SECRET_ACCESS_KEY", False),
    ],
)
def test_the_default_policy(name: str, allowed: bool) -> None:
    assert SecretEnvPolicy().allows(name) is allowed


def test_the_platforms_own_settings_are_never_allowed_even_when_listed() -> None:
    policy = SecretEnvPolicy.parse("SCOREKEEPER_DATABASE_URL,MY_KEY", "SCOREKEEPER_")
    assert policy.allows("MY_KEY")
    assert not policy.allows("SCOREKEEPER_DATABASE_URL")
    with pytest.raises(ValueError) as refused:
        policy.check("SCOREKEEPER_DATABASE_URL", "config.api_key_env")
    assert str(refused.value) == (
        "config.api_key_env 'SCOREKEEPER_DATABASE_URL' is one of the platform's own settings; name a secret of yours"
    )


def test_a_refused_name_says_what_is_allowed() -> None:
    with pytest.raises(ValueError) as refused:
        SecretEnvPolicy().check("HOME", "ai.api_key_env")
    assert str(refused.value) == (
        "ai.api_key_env 'HOME' is not a variable configs may name: use one listed in SCOREKEEPER_SECRET_ENV_NAMES "
        "(OPENAI_API_KEY) or one starting with 'SECRET_' (SCOREKEEPER_SECRET_ENV_PREFIX)"
    )


def test_mask_reaches_keys_values_and_nested_lists() -> None:
    value = {"answer": f"key is {SECRET}!", SECRET: [1, f"x{SECRET}{SECRET}", {"deep": SECRET}], "n": 3}
    assert mask(value, [SECRET]) == {"answer": "key is ***!", "***": [1, "x******", {"deep": "***"}], "n": 3}
    assert mask(value, []) is value


# --- the operator's key stays with the operator's endpoint ---------------------------------------

DEFAULT = Endpoint(base_url="https://judge.example/v1", api_key_env="OPERATOR_JUDGE_KEY")


@pytest.mark.parametrize(
    ("base_url", "key_env", "expected"),
    [
        ("", "", Endpoint("https://judge.example/v1", "OPERATOR_JUDGE_KEY")),
        ("https://judge.example/v1/", "", Endpoint("https://judge.example/v1", "OPERATOR_JUDGE_KEY")),
        ("", "SECRET_MINE", Endpoint("https://judge.example/v1", "SECRET_MINE")),
        # Another endpoint never gets the operator's key, only the one the config names.
        ("http://elsewhere.example/v1", "", Endpoint("http://elsewhere.example/v1", None)),
        ("http://elsewhere.example/v1", "SECRET_MINE", Endpoint("http://elsewhere.example/v1", "SECRET_MINE")),
    ],
)
def test_configured_endpoint(base_url: str, key_env: str, expected: Endpoint) -> None:
    assert configured_endpoint(base_url, key_env, DEFAULT, SecretEnvPolicy()) == expected


def test_a_config_naming_the_database_url_is_rejected() -> None:
    with pytest.raises(LlmRejected) as rejected:
        configured_endpoint("", "SCOREKEEPER_DATABASE_URL", DEFAULT, SecretEnvPolicy())
    assert "SCOREKEEPER_DATABASE_URL may not be named by a config" in str(rejected.value)


# --- the platform's own listeners ----------------------------------------------------------------


def test_platform_listeners_parse() -> None:
    listeners = PlatformListeners.parse("127.0.0.1:8080, 0.0.0.0:50051,localhost:4222, postgres:5432,[::1]:9000")
    assert listeners.local_ports == frozenset({8080, 50051, 4222, 9000})
    assert listeners.named == (("postgres", 5432),)
    with pytest.raises(ValueError, match="'postgres' is not host:port"):
        PlatformListeners.parse("postgres")


async def _no_dns(host: str, port: int) -> list[str]:
    return {"postgres": ["10.0.0.7"]}.get(host, [])


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "0.0.0.0", "::1"])
async def test_a_local_listener_is_refused_on_every_local_address(address: str) -> None:
    listeners = PlatformListeners.parse("127.0.0.1:8080")
    with pytest.raises(HostNotAllowed) as refused:
        await listeners.check("bot.test", [address], 8080, "system URL", _no_dns)
    assert str(refused.value) == (
        "system URL bot.test:8080 is one of Scorekeeper's own listeners (SCOREKEEPER_PLATFORM_ADDRESSES), never called"
    )
    await listeners.check("bot.test", [address], 8090, "system URL", _no_dns)  # another port is fine


async def test_a_named_listener_is_refused_by_name_and_by_address() -> None:
    listeners = PlatformListeners.parse("postgres:5432")
    for host, addresses in (("postgres", ["10.0.0.7"]), ("db-alias.test", ["10.0.0.7"])):
        with pytest.raises(HostNotAllowed):
            await listeners.check(host, addresses, 5432, "judge endpoint", _no_dns)
    await listeners.check("other.test", ["10.0.0.8"], 5432, "judge endpoint", _no_dns)


async def test_an_http_system_cannot_call_a_platform_listener_even_when_loopback_is_allowed(
    system_server: FakeSystemServer,
) -> None:
    platform = PlatformListeners.parse(f"127.0.0.1:{system_server.port}")
    async with outbound_session(
        HostAllowlist.parse(DEFAULT_ALLOWED_HOSTS), platform=platform, max_connections=4
    ) as session:
        result = await HttpSystemCaller(session, max_response_bytes=10_000).call(
            parse_http_config({"url": system_server.url("/echo"), "max_attempts": 1}), {"inputs": {}, "metadata": {}}
        )
    assert (result.status, result.error) == (
        "errored",
        f"system URL 127.0.0.1:{system_server.port} is one of Scorekeeper's own listeners "
        "(SCOREKEEPER_PLATFORM_ADDRESSES), never called",
    )
    assert system_server.received() == []


# --- secrets echoed in a successful answer -------------------------------------------------------


async def test_a_secret_header_echoed_in_a_2xx_answer_is_masked_in_the_outputs(system_server: FakeSystemServer) -> None:
    system_server.reset()
    config = parse_http_config(
        {
            "url": system_server.url("/headers"),
            "secret_headers": {"Authorization": {"env": "SECRET_BOT", "prefix": "Bearer "}},
            "outputs": {"leaked": "headers.authorization", "all": "$"},
        }
    )
    async with outbound_session(HostAllowlist.parse(DEFAULT_ALLOWED_HOSTS), max_connections=4) as session:
        caller = HttpSystemCaller(session, max_response_bytes=100_000, environ={"SECRET_BOT": SECRET})
        result = await caller.call(config, {"inputs": {}, "metadata": {}})
    assert result.status == "completed"
    assert system_server.received()[0].headers["authorization"] == f"Bearer {SECRET}"
    assert result.outputs["leaked"] == "Bearer ***"
    assert SECRET not in repr(result.outputs)


async def test_a_secret_header_naming_a_refused_variable_is_never_read(system_server: FakeSystemServer) -> None:
    system_server.reset()
    config = parse_http_config(
        {"url": system_server.url("/echo"), "secret_headers": {"X-Key": {"env": "SCOREKEEPER_DATABASE_URL"}}}
    )
    async with outbound_session(HostAllowlist.parse(DEFAULT_ALLOWED_HOSTS), max_connections=4) as session:
        caller = HttpSystemCaller(
            session, max_response_bytes=10_000, environ={"SCOREKEEPER_DATABASE_URL": "postgres://"}
        )
        result = await caller.call(config, {"inputs": {}, "metadata": {}})
    assert result.status == "errored"
    assert result.error.startswith(
        "secret header 'X-Key': environment variable SCOREKEEPER_DATABASE_URL may not be named"
    )
    assert system_server.received() == []


# --- the LLM client goes through the same checks ---------------------------------------------------


@pytest.fixture(scope="module")
def echoing_llm() -> Iterator[FakeLlmServer]:
    def leak(body: dict[str, object]) -> Reply:
        return Reply(content=f"your key is {SECRET}")

    with FakeLlmServer(leak) as server:
        yield server


async def test_an_llm_endpoint_outside_the_allowlist_is_refused_before_any_connection() -> None:
    http = openai_http_client(
        HostAllowlist.parse("10.0.0.0/8"), max_connections=4, label="judge endpoint", owner="scorer"
    )
    async with LlmGateway(FAST, PriceTable.defaults(), purpose="judge", http_client=http) as gateway:
        with pytest.raises(LlmRejected) as rejected:
            await gateway.complete(Endpoint("http://127.0.0.1:9/v1"), _ask())
    assert str(rejected.value) == (
        "judge endpoint host '127.0.0.1' is not in the scorer's allowlist (SCOREKEEPER_ALLOWED_HOSTS)"
    )


async def test_an_llm_endpoint_on_a_platform_port_is_refused(echoing_llm: FakeLlmServer) -> None:
    port = int(echoing_llm.base_url.rsplit(":", 1)[1].split("/")[0])
    http = openai_http_client(
        HostAllowlist.parse(DEFAULT_ALLOWED_HOSTS),
        platform=PlatformListeners.parse(f"127.0.0.1:{port}"),
        max_connections=4,
        label="llm system endpoint",
        owner="executor",
    )
    async with LlmGateway(FAST, PriceTable.defaults(), purpose="system", http_client=http) as gateway:
        with pytest.raises(LlmRejected) as rejected:
            await gateway.complete(Endpoint(echoing_llm.base_url), _ask())
    assert "is one of Scorekeeper's own listeners" in str(rejected.value)
    assert echoing_llm.received() == []


async def test_an_llm_answer_echoing_its_key_is_masked(
    echoing_llm: FakeLlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_LLM", SECRET)
    http = openai_http_client(
        HostAllowlist.parse(DEFAULT_ALLOWED_HOSTS), max_connections=4, label="judge endpoint", owner="scorer"
    )
    async with LlmGateway(FAST, PriceTable.defaults(), purpose="judge", http_client=http) as gateway:
        answer = await gateway.complete(Endpoint(echoing_llm.base_url, "SECRET_LLM"), _ask())
    assert answer.content == "your key is ***"


def _ask() -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
