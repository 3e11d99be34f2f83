"""Calling a system of kind ``http``: one testcase in, one record's outputs (or an error) out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from jinja2 import TemplateError

from shared import metrics
from shared.system_config import HttpSystemConfig, extract_path, render_body


@dataclass(frozen=True)
class Execution:
    status: str  # completed | errored
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    latency_ms: float = 0.0


async def call_http_system(
    client: httpx.AsyncClient, config: HttpSystemConfig, testcase: dict[str, Any], *, max_response_bytes: int
) -> Execution:
    try:
        body = render_body(config.body_template, testcase)
    except (TemplateError, TypeError, ValueError) as exc:
        return Execution("errored", error=f"body template failed: {type(exc).__name__}: {exc}")
    started = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {"params": body} if config.method == "GET" else {"json": body}
        async with client.stream(
            config.method, config.url, headers=config.headers, timeout=config.timeout_s, **kwargs
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_response_bytes:
                    raise _TooLarge(f"response larger than {max_response_bytes} bytes")
                chunks.append(chunk)
            raw = b"".join(chunks)
    except _TooLarge as exc:
        return _failed("too_large", str(exc), started)
    except httpx.TimeoutException:
        return _failed("timeout", f"no answer within {config.timeout_s:g}s from {config.url}", started)
    except httpx.HTTPError as exc:
        return _failed("unreachable", f"could not reach {config.url}: {type(exc).__name__}: {exc}", started)
    latency_ms = (time.perf_counter() - started) * 1000
    metrics.SYSTEM_LATENCY.observe(latency_ms / 1000)
    if not 200 <= response.status_code < 300:
        metrics.SYSTEM_CALLS.labels("http_error").inc()
        return Execution(
            "errored", error=f"system answered HTTP {response.status_code}: {raw[:200]!r}", latency_ms=latency_ms
        )
    try:
        document = json.loads(raw)
    except ValueError:
        metrics.SYSTEM_CALLS.labels("bad_response").inc()
        return Execution("errored", error=f"system answered non-JSON: {raw[:200]!r}", latency_ms=latency_ms)
    try:
        answer = extract_path(document, config.response_path)
    except KeyError as exc:
        metrics.SYSTEM_CALLS.labels("bad_response").inc()
        return Execution("errored", error=str(exc.args[0]), latency_ms=latency_ms)
    metrics.SYSTEM_CALLS.labels("ok").inc()
    return Execution("completed", outputs={"response": answer}, latency_ms=latency_ms)


class _TooLarge(Exception):
    pass


def _failed(outcome: str, error: str, started: float) -> Execution:
    metrics.SYSTEM_CALLS.labels(outcome).inc()
    return Execution("errored", error=error, latency_ms=(time.perf_counter() - started) * 1000)
