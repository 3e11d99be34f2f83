"""Human metrics in the run lifecycle, reviewer values, and the status explanation."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2

from services.query.explanation import MetricProgress, metric_explanation, run_explanation
from services.run_orchestrator.runs import rules
from services.run_orchestrator.runs.lifecycle import RunProgress, next_status
from services.run_orchestrator.runs.rules import human_value


@pytest.mark.parametrize(
    ("progress", "status"),
    [
        # 10 records (2 errored), 2 metrics of which 1 human: 8 machine + 8 human scores expected.
        pytest.param(RunProgress("running_execution", 10, 10, 2, 2, 0, 1, 0), "awaiting_scoring", id="nothing-scored"),
        pytest.param(RunProgress("awaiting_scoring", 10, 10, 2, 2, 5, 1, 0), "running_scoring", id="machine-partial"),
        pytest.param(
            RunProgress("running_scoring", 10, 10, 2, 2, 8, 1, 0),
            "awaiting_human_scoring",
            id="machine-done-humans-pending",
        ),
        pytest.param(
            RunProgress("awaiting_human_scoring", 10, 10, 2, 2, 15, 1, 7),
            "awaiting_human_scoring",
            id="one-review-missing",
        ),
        pytest.param(RunProgress("awaiting_human_scoring", 10, 10, 2, 2, 16, 1, 8), "completed", id="all-reviewed"),
        pytest.param(
            RunProgress("running_execution", 4, 4, 0, 1, 0, 1, 0), "awaiting_human_scoring", id="only-human-metrics"
        ),
        pytest.param(RunProgress("running_scoring", 10, 10, 10, 2, 0, 1, 0), "completed", id="all-records-errored"),
    ],
)
def test_next_status_with_human_metrics(progress: RunProgress, status: str) -> None:
    assert next_status(progress) == status


@pytest.mark.parametrize(
    ("output_type", "raw", "value"),
    [("boolean", True, True), ("int", 3, 3), ("int", 4.0, 4), ("float", 0.25, 0.25), ("float", 1, 1.0)],
)
def test_human_value_accepts(output_type: str, raw: Any, value: Any) -> None:
    result = human_value(output_type, raw)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("output_type", "raw", "message"),
    [
        ("boolean", 1, "value must be true or false for a boolean metric, got 1"),
        ("int", True, "value must be a number for an int metric, got True"),
        ("int", 3.5, "value must be a whole number within 1..5 for an int metric, got 3.5"),
        ("int", 0, "value must be a whole number within 1..5 for an int metric, got 0"),
        ("float", 1.5, "value must be within 0..1 for a float metric, got 1.5"),
        ("float", "0.5", "value must be a number for a float metric, got '0.5'"),
        ("int", float("inf"), "value must be a number for an int metric, got inf"),
        ("float", float("nan"), "value must be a number for a float metric, got nan"),
    ],
)
def test_human_value_rejects(output_type: str, raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        human_value(output_type, raw)
    assert str(caught.value) == message


M = MetricProgress


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("awaiting_execution", 240, 0, 0, []), "Waiting for the system to be executed on 240 testcase runs."),
        (("running_execution", 240, 40, 1, []), "Executing the system: 40 of 240 records in (1 errored)."),
        (
            (
                "running_scoring",
                240,
                240,
                1,
                [M("exact", "heuristic", 100, 0, 139), M("concise", "heuristic", 239, 0, 0)],
            ),
            "Scoring 240 records (1 errored and not scored): exact (139 pending).",
        ),
        (
            ("awaiting_human_scoring", 4, 4, 0, [M("exact", "heuristic", 4, 0, 0), M("helpful", "human", 1, 0, 3)]),
            "Waiting for reviewers: helpful (3).",
        ),
        (("completed", 240, 240, 1, []), "Completed: 240 records (1 errored and not scored), every score in."),
        (("cancelled", 240, 12, 0, []), "The run was cancelled with 12 of 240 records executed."),
        (("failed", 240, 0, 0, [], "bus down"), "The run failed: bus down"),
    ],
)
def test_run_explanation(args: tuple[Any, ...], sentence: str) -> None:
    assert run_explanation(*args) == sentence


def test_metric_explanation() -> None:
    assert metric_explanation(M("helpful", "human", 3, 1, 2)) == "3 scored, 1 errored, 2 waiting for a reviewer"
    assert metric_explanation(M("exact", "heuristic", 5, 0, 0)) == "5 scored"


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_a_verdict_json_cannot_hold_is_refused_as_such(number: float) -> None:
    with pytest.raises(ValueError, match=r"^value must be true / false or a finite number$"):
        rules.verdict_value("float", struct_pb2.Value(number_value=number))
    assert rules.verdict_value("int", struct_pb2.Value(number_value=4)) == 4
