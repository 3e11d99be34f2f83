from __future__ import annotations

from shared.config import ServiceSettings


class ScorerSettings(ServiceSettings):
    """scorer: computes scores and keeps the per-run aggregates."""

    http_port: int = 8083
