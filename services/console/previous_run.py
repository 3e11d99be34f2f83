"""A run's previous run (RunView.previous_run_id, shared.db.previous_run: the newest earlier run with
scores of its schedule, monitor or testset) and each metric's change against it: the run page's
"vs previous" column and the runs list's chips."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from cachetools import TTLCache
from scorekeeper.v1 import query_pb2 as qpb

from scorekeeper_sdk.baselines import moved
from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.views import Run
from services.console.backend import Api
from shared.run_status import SCORED

# Previous runs read, by the run and its previous run's id: for this long (s), at most this many.
KEPT_S, KEPT_RUNS = 30, 1000
_KEPT: TTLCache[tuple[str, str], qpb.RunView] = TTLCache(maxsize=KEPT_RUNS, ttl=KEPT_S)


@dataclass(frozen=True)
class Moved:
    """One metric's change from the previous run: "+5.0 points" (a pass rate) or "-0.125" (a mean),
    better or worse (higher is better), and the previous run's metric version when it differs."""

    text: str
    direction: str  # better | worse | same
    before: str  # the previous run's result: "100.0%", "0.750"
    other_version: int = 0

    @property
    def short(self) -> str:
        """The change alone, for a chip: "-25.0" (points), "+0.250"."""
        return self.text.removesuffix(" points")


async def previous_of(api: Api, run: qpb.RunView) -> qpb.RunView | None:
    """The previous run (RunView.previous_run_id) of a run that has its scores (completed or
    waiting for reviewers): a run still going is not compared yet. Kept a while per run, since the
    page of a run waiting for reviewers polls its progress every second."""
    if not run.previous_run_id or run.status not in SCORED:
        return None
    key = (run.id, run.previous_run_id)
    if key not in _KEPT:
        request = qpb.GetRunRequest(run_id=run.previous_run_id)
        _KEPT[key] = await api.call(api.stubs.query.GetRun, request, qpb.RunView)
    return _KEPT[key]


def changes(run: qpb.RunView, previous: qpb.RunView | None) -> dict[str, Moved]:
    """Each metric of the run that the previous run has a result for too: its change, by metric id
    (counted as the CLI's runs list counts it: scorekeeper_sdk.baselines.moved)."""
    if previous is None:
        return {}
    deltas = moved(from_proto(Run, run), from_proto(Run, previous))
    theirs = {m.metric_id: m for m in previous.metrics}
    said: dict[str, Moved] = {}
    for m in run.metrics:
        if (delta := deltas.get(m.metric_id)) is None:
            continue
        p = theirs[m.metric_id]
        boolean = m.output_type == "boolean"
        text = f"{delta:+.1f} points" if boolean else f"{delta:+.3f}"
        before = f"{p.pass_rate * 100:.1f}%" if boolean else f"{p.mean:.3f}"
        direction = "better" if delta > 1e-9 else "worse" if delta < -1e-9 else "same"
        other = p.metric_version if p.metric_version != m.metric_version else 0
        said[m.metric_id] = Moved(text, direction, before, other)
    return said


# How a run's comparison with its previous run is opened: its regressions, the largest drop first
# (as eval and the CLI list them).
REGRESSIONS_FIRST = (("regressions", "1"), ("order", "delta"))


def paired(run: qpb.RunView, previous: qpb.RunView | None) -> bool:
    """Whether the run compares with its previous run testcase by testcase: both of one testset (a
    schedule's testset may have changed between them; a monitor's window has none)."""
    return previous is not None and bool(run.testset_id) and previous.testset_id == run.testset_id


def against_url(run: qpb.RunView, previous: qpb.RunView) -> str:
    """Where "vs previous" leads: the comparison's regressions when the two pair, else the previous run."""
    base = f"/projects/{run.project_id}"
    if not paired(run, previous):
        return f"{base}/runs/{previous.id}"
    return f"{base}/compare?" + urlencode([("baseline", previous.id), ("run", run.id), *REGRESSIONS_FIRST])


@dataclass(frozen=True)
class Against:
    """A listed run against its previous run: each metric's change, whether the two compare testcase
    by testcase (paired), and where its "vs previous run" link leads."""

    moved: dict[str, Moved]
    comparable: bool
    url: str


async def moved_on_page(api: Api, runs: Sequence[qpb.RunView]) -> dict[str, Against]:
    """Each listed run against its previous run (the runs list's chips): a previous run on the page
    is read from it, the others at once (GetRun)."""
    compared = [r for r in runs if r.previous_run_id and r.status in SCORED]
    listed = {r.id: r for r in runs}
    wanted = {r.previous_run_id for r in compared} - set(listed)
    read = await asyncio.gather(
        *(api.call(api.stubs.query.GetRun, qpb.GetRunRequest(run_id=i), qpb.RunView) for i in wanted)
    )
    theirs = {**listed, **{r.id: r for r in read}}
    against = {}
    for r in compared:
        previous = theirs[r.previous_run_id]
        against[r.id] = Against(changes(r, previous), paired(r, previous), against_url(r, previous))
    return against
