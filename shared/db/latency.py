"""Latency percentiles — the median, the 95th and the 99th — exact, over the records that reported
a latency (above 0; a record not yet executed has none).

A run's are kept on its row (migration 0052) once its records are all in: computed in the
transaction that moves it to waiting for reviewers or to an end (a scan of its records, once per
execution), cleared when it executes again (a retry of its errored records). The query service
reads them with its totals and usage, and computes a slice's the same way from its records, and a
run's still going (GetRun) from its records so far.
"""

from __future__ import annotations

import uuid

from shared.db.pool import Connection
from shared.run_status import EXECUTABLE, TERMINAL, RunStatus

QUANTILES = (0.5, 0.95, 0.99)
# Once it is in one of them, a run's records and their latencies do not change.
SETTLED = TERMINAL | {RunStatus.AWAITING_HUMAN_SCORING}


def percentiles(column: str) -> str:
    """The aggregate of ``column``'s percentiles, a float8[] of QUANTILES' (NULL without a latency)."""
    quantiles = ", ".join(str(q) for q in QUANTILES)
    return f"percentile_cont(ARRAY[{quantiles}]) WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {column} > 0)"


# A run's percentiles over its records as they are now.
_OF_RECORDS = f"SELECT {percentiles('latency_ms')} AS p FROM records WHERE run_id = $1"
_KEEP = (
    "UPDATE runs SET latency_p50_ms = t.p[1], latency_p95_ms = t.p[2], latency_p99_ms = t.p[3]"
    f" FROM ({_OF_RECORDS}) AS t WHERE runs.id = $1"
)
_CLEAR = (
    "UPDATE runs SET latency_p50_ms = NULL, latency_p95_ms = NULL, latency_p99_ms = NULL"
    " WHERE id = $1 AND latency_p50_ms IS NOT NULL"
)


async def follow_status(conn: Connection, run_id: uuid.UUID, status: str) -> None:
    """Keep or clear the run's percentiles as it moves to ``status`` (in the caller's transaction)."""
    if status in SETTLED:
        await conn.execute(_KEEP, run_id)
    elif status in EXECUTABLE:
        await conn.execute(_CLEAR, run_id)


async def so_far(conn: Connection, run_id: uuid.UUID) -> list[float] | None:
    """The run's percentiles over its records in so far (a run still going: computed on read);
    None while none reported a latency."""
    found: list[float] | None = await conn.fetchval(_OF_RECORDS, run_id)
    return found
