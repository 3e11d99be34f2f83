"""What a run request must be: source, trials, concurrency."""

from __future__ import annotations

import pytest

from services.run_orchestrator.runs.rules import validate_run


@pytest.mark.parametrize(
    ("source", "trials", "max_concurrency", "result"),
    [
        pytest.param("", 0, 0, ("api", 1), id="defaults"),
        pytest.param("ci", 3, 8, ("ci", 3), id="explicit"),
        pytest.param("monitor", 100, 0, ("monitor", 100), id="max-trials"),
        pytest.param("kickoff", 1, 1, ("kickoff", 1), id="one-trial"),
        pytest.param("playground", 0, 0, ("playground", 1), id="trials-0-means-1"),
    ],
)
def test_validate_run_accepts(source: str, trials: int, max_concurrency: int, result: tuple[str, int]) -> None:
    assert validate_run(source, trials, max_concurrency) == result


@pytest.mark.parametrize(
    ("source", "trials", "max_concurrency", "message"),
    [
        pytest.param(
            "cron",
            1,
            0,
            "source must be one of api, kickoff, playground, monitor, ci, schedule, got 'cron'",
            id="bad-source",
        ),
        pytest.param(
            "API",
            1,
            0,
            "source must be one of api, kickoff, playground, monitor, ci, schedule, got 'API'",
            id="source-case-sensitive",
        ),
        pytest.param("api", 101, 0, "trials must be within 1..100, got 101", id="trials-101"),
        pytest.param("api", -1, 0, "trials must be within 1..100, got -1", id="trials-negative"),
        pytest.param("api", 1, -1, "max_concurrency must not be negative, got -1", id="negative-concurrency"),
    ],
)
def test_validate_run_rejects(source: str, trials: int, max_concurrency: int, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_run(source, trials, max_concurrency)
    assert str(caught.value) == message
