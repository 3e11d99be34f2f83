"""AI metrics: ask the LLM judge, turn its answer into a score.

Calls go through the process's LlmGateway (concurrency cap, token bucket, Retry-After, retries
with jittered backoff, usage and cost). A judge that stays unavailable, refuses the request, or
keeps answering something that is not a verdict gives an ``errored`` score with the reason;
errored scores can be re-scored later.
"""

from __future__ import annotations

import logging
import uuid

from shared import telemetry
from shared.llm import ChatAnswer, ChatRequest, Endpoint, LlmError, LlmGateway, configured_endpoint
from shared.outbound.secrets import SecretEnvPolicy
from shared.scoring import judge_prompts
from shared.scoring.metric import MetricVersion, ScoreOutcome, passes
from shared.scoring.record import ScoringInput

log = logging.getLogger(__name__)
MAX_REASONING_CHARS = 4000
MAX_RAW_CHARS = 2000


class Judge:
    def __init__(self, gateway: LlmGateway, default_endpoint: Endpoint, secret_env: SecretEnvPolicy) -> None:
        self._gateway = gateway
        self._default = default_endpoint
        self._secret_env = secret_env
        # Metric versions are immutable: each config is parsed once.
        self._configs: dict[uuid.UUID, judge_prompts.JudgeConfig] = {}

    async def score(self, metric: MetricVersion, record: ScoringInput) -> ScoreOutcome:
        usage = _Usage()
        try:
            config = self._configs.get(metric.id)
            if config is None:
                config = self._configs[metric.id] = judge_prompts.parse_config(metric.config)
            prompt = judge_prompts.build_prompt(config, metric.output_type, metric.guidelines, record)
        except ValueError as exc:
            return ScoreOutcome("errored", None, None, "", str(exc))
        try:
            endpoint = configured_endpoint(config.base_url, config.api_key_env, self._default, self._secret_env)
        except LlmError as exc:
            return ScoreOutcome("errored", None, None, "", f"judge call failed: {exc}")
        messages = list(prompt.messages)
        problem = ""
        raw = ""
        for _ in range(config.parse_attempts):
            try:
                answer = await self._gateway.complete(
                    endpoint,
                    ChatRequest(
                        model=config.model,
                        messages=messages,
                        temperature=config.temperature,
                        max_tokens=config.max_tokens,
                        response_format=prompt.response_format,
                        tools=prompt.tools,
                        tool_choice=prompt.tool_choice,
                        timeout_s=config.timeout_s,
                    ),
                )
            except LlmError as exc:
                return usage.outcome(ScoreOutcome("errored", None, None, "", f"judge call failed: {exc}"))
            usage.add(answer)
            raw = (answer.tool_arguments if prompt.tools else None) or answer.content
            try:
                value, reasoning = judge_prompts.parse_verdict(metric.output_type, raw)
            except judge_prompts.UnparsableAnswer as exc:
                problem = str(exc)
                telemetry.JUDGE_UNPARSABLE.labels(config.model).inc()
                log.info("judge answer did not parse", extra={"metric": metric.name, "problem": problem})
                messages = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": judge_prompts.correction(problem)},
                ]
                continue
            return usage.outcome(
                ScoreOutcome(
                    "completed",
                    value,
                    passes(metric.output_type, value, metric.passing_threshold),
                    _clip(reasoning, MAX_REASONING_CHARS) or "(the judge gave no reasoning)",
                )
            )
        return usage.outcome(
            ScoreOutcome(
                "errored",
                None,
                None,
                "",
                f"the judge's answer is not a verdict after {config.parse_attempts} attempts: {problem};"
                f" raw answer: {_clip(raw, MAX_RAW_CHARS)}",
            )
        )


class _Usage:
    """Tokens and cost summed over every call made for one score (re-asks included)."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = None

    def add(self, answer: ChatAnswer) -> None:
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens
        if answer.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + answer.cost_usd

    def outcome(self, outcome: ScoreOutcome) -> ScoreOutcome:
        return ScoreOutcome(
            outcome.status,
            outcome.value,
            outcome.passed,
            outcome.reasoning,
            outcome.error,
            self.prompt_tokens,
            self.completion_tokens,
            self.cost_usd,
        )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
