"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "scorekeeper_messages_handled_total",
    "Bus messages handled successfully, by topic.",
    ["service", "topic"],
)
MESSAGES_FAILED = Counter(
    "scorekeeper_messages_failed_total",
    "Bus messages that failed, by topic and kind (invalid → DLQ, transient → redelivery).",
    ["service", "topic", "kind"],
)
HANDLER_SECONDS = Histogram(
    "scorekeeper_handler_seconds",
    "Time spent handling one bus message.",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BATCH_EVENTS = Histogram(
    "scorekeeper_batch_events",
    "Events handed to a batch handler at once, by topic.",
    ["service", "topic"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
RUNS_BY_STATUS = Gauge(
    "scorekeeper_runs",
    "Runs by status, refreshed from the database by the run-orchestrator.",
    ["status"],
)
RUN_TRANSITIONS = Counter(
    "scorekeeper_run_transitions_total",
    "Run status changes made by this process.",
    ["status"],
)
SYSTEM_CALLS = Counter(
    "scorekeeper_system_calls_total",
    "Calls to AI systems by the executor, by outcome.",
    ["outcome"],
)
WEBHOOK_POSTS = Counter(
    "scorekeeper_webhook_posts_total",
    "Webhook POSTs by the executor (monitor alerts, run webhooks), by what the delivery became after each.",
    ["kind", "outcome"],
)
SYSTEM_LATENCY = Histogram(
    "scorekeeper_system_call_seconds",
    "Latency of calls to AI systems.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SCORES_WRITTEN = Counter(
    "scorekeeper_scores_written_total",
    "Scores written by the scorer, by status.",
    ["status"],
)
JUDGE_UNPARSABLE = Counter(
    "scorekeeper_judge_unparsable_answers_total",
    "LLM judge answers that were not a verdict of the metric's type (each is asked again, then errored).",
    ["model"],
)
