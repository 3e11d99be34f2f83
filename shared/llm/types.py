"""What a caller of the LLM gateway hands in and gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.outbound.secrets import SecretEnvPolicy


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible API (OpenAI, vLLM, Ollama, LiteLLM …).

    The key is referenced by the *name* of the environment variable holding it, so configuration,
    events and the database never carry the secret itself.
    """

    base_url: str  # e.g. "https://api.openai.com/v1" or "http://127.0.0.1:11434/v1"
    api_key_env: str | None = None  # None: no key (a placeholder is sent; the client requires one)


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion; ``timeout_s`` bounds each HTTP attempt, not the retries together."""

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None  # e.g. {"type": "json_schema", "json_schema": {...}}
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class ChatAnswer:
    """The first choice of a completion with what it cost."""

    content: str  # message content ("" if none)
    tool_arguments: str | None  # arguments JSON text of the first tool call, if any
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None when the model is not in the price table or usage was not reported
    attempts: int  # HTTP attempts made (1 = first try)
    latency_ms: float  # wall time of the successful attempt


@dataclass(frozen=True)
class LlmLimits:
    """Per-endpoint politeness (endpoint = base URL) and the retry budget of one call."""

    max_concurrency: int = 8  # per endpoint, per process
    requests_per_s: float = 10.0  # token bucket rate per endpoint
    burst: int = 10
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0  # a larger Retry-After is capped (and counted)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.burst < 1 or self.max_attempts < 1:
            raise ValueError("max_concurrency, burst and max_attempts must be at least 1")
        if self.requests_per_s <= 0:
            raise ValueError("requests_per_s must be positive")
        if min(self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s) < 0:
            raise ValueError("backoff and Retry-After limits must not be negative")


class LlmError(Exception):
    """A chat completion that did not succeed; ``str()`` is a one-line message without secrets."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status  # HTTP status of the last answer, if there was one
        self.attempts = attempts  # HTTP attempts made (0: none was made)


class LlmUnavailable(LlmError):
    """Transient failures (429, 5xx, timeouts, connection errors, malformed answers) until the
    retries ran out: the work may succeed later."""


class LlmRejected(LlmError):
    """The request can never succeed as configured (400/401/403/404/422, missing API key, bad URL)."""


def configured_endpoint(
    base_url: str | None, api_key_env: str | None, default: Endpoint, secret_env: SecretEnvPolicy
) -> Endpoint:
    """The endpoint a config (an AI metric's, an llm system's) names, else the operator's default.

    The operator's key goes to the operator's endpoint only: a config naming another base URL gets
    the key it names, or none. A variable a config names must be one configs may name
    (LlmRejected otherwise: the score or record errors with the reason)."""
    if api_key_env and not secret_env.allows(api_key_env):
        raise LlmRejected(
            f"the environment variable {api_key_env} may not be named by a config "
            "(see SCOREKEEPER_SECRET_ENV_NAMES / SCOREKEEPER_SECRET_ENV_PREFIX)"
        )
    if base_url and base_url.strip().rstrip("/") != default.base_url.strip().rstrip("/"):
        return Endpoint(base_url=base_url, api_key_env=api_key_env or None)
    return Endpoint(base_url=default.base_url, api_key_env=api_key_env or default.api_key_env or None)
