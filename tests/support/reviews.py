"""A run waiting for reviewers: the demo system's answers, a heuristic and a human metric."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack


@dataclass(frozen=True)
class AwaitingReviews:
    ids: scenario.DemoIds
    metric_id: str  # the human metric (int, 1–5, unless asked for another output type)
    run_id: str

    @property
    def project_id(self) -> str:
        return self.ids.project_id


async def awaiting_reviews(
    client: Client, stack: Stack, name: str, testcases: int, guidelines: str = "", output_type: str = "int"
) -> AwaitingReviews:
    """A new project whose run holds in awaiting_human_scoring, with every pending score written
    (the scorer writes them after the run's status says so: the queue offers only written ones)."""
    ids = await scenario.prepare(client, stack.demo_system_url, testcases, name=name)
    human = await client.create_metric(
        ids.project_id, "helpfulness", eval_type="human", output_type=output_type, guidelines=guidelines
    )
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [ids.metric_ids[0], human.id])
    conn = await asyncpg.connect(stack.database_url)
    try:
        for _ in range(300):
            view = await client.get_run(run.id)
            written = await conn.fetchval(
                "SELECT count(*) FROM scores WHERE run_id = $1 AND metric_version_id = $2 AND status = 'pending'",
                uuid.UUID(run.id),
                uuid.UUID(human.version_id),
            )
            if view.status == "awaiting_human_scoring" and written == view.records - view.errored_records:
                return AwaitingReviews(ids, human.id, run.id)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError(f"run {run.id} is still {view.status}")
