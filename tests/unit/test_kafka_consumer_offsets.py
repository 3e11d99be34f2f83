"""The long handlers' Kafka consumer commits a partition only past messages that are all done,
whatever order they finish in (shared/messaging/kafka_consumer.py)."""

from __future__ import annotations

from shared.messaging.kafka_consumer import _Partition


def test_a_partition_is_committed_past_its_done_messages_at_the_front_only() -> None:
    part = _Partition()
    for offset in (5, 6, 7, 8):
        part.done[offset] = False

    assert part.finish(6) is None  # 5 is still being handled
    assert part.finish(5) == 7  # 5 and 6 are done: commit up to 7
    assert part.finish(8) is None  # 7 is still being handled
    assert part.finish(7) == 9
    assert part.done == {}


def test_a_message_the_partition_does_not_hold_commits_nothing() -> None:
    part = _Partition()
    part.done[3] = False
    assert part.finish(2) is None  # revoked and fetched again, or already committed
    assert part.finish(3) == 4
    assert part.finish(3) is None
