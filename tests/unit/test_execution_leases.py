"""leases.grant (a replica's share of a run's max_concurrency) and leases.Slots (the resizable
semaphore the executor's calls wait on), without a database."""

from __future__ import annotations

import asyncio

import pytest

from services.system_executor.leases import Holder, Slots, grant


@pytest.mark.parametrize(
    ("limit", "wanted", "others", "granted"),
    [
        # Alone: what it wants, up to the limit.
        pytest.param(10, 4, [], 4, id="alone-under-limit"),
        pytest.param(10, 10, [], 10, id="alone-at-limit"),
        pytest.param(10, 25, [], 10, id="alone-over-limit"),
        # Nobody starving: whatever the others leave free.
        pytest.param(10, 8, [Holder(3, 3)], 7, id="free-after-satisfied-other"),
        pytest.param(10, 2, [Holder(3, 3)], 2, id="less-than-free"),
        pytest.param(10, 9, [Holder(3, 3), Holder(4, 1)], 3, id="other-holding-more-than-it-wants"),
        pytest.param(10, 9, [Holder(2, 0)], 8, id="draining-other-still-counts"),
        pytest.param(10, 9, [Holder(0, 0)], 9, id="idle-other"),
        # Another replica starving: held to an equal share of the limit.
        pytest.param(10, 8, [Holder(2, 6)], 5, id="one-starving-other"),
        pytest.param(10, 3, [Holder(2, 6)], 3, id="starving-other-but-wants-less-than-share"),
        pytest.param(12, 12, [Holder(4, 12), Holder(0, 5)], 4, id="two-competing-others"),
        pytest.param(12, 12, [Holder(4, 4), Holder(0, 5)], 4, id="one-of-two-competing-starving"),
        # A share that does not divide evenly is rounded up; what is free caps the last one.
        pytest.param(5, 5, [Holder(0, 5), Holder(0, 5)], 2, id="share-rounded-up"),
        pytest.param(5, 5, [Holder(2, 5), Holder(0, 5)], 2, id="share-rounded-up-second"),
        pytest.param(5, 5, [Holder(2, 5), Holder(2, 5)], 1, id="share-rounded-up-last-capped"),
        pytest.param(3, 3, [Holder(2, 3)], 1, id="odd-limit-two-replicas"),
        # An idle holder (wanted 0) does not compete; the starving one wants 5 of an even 6,
        # so the rest (7) is this one's.
        pytest.param(12, 12, [Holder(0, 0), Holder(0, 5)], 7, id="idle-holder-not-in-share"),
        # Limit smaller than the number of replicas: a share of at least one, within what is free.
        pytest.param(2, 5, [Holder(0, 5), Holder(0, 5)], 1, id="limit-below-replicas-first"),
        pytest.param(2, 5, [Holder(1, 5), Holder(0, 5)], 1, id="limit-below-replicas-second"),
        pytest.param(2, 5, [Holder(1, 5), Holder(1, 5)], 0, id="limit-below-replicas-none-free"),
        pytest.param(1, 3, [Holder(0, 3)], 1, id="limit-one-two-replicas"),
        # Fewer slots free than the fair share: only what is free.
        pytest.param(10, 8, [Holder(8, 9)], 2, id="free-below-share"),
        pytest.param(10, 8, [Holder(10, 12)], 0, id="nothing-free"),
        # Wanting nothing: nothing, whoever is starving.
        pytest.param(10, 0, [], 0, id="wanted-0-alone"),
        pytest.param(10, 0, [Holder(2, 6)], 0, id="wanted-0-with-starving-other"),
        pytest.param(10, 0, [Holder(12, 12)], 0, id="wanted-0-oversubscribed"),
        # Others holding more than the limit (in flight before the limit was lowered, or a lease
        # that had lapsed): never negative.
        pytest.param(4, 3, [Holder(6, 6)], 0, id="others-over-limit"),
        pytest.param(4, 3, [Holder(6, 9)], 0, id="others-over-limit-starving"),
        pytest.param(4, 3, [Holder(3, 3), Holder(3, 3)], 0, id="others-together-over-limit"),
        pytest.param(0, 3, [], 0, id="limit-0"),
    ],
)
def test_grant(limit: int, wanted: int, others: list[Holder], granted: int) -> None:
    assert grant(limit, wanted, others) == granted


def settle(limit: int, wanted: list[int], renewals: int = 10) -> list[int]:
    """Replicas renewing in turn with every slot granted in use until its next renewal (calls
    finish quickly); returns the slots each holds once the grants stop changing."""
    held = [0] * len(wanted)
    for _ in range(renewals):
        for i, want in enumerate(wanted):
            others = [Holder(held[j], wanted[j]) for j in range(len(wanted)) if j != i]
            held[i] = grant(limit, want, others)
    return held


@pytest.mark.parametrize(
    ("limit", "wanted", "held"),
    [
        pytest.param(10, [10, 10], [5, 5], id="two-even"),
        pytest.param(12, [12, 12, 12], [4, 4, 4], id="three-even"),
        pytest.param(10, [10, 3], [7, 3], id="one-wants-little"),
        pytest.param(10, [4, 4], [4, 4], id="room-for-both"),
        pytest.param(2, [5, 5, 5], [1, 1, 0], id="limit-below-replicas"),
        pytest.param(5, [5, 5, 5], [2, 2, 1], id="uneven-three"),
        pytest.param(3, [3, 3], [2, 1], id="uneven-two"),
    ],
)
def test_grants_settle_on_fair_shares_within_the_limit(limit: int, wanted: list[int], held: list[int]) -> None:
    assert settle(limit, wanted) == held


@pytest.mark.parametrize(
    ("limit", "wanted"),
    [
        pytest.param(3, [3, 3], id="3-over-2"),
        pytest.param(5, [5, 5, 5], id="5-over-3"),
        pytest.param(7, [7, 7, 7, 7], id="7-over-4"),
        pytest.param(16, [16, 16, 16], id="default-16-over-3"),
        # A replica wanting less than an equal share (the tail of a chunk) gets what it wants;
        # the others split the rest (max-min fairness).
        pytest.param(10, [10, 10, 1], id="two-busy-one-light"),
        pytest.param(16, [16, 16, 2], id="default-16-two-busy-one-light"),
    ],
)
def test_starving_replicas_together_use_the_whole_limit(limit: int, wanted: list[int]) -> None:
    # Together the replicas want more than the limit, so the run should have ``limit`` calls in
    # flight over its replicas, as it has on one replica.
    assert sum(wanted) > limit
    assert sum(settle(limit, wanted)) == limit


# -- Slots ------------------------------------------------------------------------------------


async def settled() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_slots_capacity_caps_acquisitions() -> None:
    slots, stop = Slots(2), asyncio.Event()
    assert (slots.capacity, slots.in_use) == (2, 0)
    assert await slots.acquire(stop)
    assert await slots.acquire(stop)
    assert slots.in_use == 2
    third = asyncio.create_task(slots.acquire(stop))
    await settled()
    assert not third.done()
    assert slots.in_use == 2
    await slots.release()
    assert await asyncio.wait_for(third, 1)
    assert slots.in_use == 2


async def test_slots_starting_at_zero_wait_for_a_grant() -> None:
    slots, stop = Slots(), asyncio.Event()
    assert slots.capacity == 0
    waiter = asyncio.create_task(slots.acquire(stop))
    await settled()
    assert not waiter.done()
    await slots.resize(1)
    assert await asyncio.wait_for(waiter, 1)
    assert (slots.capacity, slots.in_use) == (1, 1)


async def test_slots_resize_up_wakes_waiters() -> None:
    slots, stop = Slots(1), asyncio.Event()
    assert await slots.acquire(stop)
    waiters = [asyncio.create_task(slots.acquire(stop)) for _ in range(4)]
    await settled()
    assert not any(w.done() for w in waiters)
    await slots.resize(3)
    await settled()
    # Two more fit; the other two keep waiting.
    assert sum(w.done() for w in waiters) == 2
    assert slots.in_use == 3
    await slots.resize(5)
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True] * 4
    assert slots.in_use == 5


async def test_slots_resize_down_lets_calls_in_flight_finish_and_blocks_new_ones_until_below() -> None:
    slots, stop = Slots(3), asyncio.Event()
    for _ in range(3):
        assert await slots.acquire(stop)
    await slots.resize(1)
    # The calls in flight keep their slots.
    assert (slots.capacity, slots.in_use) == (1, 3)
    waiter = asyncio.create_task(slots.acquire(stop))
    await settled()
    assert not waiter.done()
    await slots.release()
    await settled()
    assert not waiter.done()  # 2 in use, capacity 1
    await slots.release()
    await settled()
    assert not waiter.done()  # 1 in use, capacity 1: still full
    await slots.release()
    assert await asyncio.wait_for(waiter, 1)
    assert slots.in_use == 1


async def test_slots_acquire_gives_up_once_stopped_and_woken() -> None:
    slots, stop = Slots(1), asyncio.Event()
    assert await slots.acquire(stop)
    waiters = [asyncio.create_task(slots.acquire(stop)) for _ in range(3)]
    await settled()
    stop.set()
    await slots.wake()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [False] * 3
    # None of them holds a slot.
    assert slots.in_use == 1
    await slots.release()
    assert slots.in_use == 0


async def test_slots_acquire_when_already_stopped_takes_no_slot_even_with_room() -> None:
    slots, stop = Slots(5), asyncio.Event()
    stop.set()
    assert not await slots.acquire(stop)
    assert slots.in_use == 0


async def test_slots_resize_wakes_stopped_waiters_too() -> None:
    # The keeper sets stop and then wakes; a resize arriving first must not hand out a slot.
    slots, stop = Slots(0), asyncio.Event()
    waiter = asyncio.create_task(slots.acquire(stop))
    await settled()
    stop.set()
    await slots.resize(4)
    assert await asyncio.wait_for(waiter, 1) is False
    assert slots.in_use == 0


async def test_slots_in_use_counts_acquisitions_and_releases() -> None:
    slots, stop = Slots(10), asyncio.Event()
    for expected in range(1, 7):
        assert await slots.acquire(stop)
        assert slots.in_use == expected
    for expected in range(5, -1, -1):
        await slots.release()
        assert slots.in_use == expected
    assert slots.capacity == 10


async def test_slots_cancelled_waiter_holds_nothing_and_others_still_get_the_slot() -> None:
    slots, stop = Slots(1), asyncio.Event()
    assert await slots.acquire(stop)
    cancelled = asyncio.create_task(slots.acquire(stop))
    waiting = asyncio.create_task(slots.acquire(stop))
    await settled()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert slots.in_use == 1
    await slots.release()
    assert await asyncio.wait_for(waiting, 1)
    assert slots.in_use == 1
