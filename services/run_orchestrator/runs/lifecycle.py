"""Run status, derived from counts: pure, so every handler computes the same answer."""

from __future__ import annotations

from dataclasses import dataclass

from shared.run_status import PROGRESSION, TERMINAL, RunStatus


@dataclass(frozen=True)
class RunProgress:
    status: str
    expected_records: int
    records: int
    errored_records: int
    metrics: int
    scores_done: int
    # Of the above, the human-scored metrics and their finished scores.
    human_metrics: int = 0
    human_scores_done: int = 0

    @property
    def expected_scores(self) -> int:
        """Every record that completed is scored by every metric; errored records are not scored."""
        return (self.records - self.errored_records) * self.metrics

    @property
    def expected_human_scores(self) -> int:
        return (self.records - self.errored_records) * self.human_metrics


def next_status(progress: RunProgress) -> str:
    """The status the counts call for; never moves a run backwards or out of a terminal state."""
    if progress.status in TERMINAL:
        return progress.status
    machine_expected = progress.expected_scores - progress.expected_human_scores
    machine_done = progress.scores_done - progress.human_scores_done
    if progress.records < progress.expected_records:
        target = RunStatus.RUNNING_EXECUTION if progress.records > 0 else RunStatus.AWAITING_EXECUTION
    elif machine_done < machine_expected:
        target = RunStatus.RUNNING_SCORING if machine_done > 0 else RunStatus.AWAITING_SCORING
    elif progress.human_scores_done < progress.expected_human_scores:
        target = RunStatus.AWAITING_HUMAN_SCORING
    else:
        target = RunStatus.COMPLETED
    current = RunStatus(progress.status)
    return target if PROGRESSION.index(target) > PROGRESSION.index(current) else progress.status
