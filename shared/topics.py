"""The one place topic names are defined."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    RUN_CREATED = "run.created"
    # A slice of a run's testcases to execute: the executor plans each run into chunks so one
    # large run spreads over every executor replica.
    CHUNK_REQUESTED = "chunk.requested"
    RECORD_PRODUCED = "record.produced"
    SCORE_REQUESTED = "score.requested"
    SCORE_COMPLETED = "score.completed"

    @property
    def dlq(self) -> str:
        return f"{self.value}.dlq"


def physical(name: str, prefix: str) -> str:
    """The broker-side name of a topic or dead-letter topic."""
    return f"{prefix}{name}"


ALL_TOPICS: tuple[str, ...] = tuple(n for t in Topic for n in (t.value, t.dlq))


def nats_stream(prefix: str) -> str:
    """The JetStream stream holding every topic (and dead-letter topic) of one prefix."""
    return "".join(c if c.isalnum() else "_" for c in f"{prefix}scorekeeper")
