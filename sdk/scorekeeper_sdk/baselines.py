"""The baseline a run is compared with when none is named: "previous", the newest run created
before it that has scores to compare (completed, or waiting for reviewers; not archived) — of the
same testset (a scheduled run: of its schedule). The query service names it (RunView.previous_run_id:
the console's "vs previous" and "Compare with the previous run"); among the runs of the testset with
every one of some tags ("main": the main branch's runs), the SDK's `previous_run(…, tags=…)` asks
ListRuns for it here. `scorekeeper eval
--baseline previous [--baseline-tag T]` and `runs compare previous RUN` use `previous_run`."""

from __future__ import annotations

from collections.abc import Sequence

from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk.views import Run

# What --baseline / baseline= say to mean the previous run.
PREVIOUS = "previous"
# The statuses of a run with scores to compare (shared.run_status.SCORED on the server side).
SCORED = ("completed", "awaiting_human_scoring")


def previous_runs(
    project_id: str, testset_id: str, created_before: str, tags: Sequence[str] = ()
) -> qpb.ListRunsRequest:
    """The ListRuns request whose first run is the previous one among those with ``tags`` (newest
    first; without tags, RunView.previous_run_id names it)."""
    return qpb.ListRunsRequest(
        project_id=project_id,
        testset_id=testset_id,
        created_before=created_before,
        statuses=list(SCORED),
        tags=list(tags),
        page_size=1,
    )


def described(testset_name: str, tags: Sequence[str] = ()) -> str:
    """What the previous run is, said when there is none: 'no earlier run of testset "qa" tagged main
    with scores'."""
    tagged = f" tagged {', '.join(tags)}" if tags else ""
    return f'no earlier run of testset "{testset_name}"{tagged} with scores (completed or waiting for reviewers)'


def moved(run: Run, previous: Run | None) -> dict[str, float]:
    """Each metric of ``run`` that ``previous`` has a result for too (a run with its scores only):
    its change, by metric id — in points for a pass rate (-35.0), the mean's difference otherwise
    (+0.25); the console's "vs previous" counts them the same way."""
    if previous is None or run.status not in SCORED:
        return {}
    theirs = {m.metric_id: m for m in previous.metrics}
    changes = {}
    for m in run.metrics:
        before = theirs.get(m.metric_id)
        if before is not None and m.value is not None and before.value is not None:
            changes[m.metric_id] = (m.value - before.value) * (100 if m.output_type == "boolean" else 1)
    return changes
