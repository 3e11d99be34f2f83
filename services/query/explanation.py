"""The status explanation of a run: per metric how far scoring is, and what the run waits for."""

from __future__ import annotations

from dataclasses import dataclass

from shared.run_status import RunStatus


@dataclass(frozen=True)
class MetricProgress:
    name: str
    eval_type: str
    scored: int
    errored: int
    pending: int


def metric_explanation(m: MetricProgress) -> str:
    parts = [f"{m.scored} scored"]
    if m.errored:
        parts.append(f"{m.errored} errored")
    if m.pending:
        parts.append(f"{m.pending} {'waiting for a reviewer' if m.eval_type == 'human' else 'pending'}")
    return ", ".join(parts)


def run_explanation(
    status: str,
    expected_records: int,
    records: int,
    errored_records: int,
    metrics: list[MetricProgress],
    error: str = "",
    retries: int = 0,
) -> str:
    """One sentence for people: why the run is where it is."""
    if status == "failed":
        return f"The run failed: {error}" if error else "The run failed."
    if status == "cancelled":
        return f"The run was cancelled with {records} of {expected_records} records executed."
    if retries and status in (RunStatus.AWAITING_EXECUTION, RunStatus.RUNNING_EXECUTION):
        left = expected_records - records
        return f"Retrying errored records (retry {retries}): {left} of {expected_records} to execute again."
    if status in (RunStatus.PENDING, RunStatus.AWAITING_EXECUTION):
        return f"Waiting for the system to be executed on {expected_records} testcase runs."
    if status == "running_execution":
        return f"Executing the system: {records} of {expected_records} records in ({errored_records} errored)."
    errored = f" ({errored_records} errored and not scored)" if errored_records else ""
    if status == "completed":
        return f"Completed: {records} records{errored}, every score in."
    waiting = [m for m in metrics if m.pending]
    if status == "awaiting_human_scoring":
        names = ", ".join(f"{m.name} ({m.pending})" for m in waiting if m.eval_type == "human")
        return f"Waiting for reviewers: {names}."
    if not waiting:
        return "Scoring: finishing."
    names = ", ".join(f"{m.name} ({m.pending} pending)" for m in waiting)
    return f"Scoring {records} records{errored}: {names}."
