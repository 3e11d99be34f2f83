from __future__ import annotations

from shared.config import ServiceSettings


class QuerySettings(ServiceSettings):
    """query: every read, never a write."""

    http_port: int = 8081
    grpc_port: int = 50052
