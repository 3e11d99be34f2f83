"""GetScoreDistribution: how a run's scores spread, per pinned metric — the counts a mean hides."""

from __future__ import annotations

import math
from collections import defaultdict

from scorekeeper.v1 import query_pb2 as pb

from services.query.db import Reader
from shared.edge.convert import parse_uuid
from shared.edge.errors import not_found

FLOAT_BINS = 10
INT_RANGE = (1, 5)

# The pinned versions of run $1, in pin order, with their metrics.
PINNED = (
    "SELECT v.id AS version_id, v.metric_id, m.name, v.output_type"
    " FROM runs r CROSS JOIN LATERAL unnest(r.metric_version_ids) WITH ORDINALITY AS p(version_id, n)"
    " JOIN metric_versions v ON v.id = p.version_id JOIN metrics m ON m.id = v.metric_id"
    " WHERE r.id = $1 ORDER BY p.n"
)
# Completed scores of run $1 by version and value (a float's value to its bin's index).
_COUNTS = (
    "SELECT s.metric_version_id, CASE WHEN v.output_type = 'float'"
    f" THEN least(greatest(floor(s.value_num * {FLOAT_BINS}), 0), {FLOAT_BINS - 1}) ELSE s.value_num END AS bucket,"
    " count(*)::int AS n FROM scores s JOIN metric_versions v ON v.id = s.metric_version_id"
    " WHERE s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[]) AND s.status = 'completed'"
    " AND s.value_num IS NOT NULL GROUP BY 1, 2"
)


# With trials, per version $2 of run $1: the testcases with two or more completed pass / fail
# scores, and those whose scores disagree.
_TRIALS = (
    "SELECT metric_version_id, count(*)::int AS repeated,"
    " count(*) FILTER (WHERE any_passed AND NOT all_passed)::int AS unstable"
    " FROM (SELECT s.metric_version_id, r.testcase_id, bool_or(s.passed) AS any_passed,"
    "   bool_and(s.passed) AS all_passed"
    "   FROM scores s JOIN records r ON r.id = s.record_id"
    "   WHERE s.run_id = $1 AND s.metric_version_id = ANY($2::uuid[]) AND s.status = 'completed'"
    "   AND s.passed IS NOT NULL GROUP BY 1, 2 HAVING count(*) >= 2) t GROUP BY 1"
)


def buckets(output_type: str, counts: dict[float, int]) -> list[pb.ScoreBucket]:
    """Every bucket of the output type in value order, with the counts of those that hold scores
    (``counts``: an int's or a boolean's value, a float's bin index, to its count)."""
    if output_type == "boolean":
        return [
            pb.ScoreBucket(label="fail", lower=0, upper=0, count=counts.get(0.0, 0)),
            pb.ScoreBucket(label="pass", lower=1, upper=1, count=counts.get(1.0, 0)),
        ]
    if output_type == "float":
        return [
            pb.ScoreBucket(
                label=f"{i / FLOAT_BINS:.1f}–{(i + 1) / FLOAT_BINS:.1f}",
                lower=i / FLOAT_BINS,
                upper=(i + 1) / FLOAT_BINS,
                count=counts.get(float(i), 0),
            )
            for i in range(FLOAT_BINS)
        ]
    # int: 1 … 5, widened to any value a score holds outside it
    low = min([INT_RANGE[0], *(math.floor(v) for v in counts)])
    high = max([INT_RANGE[1], *(math.floor(v) for v in counts)])
    return [
        pb.ScoreBucket(label=str(v), lower=v, upper=v, count=sum(n for k, n in counts.items() if math.floor(k) == v))
        for v in range(low, high + 1)
    ]


class DistributionReads:
    """GetScoreDistribution."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def get_score_distribution(self, request: pb.GetScoreDistributionRequest) -> pb.ScoreDistribution:
        run_id = parse_uuid(request.run_id, "run_id")
        async with self._reader.snapshot() as conn:
            trials = await conn.fetchval("SELECT trials FROM runs WHERE id = $1", run_id)
            if trials is None:
                raise not_found(f"run {run_id} does not exist")
            pinned = await conn.fetch(PINNED, run_id)
            versions = [p["version_id"] for p in pinned]
            rows = await conn.fetch(_COUNTS, run_id, versions)
            trial_rows = await conn.fetch(_TRIALS, run_id, versions) if trials > 1 else []
        # version → (repeated testcases, unstable ones)
        repeated = {r["metric_version_id"]: (r["repeated"], r["unstable"]) for r in trial_rows}
        counts: dict[object, dict[float, int]] = defaultdict(dict)
        for row in rows:
            counts[row["metric_version_id"]][float(row["bucket"])] = row["n"]
        return pb.ScoreDistribution(
            run_id=str(run_id),
            metrics=[
                pb.MetricDistribution(
                    metric_id=str(p["metric_id"]),
                    name=p["name"],
                    output_type=p["output_type"],
                    scored=sum(counts[p["version_id"]].values()),
                    buckets=buckets(p["output_type"], counts[p["version_id"]]),
                    repeated_testcases=repeated.get(p["version_id"], (0, 0))[0],
                    unstable_testcases=repeated.get(p["version_id"], (0, 0))[1],
                )
                for p in pinned
            ],
        )
