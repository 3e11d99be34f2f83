"""A run's previous run: what it is compared with when no baseline is named — the run page's and
the runs list's "vs previous" (RunView.previous_run_id), `--baseline previous`, a webhook's
changes. The newest run created before it that has scores (shared.run_status.SCORED: completed,
or waiting for reviewers), neither archived nor a playground try: of the same schedule (the night
before), else of the same monitor (the window before), else of the same testset. Each of the three
reads its own index from the run's place backwards (runs_by_schedule, runs_monitor_created,
runs_testset_created)."""

from __future__ import annotations

from shared.run_status import SCORED

_SCORED = "'{" + ",".join(sorted(SCORED)) + "}'::text[]"
# After previous_run_joins: the previous run's id, NULL when there is none.
PREVIOUS_RUN_ID = "coalesce(prev_s.id, prev_m.id, prev_t.id)"


def _newest_before(run: str, column: str, alias: str, when: str) -> str:
    return (
        f" LEFT JOIN LATERAL (SELECT p.id FROM runs p WHERE {when} AND p.{column} = {run}.{column}"
        f"   AND p.created_at < {run}.created_at AND p.status = ANY({_SCORED})"
        "   AND p.archived_at IS NULL AND NOT p.playground_try"
        f"   ORDER BY p.created_at DESC, p.id DESC LIMIT 1) {alias} ON true"
    )


def previous_run_joins(run: str = "r") -> str:
    """The joins after a FROM of ``runs`` aliased ``run`` that find each run's previous run: select
    PREVIOUS_RUN_ID."""
    return (
        _newest_before(run, "schedule_id", "prev_s", f"{run}.schedule_id IS NOT NULL")
        + _newest_before(run, "monitor_id", "prev_m", f"{run}.schedule_id IS NULL AND {run}.monitor_id IS NOT NULL")
        + _newest_before(run, "testset_id", "prev_t", f"{run}.schedule_id IS NULL AND {run}.monitor_id IS NULL")
    )
