"""A run's status and source: the one definition every service, the API and the pages share."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: ``pending → awaiting_execution → running_execution → awaiting_scoring →
    running_scoring → (awaiting_human_scoring) → completed``, or ``failed`` / ``cancelled``."""

    PENDING = "pending"
    AWAITING_EXECUTION = "awaiting_execution"
    RUNNING_EXECUTION = "running_execution"
    AWAITING_SCORING = "awaiting_scoring"
    RUNNING_SCORING = "running_scoring"
    AWAITING_HUMAN_SCORING = "awaiting_human_scoring"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The way forward: a run only ever moves right along it (failed and cancelled end it anywhere).
PROGRESSION: tuple[RunStatus, ...] = (
    RunStatus.PENDING,
    RunStatus.AWAITING_EXECUTION,
    RunStatus.RUNNING_EXECUTION,
    RunStatus.AWAITING_SCORING,
    RunStatus.RUNNING_SCORING,
    RunStatus.AWAITING_HUMAN_SCORING,
    RunStatus.COMPLETED,
)
ALL: tuple[RunStatus, ...] = tuple(RunStatus)
# Nothing more happens to the run.
TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
# Not finished: it may still be cancelled or fail.
LIVE = frozenset(ALL) - TERMINAL
# Its system is (still) to be called.
EXECUTABLE = frozenset({RunStatus.PENDING, RunStatus.AWAITING_EXECUTION, RunStatus.RUNNING_EXECUTION})
# Every record is in: it can be (re-)scored.
SCORABLE = frozenset(
    {RunStatus.AWAITING_SCORING, RunStatus.RUNNING_SCORING, RunStatus.AWAITING_HUMAN_SCORING, RunStatus.COMPLETED}
)

# Executed and machine-scored to the end: its errored records may be executed again (a retry).
RETRYABLE = frozenset({RunStatus.AWAITING_HUMAN_SCORING, RunStatus.COMPLETED})
# It has the scores to compare a later run with ("previous": the newest earlier such run of a testset).
SCORED = frozenset({RunStatus.AWAITING_HUMAN_SCORING, RunStatus.COMPLETED})
# Nothing executes or scores it by machine any more: it may be archived (hidden from lists).
ARCHIVABLE = TERMINAL | {RunStatus.AWAITING_HUMAN_SCORING}


class RunSource(StrEnum):
    """Where a run came from; run lists filter by it."""

    API = "api"
    KICKOFF = "kickoff"
    PLAYGROUND = "playground"
    MONITOR = "monitor"
    CI = "ci"
    SCHEDULE = "schedule"


SOURCES: tuple[str, ...] = tuple(RunSource)
