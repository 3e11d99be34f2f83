"""Where Scorekeeper is and which key to use: arguments, then the environment, then the config file.

Scorekeeper serves writes (catalog, testsets, runs, keys) from the run-orchestrator and reads from
the query service, two gRPC endpoints. ``url`` names the orchestrator and ``query_url`` the query
service; without ``query_url`` both are reached at ``url``, which is right behind a gRPC proxy or
ingress that routes ``/scorekeeper.v1.QueryService/*`` to the query service (one address to
publish), and wrong for a bare devstack (two ports: set both).

Addresses are ``grpc://host:port`` (plaintext), ``grpcs://host[:port]`` (TLS, port 443 by
default) or a bare ``host:port`` (plaintext).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w

ENV_URL = "SCOREKEEPER_URL"
ENV_QUERY_URL = "SCOREKEEPER_QUERY_URL"
ENV_API_KEY = "SCOREKEEPER_API_KEY"
ENV_PROJECT = "SCOREKEEPER_PROJECT"
ENV_CONFIG = "SCOREKEEPER_CONFIG"


class ConfigError(ValueError):
    """The connection settings are missing or malformed (a usage error, not a server's answer)."""


@dataclass(frozen=True)
class Endpoint:
    """One gRPC address: the target grpc dials and whether it speaks TLS."""

    target: str
    tls: bool

    def __str__(self) -> str:
        return f"{'grpcs' if self.tls else 'grpc'}://{self.target}"


def parse_endpoint(url: str, setting: str = "url") -> Endpoint:
    text = url.strip()
    if "://" not in text:
        text = f"grpc://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("grpc", "grpcs"):
        raise ConfigError(
            f"{setting} {url!r} is not a gRPC address: use grpc://host:port (plaintext) or grpcs://host:port (TLS);"
            " the http:// ports are the HTTP JSON edge"
        )
    if not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"{setting} {url!r} must be grpc://host:port or grpcs://host:port")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{setting} {url!r} has a port that is not a number") from None
    tls = parts.scheme == "grpcs"
    if port is None:
        if not tls:
            raise ConfigError(f"{setting} {url!r} needs a port (grpc://host:50051)")
        port = 443
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoint(f"{host}:{port}", tls)


def config_path() -> Path:
    """``$SCOREKEEPER_CONFIG``, else ``$XDG_CONFIG_HOME/scorekeeper/config.toml`` (~/.config by default)."""
    if explicit := os.environ.get(ENV_CONFIG):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "scorekeeper" / "config.toml"


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """The saved settings ({} when there is no file); a malformed file is a ConfigError."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_config_file(settings: dict[str, str], path: Path | None = None) -> Path:
    """Saves the settings readable by the owner only (0600): the file holds an API key."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = tomli_w.dumps({k: v for k, v in settings.items() if v}).encode()
    # Created 0600 from the start, so the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings of a client."""

    url: str
    query_url: str
    api_key: str
    project: str = ""
    timeout_s: float = 30.0
    # Who is calling, sent as x-scorekeeper-client (the audit log says it): the SDK, or the CLI.
    client: str = "scorekeeper-sdk"

    @property
    def orchestrator(self) -> Endpoint:
        return parse_endpoint(self.url, "url")

    @property
    def query(self) -> Endpoint:
        return parse_endpoint(self.query_url or self.url, "query_url")

    def with_project(self, project: str) -> Settings:
        return replace(self, project=project)


def resolve(
    url: str | None = None,
    api_key: str | None = None,
    *,
    query_url: str | None = None,
    project: str | None = None,
    timeout_s: float = 30.0,
    config_file: Path | None = None,
) -> Settings:
    """Arguments first, then SCOREKEEPER_* variables, then the config file ``scorekeeper login`` wrote."""
    saved = read_config_file(config_file)

    def pick(given: str | None, env: str, key: str) -> str:
        return given or os.environ.get(env) or saved.get(key, "")

    resolved_url = pick(url, ENV_URL, "url")
    if not resolved_url:
        raise ConfigError(f"no Scorekeeper address: give --url (url=), set {ENV_URL}, or run `scorekeeper login`")
    # A query address saved with another url belongs to that url, not to the one given now.
    query_default = saved.get("query_url", "") if resolved_url == saved.get("url") else ""
    resolved = Settings(
        url=resolved_url,
        query_url=query_url or os.environ.get(ENV_QUERY_URL) or query_default,
        api_key=pick(api_key, ENV_API_KEY, "api_key"),
        project=pick(project, ENV_PROJECT, "project"),
        timeout_s=timeout_s,
    )
    if not resolved.api_key:
        raise ConfigError(f"no API key: give --api-key (api_key=), set {ENV_API_KEY}, or run `scorekeeper login`")
    # Malformed addresses fail here, before any call.
    resolved.orchestrator, resolved.query  # noqa: B018
    return resolved
