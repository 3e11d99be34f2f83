"""What the comparisons of two or more runs read: each run's records joined, in one hash join, to
their completed scores of the metric versions the run pins. CompareRuns and CompareRunMatrix
aggregate it per testcase and metric; written for runs of 100,000 testcases (a probe of
`records_pkey` per score cost 0.8 s a pass there: docs/query-performance.md)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from services.query import metrics
from services.query.db import Where


def pinned_scores(
    where: Where,
    runs: str,
    pins: Mapping[uuid.UUID, Mapping[uuid.UUID, metrics.Pinned]],
    metric_ids: Sequence[uuid.UUID],
    narrowed: str = "true",
) -> str:
    """CTEs to follow a WITH: ``rec``, the records r of the runs (``runs``, a uuid[] expression)
    meeting ``narrowed``; ``scored``, one row per completed score of a compared metric at the
    version its run pins (``pins``: per run, metrics.pinned's): (run_id, testcase_id, metric_id,
    value). Its parameters are added to ``where``."""
    pinned = list(dict.fromkeys((run, pinned[m].version_id, m) for run, pinned in pins.items() for m in metric_ids))
    run_ids, version_ids, pinned_metrics = (where.param(list(column)) for column in zip(*pinned, strict=True))
    return (
        "rec AS MATERIALIZED (SELECT r.id, r.run_id, r.testcase_id, r.latency_ms FROM records r"
        f"   WHERE r.run_id = ANY({runs}) AND {narrowed}),"
        " scored AS (SELECT s.run_id, rec.testcase_id, p.metric_id, s.value_num AS value"
        f"   FROM scores s JOIN unnest({run_ids}::uuid[], {version_ids}::uuid[], {pinned_metrics}::uuid[])"
        "     AS p(run_id, version_id, metric_id) ON p.run_id = s.run_id AND p.version_id = s.metric_version_id"
        "   JOIN rec ON rec.id = s.record_id"
        f"   WHERE s.run_id = ANY({runs}) AND s.status = 'completed')"
    )
