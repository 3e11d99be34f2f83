"""An ``http`` system caller for the tests: allowlist, secrets and retry policy set as a test needs; one call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from services.system_executor.execution import Execution
from services.system_executor.http_system import HttpSystemCaller, RetryPolicy
from shared.outbound.allowlist import (
    DEFAULT_ALLOWED_HOSTS,
    HostAllowlist,
    Resolver,
    resolve,
)
from shared.outbound.secrets import SecretEnvPolicy
from shared.outbound.session import outbound_session
from shared.system_config import parse_http_config

FAST = RetryPolicy(backoff_base_s=0.01, backoff_max_s=0.05, max_retry_after_s=2.0)
SECRET = "s3cret-7c1f0d9e-not-a-real-key"
CONTEXT: dict[str, Any] = {"inputs": {"question": "2 + 2?", "tags": ["a", "b"]}, "metadata": {"k": 3}}
NOT_ALLOWED = "is not in the executor's allowlist (SCOREKEEPER_ALLOWED_HOSTS)"


@asynccontextmanager
async def caller(
    *,
    allowed: str = DEFAULT_ALLOWED_HOSTS,
    resolver: Resolver = resolve,
    environ: dict[str, str] | None = None,
    max_redirects: int = 5,
    retry: RetryPolicy = FAST,
    max_response_bytes: int = 100_000,
) -> AsyncIterator[HttpSystemCaller]:
    async with outbound_session(HostAllowlist.parse(allowed), max_connections=16, resolver=resolver) as session:
        yield HttpSystemCaller(
            session,
            max_response_bytes=max_response_bytes,
            max_redirects=max_redirects,
            retry=retry,
            environ=environ or {},
            # The variables the tests name are allowed; the rule itself is tested on its own.
            secret_env=SecretEnvPolicy(names=frozenset(environ or {}) | {"MY_BOT_KEY"}),
        )


async def call(config: dict[str, Any], context: dict[str, Any] = CONTEXT, **options: Any) -> Execution:
    async with caller(**options) as c:
        return await c.call(parse_http_config(config), context)
