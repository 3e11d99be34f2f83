"""What the console's browser tests look at: two projects made through the API, with finished
runs, and a key of each project."""

from __future__ import annotations

from dataclasses import dataclass

from scorekeeper_sdk import Client
from shared.devstack import scenario
from shared.devstack.stack import Stack


@dataclass
class ConsoleProject:
    ids: scenario.DemoIds
    runs: list[str]  # oldest first
    key: str  # a write key of this project

    @property
    def project_id(self) -> str:
        return self.ids.project_id


@dataclass
class ConsoleWorld:
    a: ConsoleProject
    b: ConsoleProject


async def _project(admin: Client, stack: Stack, name: str, testcases: int, sources: list[str]) -> ConsoleProject:
    ids = await scenario.prepare(admin, stack.demo_system_url, testcases, name=name)
    runs = []
    for i, source in enumerate(sources):
        run = await admin.create_run(
            ids.project_id,
            ids.testset_id,
            ids.system_version_id,
            ids.metric_ids,
            source=source,
            notes=f"{name} run {i + 1}",
        )
        await admin.wait_for_run(run.id, timeout_s=120)
        runs.append(run.id)
    key = (await admin.create_api_key(ids.project_id, "console test", "write")).secret
    return ConsoleProject(ids, runs, key)


async def build_world(stack: Stack) -> ConsoleWorld:
    async with stack.client() as admin:
        a = await _project(admin, stack, "console A", 24, ["api", "ci"])
        b = await _project(admin, stack, "console B", 4, ["api"])
    return ConsoleWorld(a, b)
