"""A Kafka consumer for long handlers (the executor's chunks): several messages of one partition
handled at once, and each partition's offset committed up to its first message not yet done (as
arroyo and Confluent's parallel consumer do).

FastStream's consumers handle a partition's messages one after another: a chunk whose last call
waits out a retry's backoff (the demo system fails 1 call in 100; three attempts take ~2.3 s)
held every later chunk of its partition, so on Kafka the executor went at the pace of its
backoffs (make bench, N = 20,000 on Tansu: 677 testcases/s, CPU mostly idle). Here up to
``concurrency`` messages are handled at once, from any of the partitions this replica owns, and a
handler may free its slot while it waits (transport.fetch_next: at most ``2 × concurrency`` such
handlers go on beside the others), as the NATS transport does.

What stays as before: a message is acknowledged (committed) only when every earlier message of its
partition is done too, so a crash or a rebalance delivers again what was not done (at least once;
the executor is idempotent). A redelivery is a wait here and the message handled again, its
offset still uncommitted. After a rebalance the acknowledgements of a revoked partition's
messages are dropped: its new owner starts from the last commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from shared.messaging.transport import Consume, GroupTiming, handle_freeable

log = logging.getLogger(__name__)

# A partition cannot be committed past a message waiting for its redelivery: keep the wait short.
MAX_REDELIVERY_WAIT_S = 5.0
# While every slot is busy, the consumer still polls this often (without taking messages): the
# group takes a member that has not polled for max.poll.interval.ms (5 min) for dead.
IDLE_POLL_S = 10.0


class _Partition:
    """The messages of one partition being handled, by offset, in the order they were fetched."""

    def __init__(self) -> None:
        self.done: dict[int, bool] = {}

    def finish(self, offset: int) -> int | None:
        """Mark a message done; the offset to commit (one past the done messages at the front), or
        None when an earlier message is still being handled."""
        if offset not in self.done:
            return None
        self.done[offset] = True
        commit = None
        for first, finished in list(self.done.items()):
            if not finished:
                break
            del self.done[first]
            commit = first + 1
        return commit


class ConcurrentDelivery:
    """One message of a partition, as the bus sees it (shared/messaging/transport.py)."""

    def __init__(
        self, consumer: ConcurrentConsumer, tp: TopicPartition, part: _Partition, record: ConsumerRecord
    ) -> None:
        self.body: bytes = record.value or b""
        self._consumer = consumer
        self.tp = tp
        self.part = part
        self.record = record

    def broker_deliveries(self) -> int | None:
        return None

    async def ack(self) -> None:
        await self._consumer.finished(self)

    async def redeliver(self, delay_s: float) -> None:
        await asyncio.sleep(min(delay_s, MAX_REDELIVERY_WAIT_S))
        self._consumer.again(self)

    async def in_progress(self) -> None:
        """Kafka's liveness is the consumer's heartbeat and polls, not per message."""


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: ConcurrentConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            self._consumer.forget(tp)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        """Nothing: a partition is read from its last commit."""


class ConcurrentConsumer:
    """One consumer of the service's group on one topic, ``concurrency`` messages at once."""

    def __init__(
        self,
        servers: list[str],
        topic: str,
        *,
        group_id: str,
        client_id: str,
        consume: Consume,
        concurrency: int,
        timing: GroupTiming,
    ) -> None:
        self._topic = topic
        self._consume = consume
        self._slots = concurrency
        self._spare = 2 * concurrency
        self._busy = 0
        self._freed = 0
        self._changed = asyncio.Event()
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._commits = asyncio.Lock()
        self._committed: dict[TopicPartition, int] = {}
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        self._settings = {
            "bootstrap_servers": servers,
            "group_id": group_id,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": timing.session_timeout_ms,
            "heartbeat_interval_ms": timing.heartbeat_interval_ms,
            "rebalance_timeout_ms": timing.rebalance_timeout_ms,
        }
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the consumer has not been started")
        return self._consumer

    async def start(self) -> None:
        # Made here, not in __init__: aiokafka binds the consumer to the running event loop.
        self._consumer = AIOKafkaConsumer(**self._settings)
        self._consumer.subscribe([self._topic], listener=_Revoked(self))
        await self._consumer.start()
        self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopping = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop
        if self._consumer is not None:
            await self._consumer.stop()

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    # -- taking messages ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._take()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A fetch that failed (a broker away): aiokafka reconnects; try again shortly.
                log.warning("fetching from Kafka failed; retrying", extra={"topic": self._topic}, exc_info=True)
                await asyncio.sleep(1.0)

    async def _take(self) -> None:
        while self._busy >= self._slots:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), IDLE_POLL_S)
            except TimeoutError:
                await self._poll_without_taking()
        fetched = await self.consumer.getmany(timeout_ms=1000, max_records=self._slots - self._busy)
        assigned = self.consumer.assignment()
        for tp, records in fetched.items():
            if tp not in assigned:
                continue  # revoked since the fetch: its new owner reads it from the last commit
            part = self._partitions.setdefault(tp, _Partition())
            for record in records:
                part.done[record.offset] = False
                self._begin(ConcurrentDelivery(self, tp, part, record))

    async def _poll_without_taking(self) -> None:
        assigned = list(self.consumer.assignment())
        self.consumer.pause(*assigned)
        try:
            await self.consumer.getmany(timeout_ms=0)
        finally:
            self.consumer.resume(*[tp for tp in assigned if tp in self.consumer.assignment()])

    def _begin(self, delivery: ConcurrentDelivery) -> None:
        self._busy += 1
        freed = False

        def free() -> None:
            nonlocal freed
            if not freed and self._freed < self._spare:
                freed = True
                self._freed += 1
                self._busy -= 1
                self._changed.set()

        def ended(_: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if freed:
                self._freed -= 1
            else:
                self._busy -= 1
            self._changed.set()

        task = handle_freeable(self._handle(delivery), free)
        self._tasks.add(task)
        task.add_done_callback(ended)

    async def _handle(self, delivery: ConcurrentDelivery) -> None:
        try:
            await self._consume(delivery)
        except Exception:
            log.exception("a Kafka delivery's handler failed; it will come again", extra={"topic": self._topic})

    # -- settling ----------------------------------------------------------------------------

    async def finished(self, delivery: ConcurrentDelivery) -> None:
        if self._partitions.get(delivery.tp) is not delivery.part:
            return  # revoked meanwhile: its new owner delivers it again from the last commit
        offset = delivery.part.finish(delivery.record.offset)
        if offset is None:
            return  # committed with the earlier message still being handled
        # The lock is fair and taken without a pause after finish(): commits go out in order.
        async with self._commits:
            if offset > self._committed.get(delivery.tp, -1):
                await self.consumer.commit({delivery.tp: offset})
                self._committed[delivery.tp] = offset

    def again(self, delivery: ConcurrentDelivery) -> None:
        """Handle a message once more (a redelivery), its offset still uncommitted."""
        if self._stopping or self._partitions.get(delivery.tp) is not delivery.part:
            return  # whoever owns the partition next delivers it again
        self._begin(ConcurrentDelivery(self, delivery.tp, delivery.part, delivery.record))

    def forget(self, tp: TopicPartition) -> None:
        self._partitions.pop(tp, None)
        self._committed.pop(tp, None)
