"""What one call of a system gives its record, whatever the system's kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# How a caller waits between two attempts of a call (a retry's backoff): the executor's version
# gives back the call's slots meanwhile, so the run's other calls go on.
Wait = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Execution:
    """What one call of a system gives the record: outputs, or the error that explains why not."""

    status: str  # completed | errored
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: the system does not say what the call cost
    # The call's steps, checked (shared.spans): an http system's answer may hold them.
    spans: list[dict[str, Any]] = field(default_factory=list)
