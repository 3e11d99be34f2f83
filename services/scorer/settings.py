from __future__ import annotations

from pydantic import Field

from shared.config import ServiceSettings
from shared.llm.settings import LlmSettings
from shared.outbound.settings import OutboundSettings


class ScorerSettings(ServiceSettings, LlmSettings, OutboundSettings):
    """scorer: computes scores and keeps the per-run aggregates."""

    http_port: int = 8083
    # The judge endpoint of AI metrics that name none (any OpenAI-compatible base URL), and the
    # NAME of the environment variable holding its key (empty: the endpoint takes no key).
    judge_base_url: str = "https://api.openai.com/v1"
    judge_api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")
    # Worker processes scoring heuristics, and the CPU time one score may use (then it errors).
    heuristic_workers: int = Field(default=2, ge=1)
    heuristic_cpu_s: float = Field(default=5.0, gt=0)
