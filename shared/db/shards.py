"""A finished run's counter shards folded into one row each.

The orchestrator counts a run's records in ``run_record_counts`` and the scorer sums its scores in
``run_metric_aggregates``, each on 16 shard rows (shared/ids.py ``counter_shard``), so that
concurrent writers of one run do not queue on one row. Every read sums the shards. Once the run
is finished, nothing contends any more, and the shards only cost the reads: a run's history
point sums 16 rows per metric and trial. The orchestrator folds them into shard 0 in the
transaction that finishes the run.

Folding moves sums, so it is correct whatever happens around it: a score written afterwards (a
human review of a completed run) adds to a shard row again, and the reads sum them all; a write
racing the fold either lands before the DELETE takes its row (and is moved with it) or after (and
creates the row anew).
"""

from __future__ import annotations

import uuid

from shared.db.pool import Connection

_AGGREGATE_SUMS = (
    "scored", "passed", "sum", "sum_sq", "errored", "pending", "true_pos", "false_pos", "false_neg", "true_neg",
    "prompt_tokens", "completion_tokens", "cost_usd",
)  # fmt: skip
_COUNT_SUMS = ("records", "errored", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "costed")


def _fold(table: str, keys: tuple[str, ...], sums: tuple[str, ...]) -> str:
    columns = ", ".join(("run_id", *keys, "shard", *sums))
    grouped = ", ".join(keys)
    added = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in sums)
    return (
        f"WITH moved AS (DELETE FROM {table} WHERE run_id = $1 AND shard <> 0 RETURNING *)"
        f" INSERT INTO {table} AS t ({columns})"
        f" SELECT $1, {grouped + ', ' if grouped else ''}0, {', '.join(f'sum({c})' for c in sums)}"
        f" FROM moved{' GROUP BY ' + grouped if grouped else ''}"
        f"{'' if grouped else ' HAVING count(*) > 0'}"
        f" ON CONFLICT (run_id, {grouped + ', ' if grouped else ''}shard) DO UPDATE SET {added}"
    )


FOLD_AGGREGATES = _fold("run_metric_aggregates", ("metric_version_id", "trial"), _AGGREGATE_SUMS)
FOLD_COUNTS = _fold("run_record_counts", (), _COUNT_SUMS)


async def fold_run_shards(conn: Connection, run_id: uuid.UUID) -> None:
    """Fold the run's record counts and metric aggregates into shard 0 (in the caller's transaction)."""
    await conn.execute(FOLD_COUNTS, run_id)
    await conn.execute(FOLD_AGGREGATES, run_id)
