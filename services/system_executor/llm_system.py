"""Calling a system of kind ``llm``: a prompt run on the server (as the reference's Kickoff and
Playground do) against any OpenAI-compatible chat-completions endpoint, through the process's
LlmGateway (concurrency cap, token bucket, Retry-After, retries with jittered backoff, prices).

The record's outputs are the answer text, the finish reason and the token usage; the record
carries the usage and cost too, for cost_under metrics and the run's totals.
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError

from services.system_executor.execution import Execution
from shared import telemetry
from shared.llm import ChatRequest, Endpoint, LlmError, LlmGateway, configured_endpoint
from shared.outbound.secrets import SecretEnvPolicy
from shared.system_config import LlmSystemConfig, render_text


class LlmSystemCaller:
    def __init__(self, gateway: LlmGateway, default_endpoint: Endpoint, secret_env: SecretEnvPolicy) -> None:
        self._gateway = gateway
        self._default = default_endpoint
        self._secret_env = secret_env

    async def call(self, config: LlmSystemConfig, context: dict[str, Any]) -> Execution:
        """Execute the prompt for one testcase (``{"inputs": …, "metadata": …}``)."""
        try:
            messages = [{"role": m.role, "content": render_text(m.content, context)} for m in config.messages]
        except TemplateError as exc:
            telemetry.SYSTEM_CALLS.labels("bad_request").inc()
            return Execution("errored", error=f"prompt template failed: {type(exc).__name__}: {exc}")
        request = ChatRequest(
            model=config.model,
            messages=messages,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            timeout_s=config.timeout_s,
        )
        try:
            endpoint = configured_endpoint(config.base_url, config.api_key_env, self._default, self._secret_env)
            answer = await self._gateway.complete(endpoint, request)
        except LlmError as exc:
            telemetry.SYSTEM_CALLS.labels("llm_error").inc()
            return Execution("errored", error=f"the model call failed: {exc}")
        telemetry.SYSTEM_CALLS.labels("ok").inc()
        telemetry.SYSTEM_LATENCY.observe(answer.latency_ms / 1000)
        return Execution(
            "completed",
            outputs={
                "response": answer.content,
                "finish_reason": answer.finish_reason,
                "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens},
            },
            latency_ms=answer.latency_ms,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            cost_usd=answer.cost_usd,
        )
