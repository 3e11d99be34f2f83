from __future__ import annotations

from pydantic import Field

from shared.config import ServiceSettings


class ExecutorSettings(ServiceSettings):
    """system-executor: calls the AI systems."""

    http_port: int = 8082
    # Calls in flight at once in this process, over all runs.
    max_concurrency: int = Field(default=64, ge=1)
    # Calls in flight at once for one run, unless the run sets max_concurrency.
    default_run_concurrency: int = Field(default=16, ge=1)
    # run.created handlers at once (each executes a whole run).
    consumer_concurrency: int = 4
    # Largest system response read, in bytes.
    max_response_bytes: int = Field(default=1_000_000, ge=1024)
