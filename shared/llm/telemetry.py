"""Prometheus metrics of LLM calls (default registry). ``purpose`` is what the call is for ("judge",
"system"); ``endpoint`` is the host[:port] of the base URL, never the full URL."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "scorekeeper_llm_requests_total",
    "Chat completions asked for, by final outcome (ok, rejected, unavailable, cancelled, error).",
    ["purpose", "endpoint", "model", "outcome"],
)
RETRIES = Counter(
    "scorekeeper_llm_retries_total",
    "HTTP attempts retried, by reason (rate_limited, server_error, timeout, connection, malformed, "
    "request_timeout, conflict).",
    ["purpose", "endpoint", "reason"],
)
TOKENS = Counter(
    "scorekeeper_llm_tokens_total",
    "Tokens used by successful completions, by kind (prompt, completion).",
    ["purpose", "endpoint", "model", "kind"],
)
COST = Counter(
    "scorekeeper_llm_cost_usd_total",
    "Cost in USD of successful completions whose model is in the price table.",
    ["purpose", "endpoint", "model"],
)
LATENCY = Histogram(
    "scorekeeper_llm_request_seconds",
    "Latency of the successful HTTP attempt of a completion.",
    ["purpose", "endpoint", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
RATE_LIMIT_WAIT = Counter(
    "scorekeeper_llm_rate_limit_wait_seconds_total",
    "Seconds attempts waited for the endpoint's token bucket (including pauses after Retry-After).",
    ["purpose", "endpoint"],
)
BACKOFF_WAIT = Counter(
    "scorekeeper_llm_backoff_seconds_total",
    "Seconds slept between attempts (backoff or the server's Retry-After).",
    ["purpose", "endpoint"],
)
RETRY_AFTER_CAPPED = Counter(
    "scorekeeper_llm_retry_after_capped_total",
    "Retry-After values larger than the configured maximum, which was waited instead.",
    ["purpose", "endpoint"],
)
IN_FLIGHT = Gauge(
    "scorekeeper_llm_in_flight",
    "HTTP attempts in progress.",
    ["purpose", "endpoint"],
)
