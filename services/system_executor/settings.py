from __future__ import annotations

from pydantic import Field

from shared.config import ServiceSettings
from shared.llm.settings import LlmSettings
from shared.outbound.settings import OutboundSettings


class ExecutorSettings(ServiceSettings, LlmSettings, OutboundSettings):
    """system-executor: calls the AI systems."""

    http_port: int = 8082
    # Calls in flight at once in this process, over all runs.
    max_concurrency: int = Field(default=64, ge=1)
    # Calls in flight at once for one run, unless the run sets max_concurrency.
    default_run_concurrency: int = Field(default=16, ge=1)
    # run.created handlers at once (each plans a run into chunks).
    consumer_concurrency: int = 4
    # Calls (testcases × trials) per chunk of a run; chunks spread a run over the replicas.
    chunk_calls: int = Field(default=100, ge=1, le=100_000)
    # Chunks this process executes at once (they share the run's and the global caps). Each is
    # fetched by a loop of its own, and a chunk ends with its slowest call (a failing call's
    # retries take seconds): more chunks at once keep the run's slots busy meanwhile (make bench,
    # N = 2,000: 4 → 313 testcases/s, 8 → 422, 16 → 590). But the broker serves waiting fetches
    # first come, first served: with 16, the first replica took all 15 chunks of a small run.
    # A chunk whose calls left all wait to try again frees its loop for another (up to 2 × this
    # many more). On Kafka one consumer takes this many chunks at once from the partitions it owns
    # (shared/messaging/kafka_consumer.py).
    chunk_concurrency: int = Field(default=8, ge=1)
    # A replica's share of a run's max_concurrency is a lease renewed every lease_poll_s (which
    # also bounds how fast a cancelled run stops); a killed replica's lease lapses after lease_ttl_s.
    lease_poll_s: float = Field(default=0.5, gt=0, le=1.5)
    lease_ttl_s: float = Field(default=10.0, ge=2)
    # Largest system response read, in bytes.
    max_response_bytes: int = Field(default=1_000_000, ge=1024)
    # Redirects followed per attempt, each hop checked against allowed_hosts; 0 makes a 3xx an error.
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Backoff between attempts of a system call: base * 2^(attempt-1) plus up to base of jitter,
    # at most backoff_max_s; a Retry-After (429, 503) is honoured up to max_retry_after_s.
    retry_backoff_base_s: float = Field(default=0.5, ge=0)
    retry_backoff_max_s: float = Field(default=10.0, ge=0)
    max_retry_after_s: float = Field(default=60.0, ge=0)

    # Monitor alerts and run webhooks: how often due deliveries are looked for, the timeout of one POST, and the
    # attempts (5xx, 429, timeouts, connection errors; backoff 2 s, doubling) before one fails.
    alert_poll_s: float = Field(default=1.0, gt=0)
    alert_timeout_s: float = Field(default=10.0, gt=0)
    alert_max_attempts: int = Field(default=6, ge=1)

    # The endpoint of llm systems that name none (any OpenAI-compatible base URL), and the NAME
    # of the environment variable holding its key (empty: the endpoint takes no key).
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")
