"""Who calls a system, by its kind: one registry line each (the kinds themselves are in
shared/system_kinds.py). A kind the platform executes but this executor has no caller for is an
invalid event, never called as another kind."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from services.system_executor.execution import Execution, Wait
from services.system_executor.http_system import HttpSystemCaller
from services.system_executor.llm_system import LlmSystemCaller
from shared import telemetry
from shared.system_config import HttpSystemConfig, LlmSystemConfig, parse_http_config, parse_llm_config

# (the version's config, {"inputs": …, "metadata": …}, this process's share of the system's rate,
# how to wait between attempts)
Caller = Callable[[dict[str, Any], dict[str, Any], float, Wait], Awaitable[Execution]]


def callers(http: HttpSystemCaller, llm: LlmSystemCaller) -> dict[str, Caller]:
    async def call_http(config: dict[str, Any], context: dict[str, Any], rate_share: float, wait: Wait) -> Execution:
        return await http.call(_http_config(_key(config)), context, rate_share=rate_share, wait=wait)

    async def call_llm(config: dict[str, Any], context: dict[str, Any], rate_share: float, wait: Wait) -> Execution:
        # The LLM gateway paces and retries its calls itself (shared/llm).
        return await llm.call(_llm_config(_key(config)), context)

    return {"http": _validated(call_http), "llm": _validated(call_llm)}


def _validated(call: Caller) -> Caller:
    async def validated(config: dict[str, Any], context: dict[str, Any], rate_share: float, wait: Wait) -> Execution:
        try:
            return await call(config, context, rate_share, wait)
        except ValueError as exc:
            # Stored before a validation rule existed: every record of the run says why.
            telemetry.SYSTEM_CALLS.labels("bad_config").inc()
            return Execution("errored", error=f"the system version's config is not valid: {exc}")

    return validated


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


# Parsed once per system version rather than once per testcase (JSONPaths, templates).
@lru_cache(maxsize=256)
def _http_config(config_json: str) -> HttpSystemConfig:
    return parse_http_config(json.loads(config_json))


@lru_cache(maxsize=256)
def _llm_config(config_json: str) -> LlmSystemConfig:
    return parse_llm_config(json.loads(config_json))
