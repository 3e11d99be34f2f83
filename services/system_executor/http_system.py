"""Calling a system of kind ``http``: one testcase in, one record's outputs (or an error) out.

One call is up to ``max_attempts`` HTTP attempts. Connection errors, timeouts, 408, 429 and 5xx
are tried again after a jittered exponential backoff, or after the server's Retry-After (capped);
any other answer is final. Whatever happens, the call ends in an ``Execution``: the run completes
with errored records rather than failing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from jinja2 import TemplateError
from multidict import CIMultiDictProxy
from yarl import URL

from services.system_executor.execution import Execution, Wait
from shared import telemetry
from shared.outbound.allowlist import HostNotAllowed, ResolveFailed
from shared.outbound.secrets import SecretEnvPolicy, mask
from shared.system_config import HttpSystemConfig, build_body, extract_outputs, extract_spans, extract_usage
from shared.throttle import TokenBucket, retry_after_s

log = logging.getLogger(__name__)

# Answers worth another attempt besides 5xx: request timeout and rate limit.
_RETRYABLE_4XX = frozenset({408, 429})
_EXCERPT = 200
# Failures that still got an HTTP answer (their latency is the system's).
_ANSWERED = frozenset({"http_error", "bad_response"})


@dataclass(frozen=True)
class RetryPolicy:
    """The executor's waits between attempts (how many attempts is the system's own setting)."""

    backoff_base_s: float = 0.5  # first backoff; doubles each attempt, plus up to this much jitter
    backoff_max_s: float = 10.0
    max_retry_after_s: float = 60.0  # a longer Retry-After is cut to this

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1)) + random.uniform(
            0, self.backoff_base_s
        )


@dataclass(frozen=True)
class _Failure:
    """One failed attempt."""

    outcome: str  # metric label: unreachable, timeout, http_error, bad_response, too_large, not_allowed, …
    summary: str  # "system answered HTTP 503"
    detail: str = ""  # "b'overloaded'"
    retryable: bool = False
    retry_after_s: float | None = None

    def message(self, attempts: int) -> str:
        after = f" after {attempts} attempts" if attempts > 1 else ""
        return f"{self.summary}{after}: {self.detail}" if self.detail else f"{self.summary}{after}"


@dataclass(frozen=True)
class _Answer:
    """What one answered attempt gives the record."""

    outputs: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    spans: list[dict[str, Any]]


class _SecretMissing(Exception):
    """A secret header's environment variable is not set (or unusable)."""


class _Stop(Exception):
    """A failure found while exchanging, raised out of the response context."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure


class HttpSystemCaller:
    """One per executor process. Holds the session (shared/outbound/session.py: its connections
    pass the platform check and the host allowlist) and the token buckets of the systems that set
    ``requests_per_s``, shared by every run.

    Secret headers are read from ``environ`` at each call and masked in every error message.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        max_response_bytes: int,
        max_redirects: int = 5,
        retry: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
        secret_env: SecretEnvPolicy | None = None,
    ) -> None:
        self._session = session
        self._max_response_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._retry = retry if retry is not None else RetryPolicy()
        self._environ = environ if environ is not None else os.environ
        self._secret_env = secret_env if secret_env is not None else SecretEnvPolicy()
        # Keyed by the whole config: a system version's config never changes, and versions
        # with the same config call the same endpoint the same way.
        self._buckets: dict[str, TokenBucket] = {}

    async def call(
        self, config: HttpSystemConfig, context: dict[str, Any], *, rate_share: float = 1.0, wait: Wait = asyncio.sleep
    ) -> Execution:
        """Execute the system for one testcase (``{"inputs": …, "metadata": …}``). ``rate_share``:
        this process's part of the system's ``requests_per_s`` (the replicas executing the run
        share it); ``wait``: how to wait between attempts."""
        try:
            body = build_body(config, context)
        except (TemplateError, TypeError, ValueError) as exc:
            if config.body_mapping is not None:
                return _errored("bad_request", str(exc))  # "body_mapping.q: $.inputs.q matches nothing …"
            return _errored("bad_request", f"body template failed: {type(exc).__name__}: {exc}")
        try:
            headers, secrets = self._headers(config)
        except _SecretMissing as exc:
            return _errored("bad_request", str(exc))
        bucket = self._bucket(config, rate_share)
        attempt = 0
        while True:
            attempt += 1
            if bucket is not None:
                await bucket.take()
            started = time.perf_counter()
            result = await self._attempt(config, body, headers, secrets)
            latency_ms = (time.perf_counter() - started) * 1000
            if not isinstance(result, _Failure) or result.outcome in _ANSWERED:
                telemetry.SYSTEM_LATENCY.observe(latency_ms / 1000)
            if not isinstance(result, _Failure):
                telemetry.SYSTEM_CALLS.labels("ok").inc()
                return Execution(
                    "completed",
                    outputs=result.outputs,
                    latency_ms=latency_ms,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    cost_usd=result.cost_usd,
                    spans=result.spans,
                )
            if not result.retryable or attempt >= config.max_attempts:
                return _errored(result.outcome, _redact(result.message(attempt), secrets), latency_ms)
            pause = self._wait(result, attempt, bucket)
            log.debug(
                "system attempt failed; retrying",
                extra={"outcome": result.outcome, "attempt": attempt, "wait_s": round(pause, 3)},
            )
            await wait(pause)

    def _headers(self, config: HttpSystemConfig) -> tuple[dict[str, str], list[str]]:
        """The request headers and the secret values in them; _SecretMissing naming the variable
        (never a value) when one is not set."""
        headers = dict(config.headers)
        secrets: list[str] = []
        for name, secret in config.secret_headers.items():
            if not self._secret_env.allows(secret.env):
                raise _SecretMissing(
                    f"secret header {name!r}: environment variable {secret.env} may not be named by a config "
                    "(see SCOREKEEPER_SECRET_ENV_NAMES / SCOREKEEPER_SECRET_ENV_PREFIX)"
                )
            value = self._environ.get(secret.env, "").strip()
            if not value:
                raise _SecretMissing(f"secret header {name!r}: environment variable {secret.env} is not set")
            if not _valid_header_value(value):
                raise _SecretMissing(
                    f"secret header {name!r}: environment variable {secret.env} does not hold a valid header value"
                )
            headers[name] = secret.prefix + value
            secrets.append(value)
        return headers, secrets

    def _bucket(self, config: HttpSystemConfig, rate_share: float) -> TokenBucket | None:
        if config.requests_per_s is None:
            return None
        key = config.model_dump_json()
        rate = config.requests_per_s * rate_share
        burst = max(1, math.ceil(rate))
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst)
        else:
            bucket.set_rate(rate, burst)
        return bucket

    def _wait(self, failure: _Failure, attempt: int, bucket: TokenBucket | None) -> float:
        if failure.retry_after_s is None:
            return self._retry.backoff_s(attempt)
        wait = min(failure.retry_after_s, self._retry.max_retry_after_s)
        if bucket is not None:
            # Every run calling this system waits, not only the call that was told.
            bucket.pause_until(time.monotonic() + wait)
        # A little jitter so calls told the same moment do not all come back at once.
        return wait + random.uniform(0, min(self._retry.backoff_base_s, 1.0))

    async def _attempt(
        self, config: HttpSystemConfig, body: Any, headers: dict[str, str], secrets: list[str]
    ) -> _Answer | _Failure:
        """The record's outputs, usage and steps, or why this attempt failed."""
        try:
            async with asyncio.timeout(config.timeout_s):
                status, raw, answer_headers = await self._exchange(config, body, headers)
        except _Stop as stop:
            return stop.failure
        except HostNotAllowed as exc:
            return _Failure("not_allowed", str(exc))
        except TimeoutError:
            return _Failure("timeout", f"no answer within {config.timeout_s:g}s from {config.url}", retryable=True)
        except ResolveFailed as exc:
            return _Failure("unreachable", f"could not reach {config.url}", f"ConnectError: {exc}", retryable=True)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            return _Failure("unreachable", f"could not reach {config.url}", _describe(exc), retryable=True)
        except (aiohttp.ClientError, ValueError) as exc:
            return _Failure("unreachable", f"could not call {config.url}", _describe(exc))
        if not 200 <= status < 300:
            retryable = status >= 500 or status in _RETRYABLE_4XX
            return _Failure(
                "http_error",
                f"system answered HTTP {status}",
                _excerpt(raw, secrets),
                retryable=retryable,
                retry_after_s=retry_after_s(answer_headers) if retryable else None,
            )
        try:
            document = json.loads(raw)
        except ValueError:
            return _Failure("bad_response", f"system answered non-JSON: {_excerpt(raw, secrets)}")
        except RecursionError:
            return _Failure("bad_response", f"system answered JSON nested too deeply to read ({len(raw)} bytes)")
        try:
            outputs = extract_outputs(config, document)
            prompt_tokens, completion_tokens, cost_usd = extract_usage(config, document)
            steps = extract_spans(config, document)
        except KeyError as exc:
            return _Failure("bad_response", str(exc.args[0]))
        except ValueError as exc:  # usage or steps that break a rule
            return _Failure("bad_response", f"system answered: {exc}")
        except RecursionError:
            return _Failure("bad_response", "system answered JSON nested too deeply to read its outputs")
        # A secret the system echoed back is masked before anything is stored or published.
        return _Answer(mask(outputs, secrets), prompt_tokens, completion_tokens, cost_usd, mask(steps, secrets))

    async def _exchange(
        self, config: HttpSystemConfig, body: Any, headers: dict[str, str]
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """Send the request, following redirects hop by hop; the final status, body and headers."""
        method = config.method
        url = URL(config.url)
        hop_headers = dict(headers)
        data: bytes | None = None
        params: list[tuple[str, str]] | None = None
        if method == "GET":
            params = _query(body)
        elif body is not None:
            data = _json_body(body)
            if not any(name.lower() == "content-type" for name in hop_headers):
                hop_headers["Content-Type"] = "application/json"
        for hop in range(self._max_redirects + 1):
            async with self._session.request(
                method, url, headers=hop_headers, data=data, params=params, allow_redirects=False
            ) as response:
                location = response.headers.get("location")
                if response.status not in _REDIRECTS or location is None:
                    return response.status, await self._read(response), response.headers
                target = url.join(URL(location))
                if hop == self._max_redirects:
                    raise _Stop(_redirect_refused(response.status, target, self._max_redirects))
                if target.scheme not in ("http", "https"):
                    raise _Stop(_Failure("redirect", f"system redirected to {target}, which is not http(s)"))
                # As browsers do: 303 (and 301/302 after anything but GET) go on as a GET without
                # a body; 307 and 308 repeat the request as it was.
                if response.status == 303 or (response.status in (301, 302) and method != "GET"):
                    method, data = "GET", None
                    hop_headers = {k: v for k, v in hop_headers.items() if k.lower() != "content-type"}
                params = None  # a GET's query is in the Location already
                if _origin(target) != _origin(url):
                    # Credentials are for the system's own origin, never for where it points us.
                    dropped = {name.lower() for name in config.secret_headers} | {"authorization", "cookie"}
                    hop_headers = {k: v for k, v in hop_headers.items() if k.lower() not in dropped}
                url = target
        raise AssertionError("unreachable: the last hop returns or stops")

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Stop(_Failure("too_large", f"response larger than {limit} bytes ({declared} announced)"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _Stop(_Failure("too_large", f"response larger than {limit} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _json_body(body: Any) -> bytes:
    """The request body as compact JSON (NaN refused: it is not JSON)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _query(body: Any) -> list[tuple[str, str]] | None:
    """A GET's body as query parameters: a list is a repeated parameter; true / false / null are
    written as in JSON (``true``, ``false``, empty)."""
    if not isinstance(body, dict):
        return None
    pairs = []
    for key, value in body.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(key), _query_value(item)))
    return pairs


def _query_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _redirect_refused(status: int, target: URL, max_redirects: int) -> _Failure:
    if max_redirects == 0:
        return _Failure("redirect", f"system answered HTTP {status} redirecting to {target} (redirects are off)")
    return _Failure("redirect", f"system redirected more than {max_redirects} times (last to {target})")


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return url.scheme, url.host, url.port


def _describe(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"ConnectError: {exc.os_error.strerror or exc.os_error}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _valid_header_value(value: str) -> bool:
    return value.isprintable() and value.isascii()


def _excerpt(raw: bytes, secrets: list[str]) -> str:
    """The start of an answer as readable text: UTF-8 (an undecodable byte as U+FFFD), control
    characters escaped (a newline as \\n), "…" where it was cut."""
    # Mask before cutting, so no part of a secret the system echoed survives.
    for secret in secrets:
        raw = raw.replace(secret.encode(), b"***")
    text = raw[: _EXCERPT * 4].decode("utf-8", errors="replace")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:_EXCERPT])
    return shown + ("…" if len(text) > _EXCERPT or len(raw) > _EXCERPT * 4 else "")


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _errored(outcome: str, error: str, latency_ms: float = 0.0) -> Execution:
    telemetry.SYSTEM_CALLS.labels(outcome).inc()
    return Execution("errored", error=error, latency_ms=latency_ms)
