from __future__ import annotations

from pydantic import Field

from shared.config import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    """run-orchestrator: catalog writes and the run lifecycle."""

    http_port: int = 8080
    grpc_port: int = 50051
    # How often the runs-by-status gauge is refreshed from the database.
    status_gauge_interval_s: float = 15.0
    # The console's base: the run URLs monitor alerts carry.
    public_console_url: str = "http://127.0.0.1:8084"
    # Monitor windows: how often due windows are looked for; the most calls a window of minutes
    # holds (it closes early when full); how long after its end a window of minutes waits for
    # calls still committing; when another replica takes over publishing a window's score requests.
    monitor_tick_s: float = Field(default=1.0, gt=0)
    # How often due schedules are looked for (and fired).
    schedule_tick_s: float = Field(default=1.0, gt=0)
    # How often the logged calls a project keeps no longer (projects.call_retention_days) are deleted.
    retention_tick_s: float = Field(default=60.0, gt=0)
    # The most days any project keeps its logged calls (0: no limit): a project's 0 keeps them this
    # long, and more days are refused.
    call_retention_max_days: int = Field(default=0, ge=0, le=3650)
    # How long the audit log keeps an event (deleted on the retention tick after).
    audit_retention_days: int = Field(default=365, ge=1, le=3650)
    monitor_max_window_calls: int = Field(default=50_000, ge=1, le=100_000)
    monitor_grace_s: float = Field(default=2.0, ge=0)
    monitor_stale_s: float = Field(default=30.0, gt=0)
