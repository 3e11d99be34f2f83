"""A run's record counts and usage sums (``run_record_counts``, sharded by record id): what one
record adds, and the one statement that adds it. A record counted once is added once; a retry
takes its errored records out again (a negative share) until their new answers are counted."""

from __future__ import annotations

import uuid
from dataclasses import astuple, dataclass, fields

from shared.db.pool import Connection


@dataclass(frozen=True)
class RecordCounts:
    """The columns of ``run_record_counts`` (beyond the run and shard), as one delta."""

    records: int = 0
    errored: int = 0
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # What the system calls cost, over the records that said (``costed`` of them).
    cost_usd: float = 0.0
    costed: int = 0

    @classmethod
    def of(
        cls, status: str, latency_ms: float, prompt_tokens: int, completion_tokens: int, cost_usd: float | None
    ) -> RecordCounts:
        """One record's share."""
        return cls(
            records=1,
            errored=int(status == "errored"),
            latency_ms=latency_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd or 0.0,
            costed=int(cost_usd is not None),
        )

    def __add__(self, other: RecordCounts) -> RecordCounts:
        return RecordCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def __neg__(self) -> RecordCounts:
        return RecordCounts(*(-a for a in astuple(self)))


_COLUMNS = tuple(f.name for f in fields(RecordCounts))
_ADD = (
    f"INSERT INTO run_record_counts AS c (run_id, shard, {', '.join(_COLUMNS)})"
    f" VALUES ($1, $2, {', '.join(f'${i}' for i in range(3, 3 + len(_COLUMNS)))})"
    f" ON CONFLICT (run_id, shard) DO UPDATE SET {', '.join(f'{c} = c.{c} + EXCLUDED.{c}' for c in _COLUMNS)}"
)


async def add_counts(conn: Connection, run_id: uuid.UUID, shard: int, counts: RecordCounts) -> None:
    """Add ``counts`` to one shard of the run's counters (in the caller's transaction)."""
    await conn.execute(_ADD, run_id, shard, *astuple(counts))
