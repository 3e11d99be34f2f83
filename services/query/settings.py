from __future__ import annotations

from shared.config import ServiceSettings


class QuerySettings(ServiceSettings):
    """query: every read, never a write."""

    http_port: int = 8081
    grpc_port: int = 50052
    # Base URL of the console (SCOREKEEPER_PUBLIC_CONSOLE_URL): a run's `url` is its page there.
    public_console_url: str = "http://127.0.0.1:8084"
