"""A run's previous run — the newest earlier run of its testset with scores
(scorekeeper_sdk.baselines) — and each metric's change against it: the run page's "vs previous"
column and its "Compare with the previous run"."""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache
from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk.baselines import SCORED, previous_runs
from services.console.backend import Api

# Previous runs looked up, by run and status: for this long (s), at most this many.
KEPT_S, KEPT_RUNS = 30, 1000
_KEPT: TTLCache[tuple[str, str], qpb.RunView | None] = TTLCache(maxsize=KEPT_RUNS, ttl=KEPT_S)


@dataclass(frozen=True)
class Moved:
    """One metric's change from the previous run: "+5.0 points" (a pass rate) or "-0.125" (a mean),
    better or worse (higher is better), and the previous run's metric version when it differs."""

    text: str
    direction: str  # better | worse | same
    before: str  # the previous run's result: "100.0%", "0.750"
    other_version: int = 0


async def previous_run(api: Api, run: qpb.RunView) -> str:
    """The previous run's id; "" when there is none."""
    request = previous_runs(run.project_id, run.testset_id, run.created_at)
    found = await api.call(api.stubs.query.ListRuns, request, qpb.ListRunsResponse)
    return found.runs[0].id if found.runs else ""


async def previous_of(api: Api, run: qpb.RunView) -> qpb.RunView | None:
    """The previous run of a run of a testset that has its scores (completed or waiting for
    reviewers): a run still going is not compared yet. Kept a while per run, since the page of a
    run waiting for reviewers polls its progress every second."""
    if not run.testset_id or run.status not in SCORED:
        return None
    key = (run.id, run.status)
    if key in _KEPT:
        return _KEPT[key]
    previous_id = await previous_run(api, run)
    found = None
    if previous_id:
        found = await api.call(api.stubs.query.GetRun, qpb.GetRunRequest(run_id=previous_id), qpb.RunView)
    _KEPT[key] = found
    return found


def changes(run: qpb.RunView, previous: qpb.RunView | None) -> dict[str, Moved]:
    """Each metric of the run that the previous run has a result for too: its change, by metric id."""
    theirs = {m.metric_id: m for m in previous.metrics} if previous else {}
    moved: dict[str, Moved] = {}
    for m in run.metrics:
        p = theirs.get(m.metric_id)
        field = "pass_rate" if m.output_type == "boolean" else "mean"
        if p is None or not (m.HasField(field) and p.HasField(field)):
            continue
        delta = getattr(m, field) - getattr(p, field)
        boolean = field == "pass_rate"
        text = f"{delta * 100:+.1f} points" if boolean else f"{delta:+.3f}"
        before = f"{p.pass_rate * 100:.1f}%" if boolean else f"{p.mean:.3f}"
        direction = "better" if delta > 1e-9 else "worse" if delta < -1e-9 else "same"
        other = p.metric_version if p.metric_version != m.metric_version else 0
        moved[m.metric_id] = Moved(text, direction, before, other)
    return moved
