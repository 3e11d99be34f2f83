"""The system-executor's execution leases and chunk claims on real PostgreSQL.

Each "holder" here stands for one executor replica executing one run, as RunExecutor uses
LeaseStore and ChunkClaims: renewals with the slots in use, grants that converge to fair
shares, and the run's limit held over every live lease — also under concurrent renewals.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest

from services.system_executor.leases import ChunkClaims, Claim, Grant, LeaseStore, Slots
from tests.support.db_seed import seed_http_run as seed_run

pytestmark = [pytest.mark.postgres]

TTL_S = 30.0


async def leases(db: asyncpg.Pool, run: uuid.UUID) -> dict[uuid.UUID, tuple[int, int]]:
    """Every lease row of the run, expired or not: holder → (slots, wanted)."""
    rows = await db.fetch("SELECT holder_id, slots, wanted FROM execution_leases WHERE run_id = $1", run)
    return {r["holder_id"]: (r["slots"], r["wanted"]) for r in rows}


async def live_slots(db: asyncpg.Pool, run: uuid.UUID) -> int:
    total = await db.fetchval(
        "SELECT coalesce(sum(slots), 0) FROM execution_leases WHERE run_id = $1 AND expires_at > now()", run
    )
    assert isinstance(total, int)
    return total


# -- LeaseStore -------------------------------------------------------------------------------


async def test_a_holder_alone_gets_what_it_wants_up_to_the_limit(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    store, a = LeaseStore(db, TTL_S), uuid.uuid4()
    assert await store.renew(run, a, 8, 5, 0) == Grant(5, 1)
    assert await leases(db, run) == {a: (5, 5)}
    assert await store.renew(run, a, 8, 20, 5) == Grant(8, 1)
    assert await leases(db, run) == {a: (8, 20)}
    assert await store.renew(run, a, 8, 0, 0) == Grant(0, 1)
    assert await leases(db, run) == {a: (0, 0)}
    left = await db.fetchval(
        "SELECT extract(epoch FROM expires_at - now())::float8 FROM execution_leases WHERE holder_id = $1", a
    )
    assert left == pytest.approx(TTL_S, abs=1)


async def test_a_second_holder_gets_what_is_free_then_both_converge_to_fair_shares(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    store, a, b = LeaseStore(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert await store.renew(run, a, 10, 10, 0) == Grant(10, 1)
    # Nothing is free: b starves, and says so.
    assert await store.renew(run, b, 10, 10, 0) == Grant(0, 2)
    assert await leases(db, run) == {a: (10, 10), b: (0, 10)}
    # a is held to half, but its 10 calls in flight keep their slots in the lease.
    assert await store.renew(run, a, 10, 10, 10) == Grant(5, 2)
    assert await leases(db, run) == {a: (10, 10), b: (0, 10)}
    assert await store.renew(run, b, 10, 10, 0) == Grant(0, 2)
    # a's calls drained below its grant (its Slots were resized to 5): it gives the rest back.
    assert await store.renew(run, a, 10, 10, 4) == Grant(5, 2)
    assert await leases(db, run) == {a: (5, 10), b: (0, 10)}
    assert await store.renew(run, b, 10, 10, 0) == Grant(5, 2)
    assert await leases(db, run) == {a: (5, 10), b: (5, 10)}
    # Steady: both keep their fair share.
    for _ in range(3):
        assert await store.renew(run, a, 10, 10, 5) == Grant(5, 2)
        assert await store.renew(run, b, 10, 10, 5) == Grant(5, 2)
    assert await leases(db, run) == {a: (5, 10), b: (5, 10)}
    # b's work runs out: a may take the whole limit again as b's calls finish.
    assert await store.renew(run, b, 10, 0, 2) == Grant(0, 2)
    assert await leases(db, run) == {a: (5, 10), b: (2, 0)}
    assert await store.renew(run, a, 10, 10, 5) == Grant(8, 2)
    assert await store.renew(run, b, 10, 0, 0) == Grant(0, 2)
    assert await store.renew(run, a, 10, 10, 8) == Grant(10, 1)
    assert await leases(db, run) == {a: (10, 10), b: (0, 0)}


async def test_the_recorded_slots_never_drop_below_those_in_use(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    store, a, b = LeaseStore(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert await store.renew(run, a, 6, 6, 0) == Grant(6, 1)
    assert await store.renew(run, b, 6, 6, 0) == Grant(0, 2)
    # The run's limit is lowered to 2 while a has 6 in flight: a is granted 1 and records 6.
    assert await store.renew(run, a, 2, 6, 6) == Grant(1, 2)
    assert await leases(db, run) == {a: (6, 6), b: (0, 6)}
    # b gets nothing while a's calls hold the slots, not even its share of one.
    assert await store.renew(run, b, 2, 6, 0) == Grant(0, 2)
    # Wanting nothing more still records the calls in flight.
    assert await store.renew(run, a, 2, 0, 3) == Grant(0, 2)
    assert await leases(db, run) == {a: (3, 0), b: (0, 6)}
    assert await store.renew(run, b, 2, 6, 0) == Grant(0, 2)
    assert await store.renew(run, a, 2, 0, 0) == Grant(0, 2)
    assert await store.renew(run, b, 2, 6, 0) == Grant(2, 1)
    assert await leases(db, run) == {a: (0, 0), b: (2, 6)}


async def test_an_expired_lease_stops_counting_and_is_removed(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    store, a, b = LeaseStore(db, 0.5), uuid.uuid4(), uuid.uuid4()
    assert await store.renew(run, a, 10, 10, 10) == Grant(10, 1)
    assert await store.renew(run, b, 10, 10, 0) == Grant(0, 2)
    # a is killed: it renews no more.
    await asyncio.sleep(0.8)
    assert await store.renew(run, b, 10, 10, 0) == Grant(10, 1)
    assert await leases(db, run) == {b: (10, 10)}


async def test_release_removes_the_lease(db: asyncpg.Pool) -> None:
    run, other_run = await seed_run(db), await seed_run(db)
    store, a, b = LeaseStore(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert await store.renew(run, a, 10, 10, 0) == Grant(10, 1)
    assert await store.renew(run, b, 10, 10, 0) == Grant(0, 2)
    assert await store.renew(other_run, a, 10, 3, 0) == Grant(3, 1)
    await store.release(run, a)
    assert await leases(db, run) == {b: (0, 10)}
    assert await leases(db, other_run) == {a: (3, 3)}
    assert await store.renew(run, b, 10, 10, 0) == Grant(10, 1)
    await store.release(run, b)
    assert await leases(db, run) == {}


async def test_concurrent_renewals_never_lease_more_than_the_limit(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    store, limit, rounds = LeaseStore(db, TTL_S), 7, 40
    rng = random.Random(20240607)
    totals: list[int] = []
    short: list[bool] = []

    async def holder() -> None:
        holder_id, granted, in_use = uuid.uuid4(), 0, 0
        for _ in range(rounds):
            wanted = rng.randint(0, 12)
            # Between renewals the calls in flight can fall anywhere and rise only up to the
            # grant (the Slots' capacity); those above it were in flight before it shrank.
            in_use = rng.randint(0, max(granted, in_use))
            renewed = await store.renew(run, holder_id, limit, wanted, in_use)
            granted = renewed.slots
            assert 1 <= renewed.holders <= 5
            assert 0 <= granted <= min(wanted, limit)
            short.append(granted < wanted)
            totals.append(await live_slots(db, run))
            await asyncio.sleep(rng.uniform(0, 0.003))

    await asyncio.gather(*(holder() for _ in range(5)))
    assert len(totals) == 5 * rounds
    assert max(totals) <= limit, sorted(totals)[-10:]
    # The holders did compete: the limit was reached and renewals were granted less than wanted.
    assert max(totals) == limit
    assert any(short)
    rows = await db.fetch("SELECT slots, wanted FROM execution_leases WHERE run_id = $1", run)
    assert len(rows) == 5
    assert sum(r["slots"] for r in rows) <= limit


async def test_calls_started_during_a_renewal_stay_within_the_run_limit(db: asyncpg.Pool) -> None:
    """Calls may take slots of the old capacity while a renewal is on its way, so the keeper
    renews holding its capacity (RunExecutor._keep): another replica is never granted them."""
    run = await seed_run(db)
    store, a, b, stop = LeaseStore(db, TTL_S), uuid.uuid4(), uuid.uuid4(), asyncio.Event()
    limit, a_slots = 10, Slots()
    # a was granted 10 when it had 10 calls waiting; 8 have finished since.
    await a_slots.resize((await store.renew(run, a, limit, 10, 0)).slots)
    for _ in range(2):
        assert await a_slots.acquire(stop)
    assert (a_slots.capacity, a_slots.in_use) == (10, 2)
    # a's keeper renews with its 2 calls in flight; a new chunk's 8 calls start meanwhile.
    renewal = asyncio.create_task(store.renew(run, a, limit, 2, max(a_slots.capacity, a_slots.in_use)))
    for _ in range(8):
        assert await a_slots.acquire(stop)
    await a_slots.resize((await renewal).slots)
    b_granted = (await store.renew(run, b, limit, 10, 0)).slots
    assert a_slots.in_use + b_granted <= limit, (a_slots.in_use, b_granted)


# -- ChunkClaims ------------------------------------------------------------------------------


async def chunk_row(db: asyncpg.Pool, run: uuid.UUID, chunk: int) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT holder_id, finished_at IS NOT NULL AS finished,"
        " extract(epoch FROM expires_at - now())::float8 AS left_s"
        " FROM execution_chunks WHERE run_id = $1 AND chunk = $2",
        run,
        chunk,
    )
    assert row is not None
    return row


async def test_the_first_claim_is_ours_and_a_second_holder_waits_for_it(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a, b = ChunkClaims(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert await claims.claim(run, 0, a) == Claim(ours=True, finished=False, held_for_s=0.0)
    held = await claims.claim(run, 0, b)
    assert (held.ours, held.finished) == (False, False)
    assert held.held_for_s == pytest.approx(TTL_S, abs=1)
    row = await chunk_row(db, run, 0)
    assert (row["holder_id"], row["finished"]) == (a, False)
    # Another chunk of the run, and the same chunk of another run, are claimed independently.
    other_run = await seed_run(db)
    assert (await claims.claim(run, 1, b)).ours
    assert (await claims.claim(other_run, 0, b)).ours


async def test_the_same_holder_reclaims_its_unfinished_chunk(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a = ChunkClaims(db, TTL_S), uuid.uuid4()
    assert (await claims.claim(run, 3, a)).ours
    assert await claims.claim(run, 3, a) == Claim(ours=True)
    await claims.finish(run, 3, a)
    again = await claims.claim(run, 3, a)
    assert (again.ours, again.finished) == (False, True)


async def test_a_retry_claims_its_chunks_apart_from_the_finished_first_execution(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a, b = ChunkClaims(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert (await claims.claim(run, 0, a)).ours
    await claims.finish(run, 0, a)
    # The run's first retry: chunk 0 again, its own claim; a second delivery of it waits for it.
    assert (await claims.claim(run, 0, b, retry=1)).ours
    held = await claims.claim(run, 0, a, retry=1)
    assert (held.ours, held.finished) == (False, False)
    await claims.finish(run, 0, b, retry=1)
    assert (await claims.claim(run, 0, a, retry=1)).finished
    assert (await claims.claim(run, 0, a, retry=2)).ours
    assert (await claims.claim(run, 0, b)).finished


async def test_a_finished_chunk_is_reported_finished_to_every_later_claim(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a, b, c = ChunkClaims(db, TTL_S), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert (await claims.claim(run, 0, a)).ours
    # Only the holder can finish it.
    await claims.finish(run, 0, b)
    assert (await chunk_row(db, run, 0))["finished"] is False
    await claims.finish(run, 0, a)
    for holder in (b, c):
        later = await claims.claim(run, 0, holder)
        assert (later.ours, later.finished) == (False, True)
    # Released or lapsed, a finished chunk is never taken again.
    await claims.release(run, 0, a)
    lapsed = await claims.claim(run, 0, b)
    assert (lapsed.ours, lapsed.finished) == (False, True)
    assert (await chunk_row(db, run, 0))["holder_id"] == a


async def test_an_expired_claim_is_taken_over(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a, b = ChunkClaims(db, 0.5), uuid.uuid4(), uuid.uuid4()
    assert (await claims.claim(run, 0, a)).ours
    held = await claims.claim(run, 0, b)
    assert (held.ours, held.finished) == (False, False)
    assert 0 < held.held_for_s <= 0.5
    # a is killed: its claim lapses.
    await asyncio.sleep(0.8)
    assert await claims.claim(run, 0, b) == Claim(ours=True)
    assert (await chunk_row(db, run, 0))["holder_id"] == b
    # a, back, finds the chunk held by b and cannot finish it.
    back = await claims.claim(run, 0, a)
    assert (back.ours, back.finished) == (False, False)
    await claims.finish(run, 0, a)
    assert (await chunk_row(db, run, 0))["finished"] is False


async def test_release_makes_the_chunk_claimable_at_once(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims, a, b = ChunkClaims(db, TTL_S), uuid.uuid4(), uuid.uuid4()
    assert (await claims.claim(run, 0, a)).ours
    # Only the holder can release it.
    await claims.release(run, 0, b)
    assert not (await claims.claim(run, 0, b)).ours
    await claims.release(run, 0, a)
    assert await claims.claim(run, 0, b) == Claim(ours=True)
    row = await chunk_row(db, run, 0)
    assert (row["holder_id"], row["finished"]) == (b, False)
    assert row["left_s"] == pytest.approx(TTL_S, abs=1)


async def test_renew_extends_only_the_given_holders_unfinished_claims(db: asyncpg.Pool) -> None:
    run, other_run = await seed_run(db), await seed_run(db)
    claims, a, b, c = ChunkClaims(db, TTL_S), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for target, chunk, holder in [(run, 0, a), (run, 1, b), (run, 2, c), (run, 3, a), (other_run, 0, a)]:
        assert (await claims.claim(target, chunk, holder)).ours
    await claims.finish(run, 3, a)
    # Every claim is about to lapse.
    await db.execute("UPDATE execution_chunks SET expires_at = now() + interval '5 seconds'")
    before = {
        (r["run_id"], r["chunk"]): r["expires_at"]
        for r in await db.fetch("SELECT run_id, chunk, expires_at FROM execution_chunks")
    }
    await claims.renew(run, [a, b])
    for chunk in (0, 1):
        assert (await chunk_row(db, run, chunk))["left_s"] == pytest.approx(TTL_S, abs=1)
    after = {
        (r["run_id"], r["chunk"]): r["expires_at"]
        for r in await db.fetch("SELECT run_id, chunk, expires_at FROM execution_chunks")
    }
    # c's claim, a's finished chunk and a's claim on another run are untouched.
    for key in [(run, 2), (run, 3), (other_run, 0)]:
        assert after[key] == before[key], key
    await claims.renew(run, [])
    assert await db.fetchval("SELECT count(*) FROM execution_chunks") == 5


async def test_concurrent_claims_of_one_chunk_have_one_winner(db: asyncpg.Pool) -> None:
    run = await seed_run(db)
    claims = ChunkClaims(db, TTL_S)
    holders = [uuid.uuid4() for _ in range(8)]
    results = await asyncio.gather(*(claims.claim(run, 0, h) for h in holders))
    winners = [h for h, r in zip(holders, results, strict=True) if r.ours]
    assert len(winners) == 1
    assert all(not r.finished and r.held_for_s == pytest.approx(TTL_S, abs=1) for r in results if not r.ours)
    assert (await chunk_row(db, run, 0))["holder_id"] == winners[0]
