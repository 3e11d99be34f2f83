"""SQL of the review queue: leases on pending scores of human metrics (``review_leases``) and what
each reviewer did with an item (``review_log``). The orchestrator writes both; scores stay the
scorer's (read here, never written).

Every change a reviewer makes to a queue runs in a transaction holding an advisory lock on
(metric, reviewer), so one reviewer's concurrent calls (two tabs) queue instead of taking two
items. Two reviewers racing for one item meet on its primary key: ``INSERT … ON CONFLICT DO
UPDATE … WHERE`` takes it only when it is free or lapsed, so exactly one of them gets it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.run_orchestrator.reviews.rules import SUBMITTED_HOLD_S
from shared.db.pool import Connection
from shared.run_status import RunStatus

# Runs whose items are not offered: nothing will complete them.
_CLOSED = [RunStatus.FAILED.value, RunStatus.CANCELLED.value]

# The candidates of a queue: pending scores of the metric's versions that their runs pin (of
# runs not archived, unless the queue is one run's), that nobody holds, items this reviewer
# skipped last (oldest skip first), otherwise oldest first.
_CANDIDATES = (
    "SELECT s.id, s.record_id, s.run_id FROM scores s JOIN runs r ON r.id = s.run_id"
    " LEFT JOIN review_log g ON g.score_id = s.id AND g.reviewer = $2"
    " WHERE s.status = 'pending' AND s.metric_version_id = ANY($1::uuid[])"
    " AND s.metric_version_id = ANY(r.metric_version_ids) AND r.status <> ALL($4::text[])"
    " AND ($3::uuid IS NULL AND r.archived_at IS NULL OR s.run_id = $3)"
    " AND NOT EXISTS (SELECT 1 FROM review_leases l WHERE l.score_id = s.id AND l.expires_at > now())"
    " ORDER BY g.at NULLS FIRST, s.scored_at, s.id LIMIT 20"
)

# Take an item: free, lapsed, or this reviewer's own lease (which it renews).
_TAKE = (
    "INSERT INTO review_leases (score_id, metric_id, run_id, record_id, reviewer, expires_at, submitted)"
    " VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7)"
    " ON CONFLICT (score_id) DO UPDATE SET reviewer = EXCLUDED.reviewer, expires_at = EXCLUDED.expires_at,"
    " submitted = EXCLUDED.submitted"
    " WHERE review_leases.expires_at <= now() OR review_leases.reviewer = EXCLUDED.reviewer"
    " RETURNING score_id"
)


@dataclass(frozen=True)
class Item:
    """One queue item: a score of a human metric, on a record of a run."""

    score_id: uuid.UUID
    metric_id: uuid.UUID
    run_id: uuid.UUID
    record_id: uuid.UUID


class ReviewRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def _lock(conn: Connection, metric_id: uuid.UUID, reviewer: str) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"review:{metric_id}:{reviewer}")

    @staticmethod
    async def _settle(conn: Connection, score_id: uuid.UUID) -> None:
        """A submitted review holds its item only until the verdict is in."""
        await conn.execute(
            "DELETE FROM review_leases l WHERE l.score_id = $1 AND l.submitted"
            " AND EXISTS (SELECT 1 FROM scores s WHERE s.id = $1 AND s.status <> 'pending')",
            score_id,
        )

    @staticmethod
    async def _release_held(conn: Connection, metric_id: uuid.UUID, reviewer: str, keep: uuid.UUID | None) -> None:
        """The reviewer holds one item of a queue: give back any other (it returns to the queue)."""
        await conn.execute(
            "DELETE FROM review_leases WHERE metric_id = $1 AND reviewer = $2 AND NOT submitted"
            " AND score_id IS DISTINCT FROM $3",
            metric_id,
            reviewer,
            keep,
        )

    async def next_item(
        self, metric_id: uuid.UUID, version_ids: list[uuid.UUID], reviewer: str, run_id: uuid.UUID | None, lease_s: int
    ) -> Item | None:
        """The reviewer's next item, leased to the reviewer: the one the reviewer holds (renewed),
        or the first candidate nobody holds; None when the queue (with the run filter) has none."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, metric_id, reviewer)
            held = await conn.fetchrow(
                "SELECT l.score_id, l.run_id, l.record_id FROM review_leases l JOIN scores s ON s.id = l.score_id"
                " WHERE l.metric_id = $1 AND l.reviewer = $2 AND NOT l.submitted AND l.expires_at > now()"
                " AND s.status = 'pending' AND ($3::uuid IS NULL OR l.run_id = $3)",
                metric_id,
                reviewer,
                run_id,
            )
            if held is not None:
                await conn.execute(
                    "UPDATE review_leases SET expires_at = now() + make_interval(secs => $2) WHERE score_id = $1",
                    held["score_id"],
                    lease_s,
                )
                return Item(held["score_id"], metric_id, held["run_id"], held["record_id"])
            await self._release_held(conn, metric_id, reviewer, None)
            # Other reviewers may take candidates meanwhile: read the next ones until one is ours.
            while candidates := await conn.fetch(_CANDIDATES, version_ids, reviewer, run_id, _CLOSED):
                for candidate in candidates:
                    item = Item(candidate["id"], metric_id, candidate["run_id"], candidate["record_id"])
                    if await conn.fetchval(_TAKE, *_fields(item), reviewer, lease_s, False) is not None:
                        return item
            return None

    async def remaining(self, version_ids: list[uuid.UUID], run_id: uuid.UUID | None) -> int:
        """Items of the queue that wait for a reviewer and that nobody holds."""
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM scores s JOIN runs r ON r.id = s.run_id"
            " WHERE s.status = 'pending' AND s.metric_version_id = ANY($1::uuid[])"
            " AND s.metric_version_id = ANY(r.metric_version_ids) AND r.status <> ALL($3::text[])"
            " AND ($2::uuid IS NULL AND r.archived_at IS NULL OR s.run_id = $2)"
            " AND NOT EXISTS (SELECT 1 FROM review_leases l WHERE l.score_id = s.id AND l.expires_at > now())",
            version_ids,
            run_id,
            _CLOSED,
        )
        return count

    async def previous(
        self, metric_id: uuid.UUID, reviewer: str, before: uuid.UUID | None, run_id: uuid.UUID | None
    ) -> uuid.UUID | None:
        """The record of the item the reviewer reviewed or skipped just before the score ``before``
        (the latest when ``before`` is None or not in the reviewer's log)."""
        record: uuid.UUID | None = await self._pool.fetchval(
            "SELECT g.record_id FROM review_log g WHERE g.metric_id = $1 AND g.reviewer = $2"
            " AND ($4::uuid IS NULL OR g.run_id = $4)"
            " AND g.at < coalesce((SELECT at FROM review_log WHERE score_id = $3 AND reviewer = $2), 'infinity')"
            " ORDER BY g.at DESC LIMIT 1",
            metric_id,
            reviewer,
            before,
            run_id,
        )
        return record

    async def item(self, score_id: uuid.UUID) -> asyncpg.Record | None:
        """The score (status, verdict so far) with its lease: held_by and expires_at, and ``held``
        when the lease is live (a submitted review's only until its verdict is in)."""
        return await self._pool.fetchrow(
            "SELECT s.status, s.value, s.reviewer AS reviewed_by, s.comment, l.reviewer AS held_by, l.expires_at,"
            " coalesce(l.expires_at > now() AND NOT (l.submitted AND s.status <> 'pending'), false) AS held"
            " FROM scores s LEFT JOIN review_leases l ON l.score_id = s.id WHERE s.id = $1",
            score_id,
        )

    async def take(self, item: Item, reviewer: str, lease_s: int) -> bool:
        """Lease the item to the reviewer (renewing the reviewer's own lease), giving back the
        reviewer's other item; False when another reviewer holds it."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, item.metric_id, reviewer)
            await self._settle(conn, item.score_id)
            if await _other_holder(conn, item.score_id, reviewer) is not None:
                return False  # the reviewer keeps the item held before
            await self._release_held(conn, item.metric_id, reviewer, item.score_id)
            return await conn.fetchval(_TAKE, *_fields(item), reviewer, lease_s, False) is not None

    async def skip(self, item: Item, reviewer: str) -> str | None:
        """Give the item back, after everything else in this reviewer's queue while it waits;
        the name of the reviewer holding it instead, when another does."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, item.metric_id, reviewer)
            await self._settle(conn, item.score_id)
            holder = await _other_holder(conn, item.score_id, reviewer)
            if holder is not None:
                return holder
            await conn.execute(
                "DELETE FROM review_leases WHERE score_id = $1 AND reviewer = $2 AND NOT submitted",
                item.score_id,
                reviewer,
            )
            if await conn.fetchval("SELECT status = 'pending' FROM scores WHERE id = $1", item.score_id):
                await _log(conn, item, reviewer, "skipped")
            return None

    async def submitting(self, item: Item, reviewer: str) -> str | None:
        """Mark the item reviewed by the reviewer before the verdict goes out: it stays out of the
        queue while the scorer writes it. The name of the reviewer holding it instead, when
        another does (then nothing is marked). A score not written yet has no lease to check."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, item.metric_id, reviewer)
            if not await conn.fetchval("SELECT 1 FROM scores WHERE id = $1", item.score_id):
                return None
            await self._settle(conn, item.score_id)
            if await conn.fetchval(_TAKE, *_fields(item), reviewer, SUBMITTED_HOLD_S, True) is None:
                return await _other_holder(conn, item.score_id, reviewer) or "another reviewer"
            await _log(conn, item, reviewer, "reviewed")
            return None

    async def submit_failed(self, item: Item, reviewer: str) -> None:
        """The verdict did not go out: the item returns to the queue at once."""
        await self._pool.execute(
            "DELETE FROM review_leases WHERE score_id = $1 AND reviewer = $2 AND submitted", item.score_id, reviewer
        )


def _fields(item: Item) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    return item.score_id, item.metric_id, item.run_id, item.record_id


async def _log(conn: Connection, item: Item, reviewer: str, action: str) -> None:
    """What the reviewer did with the item, now."""
    await conn.execute(
        "INSERT INTO review_log (score_id, metric_id, run_id, record_id, reviewer, action)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (score_id, reviewer) DO UPDATE SET action = EXCLUDED.action, at = clock_timestamp()",
        *_fields(item),
        reviewer,
        action,
    )


async def _other_holder(conn: Connection, score_id: uuid.UUID, reviewer: str) -> str | None:
    """Who else holds the item now (a live lease), if anyone."""
    holder: str | None = await conn.fetchval(
        "SELECT reviewer FROM review_leases WHERE score_id = $1 AND reviewer <> $2 AND expires_at > now()",
        score_id,
        reviewer,
    )
    return holder
