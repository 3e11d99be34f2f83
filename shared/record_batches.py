"""Records packed into record.produced events: as many as fit under the bus's event size, at most
``max_records`` each. One packer for the executor (which streams a chunk's records) and for
ingest (which has them all at once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from shared.events import MAX_BATCH, ProducedRecord, RecordsProduced
from shared.json_limits import MAX_EVENT_BYTES, MAX_RECORD_BYTES, record_size

# A batch's records together: what an event may carry less its envelope. Any one storable record
# (at most MAX_RECORD_BYTES) fits in an event of its own.
_BATCH_BYTES = MAX_EVENT_BYTES - (MAX_EVENT_BYTES - MAX_RECORD_BYTES) // 2


class RecordPacker:
    """Collects one run's records into events of at most ``max_records`` records and the bus's size."""

    def __init__(self, run_id: uuid.UUID, correlation_id: str, *, max_records: int = 64) -> None:
        self._run_id = run_id
        self._correlation_id = correlation_id
        self._max_records = min(max_records, MAX_BATCH)
        self._records: list[ProducedRecord] = []
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: ProducedRecord) -> list[RecordsProduced]:
        """Add a storable record (json_limits.storable); returns the events that are full now."""
        size = record_size(record) + 1
        full = []
        if self._records and self._bytes + size > _BATCH_BYTES:
            full.append(self._event())
        self._records.append(record)
        self._bytes += size
        if len(self._records) >= self._max_records:
            full.append(self._event())
        return full

    def take(self) -> RecordsProduced | None:
        """The event holding what was collected (None when nothing was)."""
        return self._event() if self._records else None

    def _event(self) -> RecordsProduced:
        event = RecordsProduced(run_id=self._run_id, records=self._records, correlation_id=self._correlation_id)
        self._records, self._bytes = [], 0
        return event


def pack(
    run_id: uuid.UUID, records: Iterable[ProducedRecord], correlation_id: str, *, max_records: int = MAX_BATCH
) -> list[RecordsProduced]:
    """Every record in events, in order."""
    packer = RecordPacker(run_id, correlation_id, max_records=max_records)
    events = [event for record in records for event in packer.add(record)]
    if (last := packer.take()) is not None:
        events.append(last)
    return events
