"""What a metric sees of one record: the testcase's fields, the system's outputs, and the
execution facts (latency, tokens, cost) some heuristics score."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScoringInput:
    outputs: dict[str, Any]
    expected: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    # None: the record does not say what it cost (e.g. an http system that reports no usage).
    cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The record's id (the scores a client's own code sent with it are found by it).
    record_id: uuid.UUID | None = None
