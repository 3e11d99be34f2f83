"""Connection settings: addresses parsed, arguments over the environment over the config file, the
file written 0600, bad input named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from scorekeeper_sdk.config import ConfigError, Endpoint, parse_endpoint, read_config_file, resolve, write_config_file


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("grpc://127.0.0.1:50051", Endpoint("127.0.0.1:50051", tls=False)),
        ("127.0.0.1:50052", Endpoint("127.0.0.1:50052", tls=False)),
        ("grpcs://scorekeeper.example.com", Endpoint("scorekeeper.example.com:443", tls=True)),
        ("grpcs://scorekeeper.example.com:8443/", Endpoint("scorekeeper.example.com:8443", tls=True)),
        ("grpc://[::1]:50051", Endpoint("[::1]:50051", tls=False)),
    ],
)
def test_addresses(url: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(url) == endpoint


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080", "url 'http://127.0.0.1:8080' is not a gRPC address: use grpc://host:port"),
        ("grpc://127.0.0.1", "url 'grpc://127.0.0.1' needs a port (grpc://host:50051)"),
        ("grpc://host:port", "url 'grpc://host:port' has a port that is not a number"),
        ("grpc://host:1/v1", "url 'grpc://host:1/v1' must be grpc://host:port or grpcs://host:port"),
    ],
)
def test_bad_addresses(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_endpoint(url)
    assert str(raised.value).startswith(message)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sk" / "config.toml"
    monkeypatch.setenv("SCOREKEEPER_CONFIG", str(path))
    for name in ("SCOREKEEPER_URL", "SCOREKEEPER_QUERY_URL", "SCOREKEEPER_API_KEY", "SCOREKEEPER_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_arguments_then_environment_then_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config_file({"url": "grpc://saved:1", "query_url": "grpc://saved:2", "api_key": "sk_saved", "project": "p"})
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = resolve()
    assert (saved.url, saved.query_url, saved.api_key, saved.project) == (
        "grpc://saved:1",
        "grpc://saved:2",
        "sk_saved",
        "p",
    )
    monkeypatch.setenv("SCOREKEEPER_URL", "grpc://env:1")
    monkeypatch.setenv("SCOREKEEPER_API_KEY", "sk_env")
    env = resolve()
    # The saved query address belongs to the saved url, not to another one.
    assert (env.url, env.query_url, env.api_key, env.project) == ("grpc://env:1", "", "sk_env", "p")
    assert env.query == Endpoint("env:1", tls=False)
    given = resolve("grpc://arg:1", "sk_arg", query_url="grpc://arg:2", project="q")
    assert (given.url, given.query_url, given.api_key, given.project) == ("grpc://arg:1", "grpc://arg:2", "sk_arg", "q")


def test_missing_and_malformed_settings(config: Path) -> None:
    with pytest.raises(ConfigError, match="no Scorekeeper address"):
        resolve()
    with pytest.raises(ConfigError, match="no API key"):
        resolve("grpc://h:1")
    with pytest.raises(ConfigError, match="url 'http://h:8080' is not a gRPC address"):
        resolve("http://h:8080", "sk")
    config.parent.mkdir(parents=True)
    config.write_text("url = [unclosed")
    with pytest.raises(ConfigError, match=f"{config} is not valid TOML"):
        read_config_file()


def test_rewriting_keeps_the_file_private(config: Path) -> None:
    config.parent.mkdir(parents=True)
    config.write_text('url = "grpc://old:1"\n')
    config.chmod(0o644)
    write_config_file({"url": "grpc://new:1", "api_key": "sk_new", "project": ""})
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert read_config_file() == {"url": "grpc://new:1", "api_key": "sk_new"}
