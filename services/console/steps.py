"""The steps of a call (spans) as a record's and a call's pages show them: a tree, each step on a
timeline of the whole call (scorekeeper_sdk.tracing.in_tree orders them as the CLI does); and
steps summed over calls as a typical call (the run page's and the Calls page's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import spans_pb2

from scorekeeper_sdk.convert import from_proto
from scorekeeper_sdk.tracing import Span, in_tree

# The narrowest bar drawn (% of the timeline), so an instant step still shows.
MIN_WIDTH = 0.4


@dataclass(frozen=True)
class Step:
    """One step in the tree: its depth, and where its bar starts and how wide it is (% of the
    call's timeline: from its first step's start to its last step's end)."""

    span: Span
    depth: int
    left: float
    width: float


def steps(spans: Sequence[spans_pb2.Span]) -> list[Step]:
    tree = in_tree([from_proto(Span, s) for s in spans])
    if not tree:
        return []
    start = min(s.start_ms for _, s in tree)
    end = max(s.start_ms + s.duration_ms for _, s in tree)
    total = (end - start) or 1.0
    shown = []
    for depth, span in tree:
        left = min((span.start_ms - start) / total * 100, 100 - MIN_WIDTH)
        width = min(max(MIN_WIDTH, span.duration_ms / total * 100), 100 - left)
        shown.append(Step(span, depth, round(left, 2), round(width, 2)))
    return shown


def typical_bars(summaries: Sequence[qpb.StepSummary]) -> dict[int, tuple[float, float]]:
    """Steps summed over calls (GetRunSteps, ListCalls' with_steps) as a typical call: each step
    from its mean start for its mean duration, on the longest one's scale (% left, % width)."""
    end = max((s.mean_start_ms + s.mean_ms for s in summaries), default=0.0) or 1.0
    return {
        i: (
            round(min(s.mean_start_ms / end * 100, 100 - MIN_WIDTH - 0.2), 2),
            round(max(MIN_WIDTH, s.mean_ms / end * 100), 2),
        )
        for i, s in enumerate(summaries)
    }
