"""The kinds of system version (``http``, ``llm``, ``sdk``): one registry line each.

Each says how its config is checked when a version is made, which environment variables its
config names for secrets, and whether the platform calls the system (the executor keeps its own
registry of callers, services/system_executor/callers.py) or a client executes it and ingests
the records. An unknown kind is an error at the edge, never a fall-through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.system_config import parse_http_config, parse_llm_config


@dataclass(frozen=True)
class SystemKind:
    name: str
    # The config, validated and normalised; ValueError naming the field.
    parse: Callable[[dict[str, Any]], dict[str, Any]]
    # The executor calls the system; otherwise a client executes it and ingests its records.
    executed_by_platform: bool
    # (field, variable name) of every environment variable the config names for a secret.
    secret_envs: Callable[[dict[str, Any]], list[tuple[str, str]]] = lambda config: []


def _http_secrets(config: dict[str, Any]) -> list[tuple[str, str]]:
    headers = config.get("secret_headers") or {}
    return [(f"config.secret_headers.{name}.env", secret["env"]) for name, secret in headers.items()]


def _llm_secrets(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [("config.api_key_env", config["api_key_env"])] if config.get("api_key_env") else []


SYSTEM_KINDS: dict[str, SystemKind] = {
    "http": SystemKind("http", lambda c: parse_http_config(c).model_dump(), True, _http_secrets),
    "llm": SystemKind("llm", lambda c: parse_llm_config(c).model_dump(), True, _llm_secrets),
    "sdk": SystemKind("sdk", lambda c: c, False),
}


def system_kind(name: str) -> SystemKind:
    """ValueError naming the choices for an unknown kind."""
    found = SYSTEM_KINDS.get(name)
    if found is None:
        raise ValueError(f"kind must be one of {', '.join(SYSTEM_KINDS)}, got {name!r}")
    return found
