"""The one way score requests are published: for a record's metrics as it is stored, for every
record of a re-scored run, and for a reviewer's verdict."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

from shared.events import HumanVerdict, ScoreRequested
from shared.messaging.bus import Bus


class ScoreRequests:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def for_records(
        self,
        run_id: uuid.UUID,
        record_ids: Iterable[uuid.UUID],
        metric_version_ids: Iterable[uuid.UUID],
        correlation_id: str,
        *,
        batch: int = 1,
    ) -> None:
        """One score.requested per record × metric version, or per ``batch`` records × metric version."""
        versions, records = list(metric_version_ids), list(record_ids)
        groups = (
            [records[i : i + batch] for i in range(0, len(records), batch)] if batch > 1 else [[r] for r in records]
        )
        await asyncio.gather(
            *(
                self._bus.publish(
                    ScoreRequested(
                        run_id=run_id,
                        record_id=group[0],
                        record_ids=group if len(group) > 1 else [],
                        metric_version_id=version,
                        correlation_id=correlation_id,
                    )
                )
                for group in groups
                for version in versions
            )
        )

    async def review(
        self, run_id: uuid.UUID, record_id: uuid.UUID, metric_version_id: uuid.UUID, verdict: HumanVerdict
    ) -> None:
        await self._bus.publish(
            ScoreRequested(
                run_id=run_id,
                record_id=record_id,
                metric_version_id=metric_version_id,
                human=verdict,
                correlation_id=f"run:{run_id}",
            )
        )
