"""The one way services call an OpenAI-compatible chat-completions endpoint.

The openai package is imported when a process first calls an endpoint, not when it starts: its
types cost ~0.8 s of CPU to import, and most executor and scorer processes never call an LLM."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from shared.llm import telemetry
from shared.llm.failures import Failure, TransientFailure, classify, malformed
from shared.llm.limiter import EndpointLimiter
from shared.llm.prices import PriceTable
from shared.llm.types import ChatAnswer, ChatRequest, Endpoint, LlmLimits, LlmRejected, LlmUnavailable
from shared.outbound.allowlist import HostNotAllowed
from shared.outbound.secrets import mask

if TYPE_CHECKING:
    from openai import AsyncOpenAI

log = logging.getLogger(__name__)

# The openai client insists on a key; endpoints without auth (Ollama, a local vLLM) ignore it.
NO_KEY = "no-key"


@dataclass
class _Call:
    """What one ``complete`` call knows, shared by its attempts."""

    purpose: str
    endpoint: str  # host[:port]
    request: ChatRequest
    client: AsyncOpenAI
    limiter: EndpointLimiter
    secret: str | None
    attempts: int = 0


class LlmGateway:
    """One per process; holds one AsyncOpenAI client per (base_url, api_key_env), with its limiter.

    Each HTTP attempt holds one of the endpoint's concurrency slots and takes a token from its
    bucket; 429, 408, 409, 5xx, timeouts, connection errors and malformed answers are retried with
    jittered exponential backoff, or after the server's Retry-After (capped), up to
    ``max_attempts``. The openai client's own retries are off so every attempt is counted here.
    The API key is read from the environment when the endpoint is first used.
    """

    def __init__(
        self,
        limits: LlmLimits,
        prices: PriceTable,
        *,
        purpose: str,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._limits = limits
        self._prices = prices
        self._purpose = purpose
        # Every connection goes through the outbound checks (shared.outbound): one client for all.
        self._http = http_client
        self._clients: dict[tuple[str, str | None], tuple[AsyncOpenAI, str | None]] = {}
        self._limiters: dict[str, EndpointLimiter] = {}
        self._backoff = wait_exponential_jitter(
            multiplier=limits.backoff_base_s, max=limits.backoff_max_s, jitter=limits.backoff_base_s
        )

    async def __aenter__(self) -> LlmGateway:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients = [client for client, _ in self._clients.values()]
        self._clients.clear()
        if self._http is not None:
            await self._http.aclose()  # the openai clients share it
            return
        for client in clients:
            await client.close()

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> ChatAnswer:
        """The first choice of a chat completion; raises ``LlmRejected`` or ``LlmUnavailable``."""
        base_url = endpoint.base_url.strip().rstrip("/")
        host = _host(base_url)
        outcome = "error"
        try:
            if host is None:
                raise LlmRejected(f"{self._purpose} endpoint: the base URL must be http(s)://host[:port]/…")
            client, secret = self._client(base_url, endpoint.api_key_env, host)
            limiter = self._limiters.get(base_url)
            if limiter is None:
                limits = self._limits
                limiter = EndpointLimiter(limits.max_concurrency, limits.requests_per_s, limits.burst)
                self._limiters[base_url] = limiter
            call = _Call(self._purpose, host, request, client, limiter, secret)
            answer = await self._with_retries(call)
            outcome = "ok"
        except LlmRejected:
            outcome = "rejected"
            raise
        except LlmUnavailable:
            outcome = "unavailable"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            telemetry.REQUESTS.labels(self._purpose, host or "invalid", request.model, outcome).inc()
        self._count_usage(host, request.model, answer)
        return answer

    def _client(self, base_url: str, api_key_env: str | None, host: str) -> tuple[AsyncOpenAI, str | None]:
        found = self._clients.get((base_url, api_key_env))
        if found is not None:
            return found
        secret: str | None = None
        if api_key_env is not None:
            secret = os.environ.get(api_key_env, "").strip()
            if not secret:
                raise LlmRejected(
                    f"{self._purpose} endpoint {host}: the API key environment variable {api_key_env} is not set"
                )
        from openai import AsyncOpenAI  # on first use (module docstring)

        # Our retry loop is the only one (max_retries=0), so every attempt is limited and counted.
        client = AsyncOpenAI(api_key=secret or NO_KEY, base_url=base_url, max_retries=0, http_client=self._http)
        self._clients[(base_url, api_key_env)] = (client, secret)
        return client, secret

    async def _with_retries(self, call: _Call) -> ChatAnswer:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._limits.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientFailure),
            before_sleep=lambda state: self._before_sleep(call, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(call)
        except TransientFailure as exc:
            failure = exc.failure
            message = (
                f"{call.purpose} endpoint {call.endpoint} unavailable after {call.attempts} "
                f"attempt{'s' if call.attempts != 1 else ''}: {failure.detail}"
            )
            log.warning(
                "LLM endpoint unavailable",
                extra={
                    "purpose": call.purpose,
                    "endpoint": call.endpoint,
                    "model": call.request.model,
                    "attempts": call.attempts,
                    "reason": failure.reason,
                    "detail": failure.detail,
                },
            )
            raise LlmUnavailable(message, status=failure.status, attempts=call.attempts) from None
        raise AssertionError("unreachable: tenacity either returns, retries or re-raises")

    async def _attempt(self, call: _Call) -> ChatAnswer:
        request = call.request
        async with call.limiter.attempt() as waited:
            telemetry.RATE_LIMIT_WAIT.labels(call.purpose, call.endpoint).inc(waited)
            call.attempts += 1
            in_flight = telemetry.IN_FLIGHT.labels(call.purpose, call.endpoint)
            in_flight.inc()
            started = time.perf_counter()
            try:
                result: object = await call.client.chat.completions.create(**_arguments(request))
            except HostNotAllowed as exc:
                raise LlmRejected(str(exc), attempts=call.attempts) from None
            except Exception as exc:
                if isinstance(exc.__cause__, HostNotAllowed):  # the openai client wraps transport errors
                    raise LlmRejected(str(exc.__cause__), attempts=call.attempts) from None
                failure = classify(exc, timeout_s=request.timeout_s, secret=call.secret)
                if failure is None:
                    raise
                self._fail(call, failure)
            finally:
                in_flight.dec()
            latency = time.perf_counter() - started
        answer = _answer(result, self._prices, request.model, call.attempts, latency, call.secret)
        telemetry.LATENCY.labels(call.purpose, call.endpoint, request.model).observe(latency)
        return answer

    def _fail(self, call: _Call, failure: Failure) -> NoReturn:
        if failure.retry_after_s is not None:
            wait = min(failure.retry_after_s, self._limits.max_retry_after_s)
            if failure.retry_after_s > self._limits.max_retry_after_s:
                telemetry.RETRY_AFTER_CAPPED.labels(call.purpose, call.endpoint).inc()
            failure = Failure(failure.retryable, failure.reason, failure.detail, failure.status, wait)
            # Everyone using this endpoint waits, not only the caller that was told.
            call.limiter.bucket.pause_until(time.monotonic() + wait)
        if failure.retryable:
            raise TransientFailure(failure) from None
        raise LlmRejected(
            f"{call.purpose} endpoint {call.endpoint} rejected the request for model "
            f"{call.request.model}: {failure.detail}",
            status=failure.status,
            attempts=call.attempts,
        ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, TransientFailure) and exc.failure.retry_after_s is not None:
            # A little jitter so callers told the same moment do not all come back at once.
            return exc.failure.retry_after_s + random.uniform(0, min(self._limits.backoff_base_s, 1.0))
        return self._backoff(state)

    def _before_sleep(self, call: _Call, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = exc.failure if isinstance(exc, TransientFailure) else None
        reason = failure.reason if failure is not None else "unknown"
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        telemetry.RETRIES.labels(call.purpose, call.endpoint, reason).inc()
        telemetry.BACKOFF_WAIT.labels(call.purpose, call.endpoint).inc(wait)
        log.info(
            "LLM attempt failed; retrying",
            extra={
                "purpose": call.purpose,
                "endpoint": call.endpoint,
                "model": call.request.model,
                "attempt": call.attempts,
                "reason": reason,
                "wait_s": round(wait, 3),
                "detail": failure.detail if failure is not None else "",
            },
        )

    def _count_usage(self, host: str | None, model: str, answer: ChatAnswer) -> None:
        endpoint = host or "invalid"
        telemetry.TOKENS.labels(self._purpose, endpoint, model, "prompt").inc(answer.prompt_tokens)
        telemetry.TOKENS.labels(self._purpose, endpoint, model, "completion").inc(answer.completion_tokens)
        if answer.cost_usd is not None:
            telemetry.COST.labels(self._purpose, endpoint, model).inc(answer.cost_usd)


def _host(base_url: str) -> str | None:
    """host[:port] of an http(s) URL, without any user info; None when it is not one."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}" if port is not None else host


def _arguments(request: ChatRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {"model": request.model, "messages": request.messages, "timeout": request.timeout_s}
    optional = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "response_format": request.response_format,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
    }
    arguments.update({name: value for name, value in optional.items() if value is not None})
    return arguments


def _answer(
    result: object, prices: PriceTable, model: str, attempts: int, latency_s: float, secret: str | None
) -> ChatAnswer:
    """The answer in a completion, read defensively: servers that are only "compatible" differ.
    The endpoint's key, if its answer echoes it, is masked (the answer is stored and published)."""
    from openai.types.chat import ChatCompletion  # loaded by the call that gave the result

    if not isinstance(result, ChatCompletion):
        raise TransientFailure(malformed("not a chat completion"))
    choices = getattr(result, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise TransientFailure(malformed("no choices"))
    message = getattr(choices[0], "message", None)
    if message is None:
        raise TransientFailure(malformed("no message in the first choice"))
    content = getattr(message, "content", None)
    tool_arguments: str | None = None
    tool_calls = getattr(message, "tool_calls", None)
    if isinstance(tool_calls, list) and tool_calls:
        call = tool_calls[0]
        function = getattr(call, "function", None)
        raw = getattr(function, "arguments", None) if function is not None else None
        if raw is None:  # a custom (free-text) tool call
            raw = getattr(getattr(call, "custom", None), "input", None)
        tool_arguments = raw if isinstance(raw, str) else None
    usage = getattr(result, "usage", None)
    prompt_tokens = _count(getattr(usage, "prompt_tokens", None))
    completion_tokens = _count(getattr(usage, "completion_tokens", None))
    cost: float | None = None
    if usage is not None:
        served = getattr(result, "model", None)
        if isinstance(served, str) and served:
            cost = prices.cost(served, prompt_tokens, completion_tokens)
        if cost is None:
            cost = prices.cost(model, prompt_tokens, completion_tokens)
    finish_reason = getattr(choices[0], "finish_reason", None)
    secrets = [secret] if secret else []
    return ChatAnswer(
        content=mask(content, secrets) if isinstance(content, str) else "",
        tool_arguments=mask(tool_arguments, secrets),
        finish_reason=finish_reason if isinstance(finish_reason, str) else "",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        attempts=attempts,
        latency_ms=latency_s * 1000,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
