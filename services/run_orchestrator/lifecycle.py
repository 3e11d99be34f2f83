"""Run status, derived from counts: pure, so every handler computes the same answer."""

from __future__ import annotations

from dataclasses import dataclass

ORDER = (
    "pending",
    "awaiting_execution",
    "running_execution",
    "awaiting_scoring",
    "running_scoring",
    "awaiting_human_scoring",
    "completed",
)
TERMINAL = frozenset({"completed", "failed", "cancelled"})
ALL_STATUSES = (*ORDER, "failed", "cancelled")


@dataclass(frozen=True)
class RunProgress:
    status: str
    expected_records: int
    records: int
    errored_records: int
    metrics: int
    scores_done: int

    @property
    def expected_scores(self) -> int:
        """Every record that completed is scored by every metric; errored records are not scored."""
        return (self.records - self.errored_records) * self.metrics


def next_status(progress: RunProgress) -> str:
    """The status the counts call for; never moves a run backwards or out of a terminal state."""
    if progress.status in TERMINAL:
        return progress.status
    if progress.records < progress.expected_records:
        target = "running_execution" if progress.records > 0 else "awaiting_execution"
    elif progress.scores_done >= progress.expected_scores:
        target = "completed"
    elif progress.scores_done == 0:
        target = "awaiting_scoring"
    else:
        target = "running_scoring"
    return target if ORDER.index(target) > ORDER.index(progress.status) else progress.status
