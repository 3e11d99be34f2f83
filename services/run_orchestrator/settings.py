from __future__ import annotations

from shared.config import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    """run-orchestrator: catalog writes and the run lifecycle."""

    http_port: int = 8080
    grpc_port: int = 50051
    # How often the runs-by-status gauge is refreshed from the database.
    status_gauge_interval_s: float = 15.0
