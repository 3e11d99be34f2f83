"""Logged calls kept no longer than their project says (projects.call_retention_days), nor than
the instance allows (SCOREKEEPER_CALL_RETENTION_MAX_DAYS): a periodic task of every orchestrator
replica.

Each pass deletes, project by project, the calls logged more than the project's days ago that no
monitor's open window still holds (its samples are scored when the window closes, whenever that
is), ``batch`` at a time, oldest first. Replicas passing at once skip each other's rows (``FOR
UPDATE SKIP LOCKED``). The runs of closed windows keep their records: copies of the calls they
sampled. A call deleted and then logged again is a new call (stored, and sampled, again).
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from services.run_orchestrator.catalog.rules import effective_call_retention
from shared.periodic import every

log = logging.getLogger(__name__)


class CallRetention:
    def __init__(self, pool: asyncpg.Pool, tick_s: float, batch: int = 5_000, limit_days: int = 0) -> None:
        self._pool = pool
        self._tick_s = tick_s
        self._batch = batch
        self._limit = limit_days

    async def run(self) -> None:
        await every(self._tick_s, "call retention", self.tick)

    async def tick(self) -> int:
        """One pass over the projects that keep their calls for a time (every project, under the
        instance's limit); how many calls it deleted."""
        deleted = 0
        for project in await self._pool.fetch(
            "SELECT id, call_retention_days FROM projects WHERE call_retention_days > 0 OR $1 > 0", self._limit
        ):
            days = effective_call_retention(project["call_retention_days"], self._limit)
            while True:
                done = await self._delete(project["id"], days)
                deleted += done
                if done < self._batch:
                    break
        if deleted:
            log.info("call retention: deleted %s logged calls", deleted)
        return deleted

    async def _delete(self, project_id: uuid.UUID, days: int) -> int:
        done: str = await self._pool.execute(
            "DELETE FROM logged_calls WHERE project_id = $1 AND id IN ("
            " SELECT c.id FROM logged_calls c WHERE c.project_id = $1"
            " AND c.logged_at < now() - make_interval(days => $2)"
            " AND NOT EXISTS (SELECT 1 FROM monitor_samples s WHERE s.call_id = c.id)"
            " ORDER BY c.logged_at LIMIT $3 FOR UPDATE SKIP LOCKED)",
            project_id,
            days,
            self._batch,
        )
        return int(done.split()[-1])
