"""One client for OpenAI-compatible chat-completions endpoints (the LLM judge, ``llm`` systems):
limits, retries, usage, cost and metrics in one place; keys referenced by environment variable."""

from shared.llm.gateway import LlmGateway
from shared.llm.prices import ModelPrice, PriceTable
from shared.llm.settings import LlmSettings
from shared.llm.types import (
    ChatAnswer,
    ChatRequest,
    Endpoint,
    LlmError,
    LlmLimits,
    LlmRejected,
    LlmUnavailable,
    configured_endpoint,
)

__all__ = [
    "ChatAnswer",
    "ChatRequest",
    "Endpoint",
    "LlmError",
    "LlmGateway",
    "LlmLimits",
    "LlmRejected",
    "LlmSettings",
    "LlmUnavailable",
    "ModelPrice",
    "PriceTable",
    "configured_endpoint",
]
