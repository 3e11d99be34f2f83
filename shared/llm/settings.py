"""LLM settings shared by the services that call LLMs (scorer, system-executor)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from shared.llm.prices import PriceTable
from shared.llm.types import LlmLimits


class LlmSettings(BaseModel):
    """Mix into a service's settings: ``class ScorerSettings(ServiceSettings, LlmSettings)``.

    A plain model without its own ``model_config``, so the service's settings config (the
    ``SCOREKEEPER_`` prefix, frozen) applies: the fields read ``SCOREKEEPER_LLM_MAX_CONCURRENCY`` …
    """

    llm_max_concurrency: int = Field(default=8, ge=1)
    llm_requests_per_s: float = Field(default=10.0, gt=0)
    llm_burst: int = Field(default=10, ge=1)
    llm_max_attempts: int = Field(default=4, ge=1)
    llm_backoff_base_s: float = Field(default=0.5, ge=0)
    llm_backoff_max_s: float = Field(default=30.0, ge=0)
    # {"model": {"input_per_mtok": 0.5, "output_per_mtok": 1.5}, …} over the built-in prices.
    llm_prices_json: str = ""

    @field_validator("llm_prices_json")
    @classmethod
    def _prices_parse(cls, text: str) -> str:
        PriceTable.from_json(text)  # a bad table fails at start-up, not at the first call
        return text

    def limits(self) -> LlmLimits:
        return LlmLimits(
            max_concurrency=self.llm_max_concurrency,
            requests_per_s=self.llm_requests_per_s,
            burst=self.llm_burst,
            max_attempts=self.llm_max_attempts,
            backoff_base_s=self.llm_backoff_base_s,
            backoff_max_s=self.llm_backoff_max_s,
        )

    def prices(self) -> PriceTable:
        return PriceTable.from_json(self.llm_prices_json)
