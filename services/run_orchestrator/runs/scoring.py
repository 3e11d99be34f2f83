"""The one way score requests are published: for a batch of records as they are stored, for every
record of a re-scored run, and for a reviewer's verdict."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

from shared.events import HumanVerdict, ScoresRequested
from shared.messaging.bus import Bus

# Records per score.requested: enough for one transaction's worth of scores in the scorer, few
# enough that a run's scoring spreads over every scorer replica.
RECORDS_PER_REQUEST = 128


class ScoreRequests:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def for_records(
        self,
        run_id: uuid.UUID,
        record_ids: Iterable[uuid.UUID],
        metric_version_ids: Iterable[uuid.UUID],
        correlation_id: str,
    ) -> None:
        """Every record × every metric version, in requests of ``RECORDS_PER_REQUEST`` records."""
        versions = list(metric_version_ids)
        records = list(record_ids)
        if not versions or not records:
            return
        await asyncio.gather(
            *(
                self._bus.publish(
                    ScoresRequested(
                        run_id=run_id,
                        record_ids=records[i : i + RECORDS_PER_REQUEST],
                        metric_version_ids=versions,
                        correlation_id=correlation_id,
                    )
                )
                for i in range(0, len(records), RECORDS_PER_REQUEST)
            )
        )

    async def review(
        self, run_id: uuid.UUID, record_id: uuid.UUID, metric_version_id: uuid.UUID, verdict: HumanVerdict
    ) -> None:
        await self._bus.publish(
            ScoresRequested(
                run_id=run_id,
                record_ids=[record_id],
                metric_version_ids=[metric_version_id],
                human=verdict,
                correlation_id=f"run:{run_id}",
            )
        )
