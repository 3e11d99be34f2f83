"""Run status derived from counts: forwards only, never out of a terminal state."""

from __future__ import annotations

import pytest

from services.run_orchestrator.runs.lifecycle import RunProgress, next_status
from shared.run_status import ALL as ALL_STATUSES
from shared.run_status import PROGRESSION as ORDER
from shared.run_status import TERMINAL


def progress(
    status: str, expected_records: int = 10, records: int = 0, errored: int = 0, metrics: int = 2, scores: int = 0
) -> RunProgress:
    return RunProgress(
        status=status,
        expected_records=expected_records,
        records=records,
        errored_records=errored,
        metrics=metrics,
        scores_done=scores,
    )


@pytest.mark.parametrize(
    ("run", "status"),
    [
        pytest.param(progress("pending"), "awaiting_execution", id="pending-no-records"),
        pytest.param(progress("awaiting_execution"), "awaiting_execution", id="awaiting-no-records-stays"),
        pytest.param(progress("pending", records=1), "running_execution", id="pending-first-record"),
        pytest.param(progress("awaiting_execution", records=9), "running_execution", id="partial-records"),
        pytest.param(
            progress("running_execution", records=5, errored=5), "running_execution", id="partial-records-all-errored"
        ),
        pytest.param(progress("running_execution", records=10), "awaiting_scoring", id="all-records-no-scores"),
        pytest.param(progress("pending", records=10), "awaiting_scoring", id="pending-jumps-to-awaiting-scoring"),
        pytest.param(progress("awaiting_scoring", records=10, scores=1), "running_scoring", id="first-score"),
        pytest.param(progress("running_execution", records=10, scores=19), "running_scoring", id="one-score-missing"),
        pytest.param(progress("running_scoring", records=10, scores=20), "completed", id="all-scores"),
        pytest.param(progress("running_execution", records=10, scores=20), "completed", id="all-scores-skip-ahead"),
        pytest.param(
            progress("running_scoring", records=10, errored=3, scores=14), "completed", id="errored-records-not-scored"
        ),
        pytest.param(
            progress("running_scoring", records=10, errored=3, scores=13),
            "running_scoring",
            id="errored-records-one-score-missing",
        ),
        pytest.param(
            progress("running_execution", records=10, errored=10),
            "completed",
            id="all-records-errored-zero-expected-scores",
        ),
        pytest.param(
            progress("running_execution", records=10, metrics=0), "completed", id="no-metrics-completed-once-records-in"
        ),
        pytest.param(
            progress("running_execution", records=9, metrics=0),
            "running_execution",
            id="no-metrics-records-still-missing",
        ),
        pytest.param(progress("pending", expected_records=0, metrics=2), "completed", id="empty-testset"),
        pytest.param(
            progress("awaiting_human_scoring", records=10, scores=20), "completed", id="human-scoring-to-completed"
        ),
    ],
)
def test_next_status(run: RunProgress, status: str) -> None:
    assert next_status(run) == status


@pytest.mark.parametrize(
    ("run", "status"),
    [
        pytest.param(
            progress("running_scoring", records=10), "running_scoring", id="running-scoring-counts-say-awaiting-scoring"
        ),
        pytest.param(
            progress("running_scoring", records=4), "running_scoring", id="running-scoring-counts-say-running-execution"
        ),
        pytest.param(progress("awaiting_scoring"), "awaiting_scoring", id="awaiting-scoring-counts-say-no-records"),
        pytest.param(progress("running_execution"), "running_execution", id="running-execution-counts-say-awaiting"),
        pytest.param(
            progress("awaiting_human_scoring", records=10, scores=3),
            "awaiting_human_scoring",
            id="human-scoring-counts-say-running-scoring",
        ),
    ],
)
def test_next_status_never_moves_backwards(run: RunProgress, status: str) -> None:
    assert next_status(run) == status


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize(
    "counts",
    [
        pytest.param({}, id="no-records"),
        pytest.param({"records": 5}, id="partial-records"),
        pytest.param({"records": 10}, id="all-records-no-scores"),
        pytest.param({"records": 10, "scores": 7}, id="partial-scores"),
        pytest.param({"records": 10, "scores": 20}, id="all-scores"),
    ],
)
def test_terminal_status_never_changes(terminal: str, counts: dict[str, int]) -> None:
    assert next_status(progress(terminal, **counts)) == terminal


@pytest.mark.parametrize(
    ("run", "expected_scores"),
    [
        pytest.param(progress("pending"), 0, id="no-records"),
        pytest.param(progress("pending", records=10, metrics=3), 30, id="ten-records-three-metrics"),
        pytest.param(progress("pending", records=10, errored=4, metrics=3), 18, id="errored-excluded"),
        pytest.param(progress("pending", records=10, metrics=0), 0, id="no-metrics"),
    ],
)
def test_expected_scores(run: RunProgress, expected_scores: int) -> None:
    assert run.expected_scores == expected_scores


def test_status_vocabulary() -> None:
    assert ORDER == (
        "pending",
        "awaiting_execution",
        "running_execution",
        "awaiting_scoring",
        "running_scoring",
        "awaiting_human_scoring",
        "completed",
    )
    assert {"completed", "failed", "cancelled"} == TERMINAL
    assert set(ALL_STATUSES) == set(ORDER) | TERMINAL
