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
