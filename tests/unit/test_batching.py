"""The pieces of the batched pipeline without a broker: the batcher of deliveries, the packer of
records into events under the bus's size, the executor's outbox, and a settle that cannot hang."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from services.system_executor.outbox import Outbox
from shared.events import ProducedRecord, RecordsProduced
from shared.json_limits import MAX_EVENT_BYTES, MAX_RECORD_BYTES
from shared.messaging import bus as bus_module
from shared.messaging.batching import Batcher
from shared.messaging.bus import Bus
from shared.messaging.policy import Action, Decision
from shared.record_batches import RecordPacker, pack

RUN = uuid.uuid4()


def produced(size: int = 10, *, trial: int = 0) -> ProducedRecord:
    return ProducedRecord(testcase_id=uuid.uuid4(), trial=trial, outputs={"response": "x" * size}, status="completed")


# -- the batcher ---------------------------------------------------------------------------------


async def test_a_full_batch_goes_at_once_and_the_rest_after_the_wait() -> None:
    batches: list[list[int]] = []

    async def handle(events: list[int]) -> list[Decision]:
        batches.append(events)
        return [Decision(Action.ACK)] * len(events)

    batcher: Batcher[int] = Batcher(handle, max_batch=3, linger_s=0.05)
    started = time.monotonic()
    decisions = await asyncio.gather(*(batcher.submit(i) for i in range(7)))
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert decisions == [Decision(Action.ACK)] * 7
    assert 0.04 < time.monotonic() - started < 1.0


async def test_each_submitter_gets_the_decision_for_its_own_event() -> None:
    async def handle(events: list[int]) -> list[Decision]:
        return [Decision(Action.DEAD_LETTER, reason=str(e)) if e % 2 else Decision(Action.ACK) for e in events]

    batcher: Batcher[int] = Batcher(handle, max_batch=10, linger_s=0.01)
    decisions = await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    assert [d.action for d in decisions] == [Action.ACK, Action.DEAD_LETTER, Action.ACK, Action.DEAD_LETTER]
    assert decisions[3].reason == "3"


async def test_close_hands_over_what_waits_without_the_wait() -> None:
    handled: list[list[int]] = []

    async def handle(events: list[int]) -> list[Decision]:
        handled.append(events)
        return [Decision(Action.ACK)] * len(events)

    batcher: Batcher[int] = Batcher(handle, max_batch=10, linger_s=60)
    waiting = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    await asyncio.wait_for(batcher.close(), 1)
    assert await waiting == Decision(Action.ACK)
    assert handled == [[1]]


# -- the packer ----------------------------------------------------------------------------------


def test_records_are_packed_by_count() -> None:
    records = [produced() for _ in range(10)]
    events = pack(RUN, records, "c", max_records=4)
    assert [len(e.records) for e in events] == [4, 4, 2]
    assert [r for e in events for r in e.records] == records
    assert {(e.run_id, e.correlation_id, e.schema_version) for e in events} == {(RUN, "c", 2)}


def test_records_are_packed_under_the_event_size_and_every_event_fits_the_bus() -> None:
    big = MAX_RECORD_BYTES // 3
    records = [produced(big) for _ in range(7)] + [produced(MAX_RECORD_BYTES - 400)]
    events = pack(RUN, records, "c")
    assert [len(e.records) for e in events] == [3, 3, 1, 1]
    assert all(len(e.model_dump_json().encode()) <= MAX_EVENT_BYTES for e in events)


def test_the_packer_reports_what_it_holds() -> None:
    packer = RecordPacker(RUN, "c", max_records=2)
    assert packer.add(produced()) == []
    assert len(packer) == 1
    (full,) = packer.add(produced())
    assert len(full.records) == 2 and len(packer) == 0
    assert packer.take() is None


# -- the executor's outbox -----------------------------------------------------------------------


async def test_the_outbox_publishes_full_batches_then_the_rest_after_its_wait() -> None:
    sent: list[tuple[float, int]] = []
    started = time.monotonic()

    async def publish(event: RecordsProduced) -> None:
        sent.append((time.monotonic() - started, len(event.records)))

    outbox = Outbox(publish, RUN, "c", max_records=3, linger_s=0.1)
    for _ in range(4):
        outbox.add(produced())
    await asyncio.sleep(0.01)
    assert [n for _, n in sent] == [3]  # the full batch at once
    await asyncio.sleep(0.2)
    assert [n for _, n in sent] == [3, 1]  # the rest once its wait was over
    assert sent[1][0] >= 0.09
    outbox.add(produced())
    await outbox.close()  # what is left goes at once
    assert [n for _, n in sent] == [3, 1, 1]


async def test_a_failed_publish_fails_the_chunk() -> None:
    async def publish(event: RecordsProduced) -> None:
        raise ConnectionError("broker away")

    outbox = Outbox(publish, RUN, "c", max_records=1, linger_s=0.1)
    outbox.add(produced())
    await asyncio.sleep(0.01)
    with pytest.raises(ConnectionError, match="broker away"):
        outbox.add(produced())
    with pytest.raises(ConnectionError, match="broker away"):
        await outbox.close()


# -- settling a delivery -------------------------------------------------------------------------


class StuckDelivery:
    """A delivery whose acknowledgement never completes (a commit the client keeps retrying)."""

    body = b"{}"

    def broker_deliveries(self) -> int | None:
        return None

    async def ack(self) -> None:
        await asyncio.sleep(3600)

    async def redeliver(self, delay_s: float) -> None:
        await asyncio.sleep(3600)

    async def in_progress(self) -> None:
        return None


async def test_an_ack_that_cannot_complete_is_given_up_and_the_handler_is_free_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bus_module, "SETTLE_TIMEOUT_S", 0.2)
    bus = Bus("nats://127.0.0.1:1", service="scorer")

    async def handled() -> Decision:
        return Decision(Action.ACK)

    started = time.monotonic()
    await asyncio.wait_for(bus._deliver("score.requested", StuckDelivery(), handled), 5)
    assert time.monotonic() - started < 2
    assert bus.inflight == 0
