"""A run's ``max_concurrency`` across every executor replica.

Each replica executing a run holds a lease row (``execution_leases``): the slots it may use and
the slots it wants. Renewing it is one short transaction serialised per run by an advisory lock,
in which the replica takes at most what the others leave free, gives back down to a fair share
when another replica is starving, and never records less than it has in flight — so the sum of
the calls in flight over all replicas never exceeds the run's limit. A killed replica's lease
stops counting once it expires.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Holder:
    slots: int
    wanted: int


@dataclass(frozen=True)
class Grant:
    slots: int
    # Holders executing the run now, this one included: they share the system's request rate.
    holders: int


def grant(limit: int, wanted: int, others: list[Holder]) -> int:
    """The slots a replica wanting ``wanted`` may use, given the other live leases of the run.

    It never exceeds what the others leave free; while another replica wants more than it holds,
    it is held to a max-min fair share of the limit so the run's calls spread over the replicas.
    """
    free = limit - sum(o.slots for o in others)
    competing = [o for o in others if o.wanted > 0]
    target = wanted
    if any(o.wanted > o.slots for o in competing):
        target = min(wanted, _fair_level(limit, [o.wanted for o in competing] + [wanted]))
    return max(0, min(target, free))


def _fair_level(limit: int, demands: list[int]) -> int:
    """Max-min fair share: holders wanting less than an equal share get what they want, the
    others split the rest equally (rounded up; the free slots cap the last one)."""
    remaining, left = limit, len(demands)
    for demand in sorted(demands):
        even = -(-remaining // left)
        if demand >= even:
            return max(1, even)
        remaining -= demand
        left -= 1
    return max(1, limit)


class Slots:
    """A semaphore whose capacity can change while calls hold it (the lease's grant)."""

    def __init__(self, capacity: int = 0) -> None:
        self._capacity = capacity
        self._in_use = 0
        self._changed = asyncio.Condition()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def capacity(self) -> int:
        return self._capacity

    async def resize(self, capacity: int) -> None:
        # Wakes as many waiters as there are free slots (also healing a wakeup lost to a waiter
        # cancelled just after it was notified).
        async with self._changed:
            self._capacity = capacity
            if capacity > self._in_use:
                self._changed.notify(capacity - self._in_use)

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait for a slot; False (holding none) once ``stop`` is set."""
        async with self._changed:
            while self._in_use >= self._capacity and not stop.is_set():
                await self._changed.wait()
            if stop.is_set():
                return False
            self._in_use += 1
            return True

    async def release(self) -> None:
        # One waiter, not all: a chunk may have hundreds waiting, and only one slot came free.
        async with self._changed:
            self._in_use -= 1
            self._changed.notify(1)

    async def wake(self) -> None:
        """Let every waiter look again (e.g. at a stop event just set)."""
        async with self._changed:
            self._changed.notify_all()


class LeaseStore:
    """The ``execution_leases`` table. A holder is one replica executing one run: a fresh id each
    time, so a replica that stops and starts executing the same run never races itself."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        self._ttl_s = ttl_s

    async def renew(self, run_id: uuid.UUID, holder_id: uuid.UUID, limit: int, wanted: int, holding: int) -> Grant:
        """Take this replica's share of the run's slots now. ``holding``: the most calls it may
        have in flight until it applies the grant (its current capacity, or more in flight)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialises the renewals of one run (not a row lock on runs, a table this service
            # does not own).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 5))", run_id)
            rows = await conn.fetch(
                "SELECT slots, wanted FROM execution_leases"
                " WHERE run_id = $1 AND holder_id <> $2 AND expires_at > now()",
                run_id,
                holder_id,
            )
            others = [Holder(r["slots"], r["wanted"]) for r in rows]
            granted = grant(limit, wanted, others)
            # Never record less than may be in flight: the others must not take slots in use.
            await conn.execute(
                "INSERT INTO execution_leases (run_id, holder_id, slots, wanted, expires_at)"
                " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))"
                " ON CONFLICT (run_id, holder_id) DO UPDATE"
                " SET slots = EXCLUDED.slots, wanted = EXCLUDED.wanted, expires_at = EXCLUDED.expires_at",
                run_id,
                holder_id,
                max(granted, holding),
                wanted,
                self._ttl_s,
            )
            await conn.execute("DELETE FROM execution_leases WHERE run_id = $1 AND expires_at < now()", run_id)
        return Grant(granted, 1 + sum(1 for o in others if o.slots > 0 or o.wanted > 0))

    async def release(self, run_id: uuid.UUID, holder_id: uuid.UUID) -> None:
        await self._pool.execute("DELETE FROM execution_leases WHERE run_id = $1 AND holder_id = $2", run_id, holder_id)


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a chunk: ours now, finished already, or held by another holder
    for ``held_for_s`` more seconds."""

    ours: bool
    finished: bool = False
    held_for_s: float = 0.0


class ChunkClaims:
    """The ``execution_chunks`` table: one live holder per chunk of a run."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self._pool = pool
        self._ttl_s = ttl_s

    async def claim(self, run_id: uuid.UUID, chunk: int, holder_id: uuid.UUID, retry: int = 0) -> Claim:
        """Claim a chunk of the run (of its retry ``retry``: 0 is the first execution)."""
        async with self._pool.acquire() as conn:
            taken = await conn.fetchval(
                "INSERT INTO execution_chunks (run_id, retry, chunk, holder_id, expires_at)"
                " VALUES ($1, $5, $2, $3, now() + make_interval(secs => $4))"
                " ON CONFLICT (run_id, retry, chunk) DO UPDATE"
                " SET holder_id = EXCLUDED.holder_id, expires_at = EXCLUDED.expires_at"
                " WHERE execution_chunks.finished_at IS NULL"
                " AND (execution_chunks.expires_at < now() OR execution_chunks.holder_id = EXCLUDED.holder_id)"
                " RETURNING true",
                run_id,
                chunk,
                holder_id,
                self._ttl_s,
                retry,
            )
            if taken:
                return Claim(ours=True)
            row = await conn.fetchrow(
                "SELECT finished_at IS NOT NULL AS finished,"
                " greatest(extract(epoch FROM expires_at - now()), 0)::float8 AS left_s"
                " FROM execution_chunks WHERE run_id = $1 AND retry = $3 AND chunk = $2",
                run_id,
                chunk,
                retry,
            )
        if row is None:  # released between the two statements: try again soon
            return Claim(ours=False)
        return Claim(ours=False, finished=row["finished"], held_for_s=row["left_s"])

    async def renew(self, run_id: uuid.UUID, holder_ids: list[uuid.UUID]) -> None:
        """Extend the unfinished claims of these holders."""
        await self._pool.execute(
            "UPDATE execution_chunks SET expires_at = now() + make_interval(secs => $3)"
            " WHERE run_id = $1 AND holder_id = ANY($2::uuid[]) AND finished_at IS NULL",
            run_id,
            holder_ids,
            self._ttl_s,
        )

    async def finish(self, run_id: uuid.UUID, chunk: int, holder_id: uuid.UUID, retry: int = 0) -> None:
        await self._pool.execute(
            "UPDATE execution_chunks SET finished_at = now()"
            " WHERE run_id = $1 AND retry = $4 AND chunk = $2 AND holder_id = $3",
            run_id,
            chunk,
            holder_id,
            retry,
        )

    async def release(self, run_id: uuid.UUID, chunk: int, holder_id: uuid.UUID, retry: int = 0) -> None:
        """Give an unfinished chunk up at once (the handler failed; a redelivery may take it)."""
        await self._pool.execute(
            "UPDATE execution_chunks SET expires_at = now()"
            " WHERE run_id = $1 AND retry = $4 AND chunk = $2 AND holder_id = $3 AND finished_at IS NULL",
            run_id,
            chunk,
            holder_id,
            retry,
        )
