"""A small question-and-answer project made through the SDK, for the e2e tests of what runs used
and of their trials: testcases, an exact-match metric and a client-side system's version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from scorekeeper_sdk import AsyncScorekeeper


@dataclass(frozen=True)
class QaProject:
    project: Any
    testset: Any
    exact: Any  # the exact-match metric: the output's response against the expected answer
    version: Any  # an SDK system's version, "bot"
    cases: dict[str, str]  # the testcases' ids by question

    async def run(self, sk: AsyncScorekeeper, trials: int = 1) -> Any:
        return await sk.create_run(self.project.id, self.testset.id, self.version.id, [self.exact.id], trials=trials)


async def qa_project(sk: AsyncScorekeeper, name: str, rows: list[dict[str, str]]) -> QaProject:
    """A project (``name`` and a random suffix) whose testset holds ``rows``: question in, answer
    expected, lang as metadata when a row has one."""
    project = await sk.create_project(f"{name} {uuid.uuid4().hex[:6]}")
    metadata = ["lang"] if "lang" in rows[0] else []
    testset = await sk.create_testset(
        project.id, name, rows, inputs=["question"], expected=["answer"], metadata=metadata
    )
    exact = await sk.create_metric(
        project.id,
        "exact",
        eval_type="heuristic",
        heuristic={"kind": "exact_match", "params": {"expected_field": "answer"}},
    )
    version = await sk.create_system_version_by_name(project.id, "bot", "sdk")
    cases = {t.inputs["question"]: t.id async for t in sk.list_testcases(testset.id)}
    return QaProject(project, testset, exact, version, cases)
