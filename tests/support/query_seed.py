"""A small project with known answers, for the query service's end-to-end tests.

Four client-side (sdk) runs ingest chosen outputs, latencies, tokens and costs through the public
API; the real scorer scores them with three heuristics. ``Plan`` is the oracle: every value a
read must return is computed from it here, independently of the services.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb
from shared.scoring.heuristics import HeuristicError, evaluate
from shared.scoring.record import ScoringInput

CAPITALS = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("Which planet is the largest?", "Jupiter"),
    ("What is the chemical symbol for gold?", "Au"),
    ("Who wrote Hamlet?", "William Shakespeare"),
    ("At what temperature in Celsius does water boil?", "100"),
]
MISC = [("What colour is a clear sky?", "blue"), ("What is the opposite of hot?", "cold")]

# name, heuristic kind, params, output type
METRICS: list[tuple[str, str, dict[str, Any], str]] = [
    ("exact", "exact_match", {"expected_field": "answer"}, "boolean"),
    ("overlap", "token_f1", {"expected_field": "answer"}, "float"),
    ("cheap", "cost_under", {"max_usd": 0.0015}, "boolean"),
]
FORMULA_ERROR = '=HYPERLINK("http://evil.example","click")'


@dataclass(frozen=True)
class RunPlan:
    name: str
    source: str
    system: str
    testset: str
    # None: an errored record (not scored)
    answers: list[str | None]
    latencies: list[float]
    costs: list[float | None]
    tags: dict[int, list[str]] = field(default_factory=dict)


PLANS = [
    RunPlan(
        "base",
        "api",
        "bot-a",
        "capitals",
        ["Paris", "Tokyo", "Saturn", "Au", "William Shakespeare", "100"],
        [10, 20, 30, 40, 50, 60],
        [0.001, 0.001, 0.001, 0.001, 0.001, None],
    ),
    RunPlan(
        "cand",
        "ci",
        "bot-a",
        "capitals",
        ["Paris", "Kyoto", "Jupiter", "Au gold", "William Shakespeare", None],
        [15, 25, 35, 45, 55, 65],
        [0.002] * 6,
        tags={1: ["regressed", "=cmd|' /C calc'!A0"], 3: ["regressed"]},
    ),
    RunPlan(
        "mon",
        "monitor",
        "bot-b",
        "capitals",
        ["Lyon", "Tokyo", "Saturn", "Au", "Shakespeare", "100"],
        [11, 21, 31, 41, 51, 61],
        [None] * 6,
    ),
    RunPlan("other", "api", "bot-b", "misc", ["blue", "warm"], [1, 2], [0.0001, 0.0001]),
]


@dataclass(frozen=True)
class Seeded:
    project_id: str
    testsets: dict[str, str]
    # testset name → testcase ids in the order of CAPITALS / MISC
    testcases: dict[str, list[str]]
    metrics: dict[str, str]
    systems: dict[str, str]
    system_versions: dict[str, str]
    runs: dict[str, str]


def cases(testset: str) -> list[tuple[str, str]]:
    return CAPITALS if testset == "capitals" else MISC


def score(metric: str, plan: RunPlan, i: int) -> tuple[str, float | None]:
    """What the scorer must give record i of the plan: (status, value as a number)."""
    _, kind, params, _ = METRICS[[m[0] for m in METRICS].index(metric)]
    answer = plan.answers[i]
    assert answer is not None
    record = ScoringInput(
        outputs={"response": answer}, expected={"answer": cases(plan.testset)[i][1]}, cost_usd=plan.costs[i]
    )
    try:
        verdict = evaluate(kind, params, record)
    except HeuristicError:
        return "errored", None
    return "completed", verdict.score if verdict.score is not None else float(verdict.passed)


def passed(metric: str, plan: RunPlan, i: int) -> bool | None:
    _, kind, params, _ = METRICS[[m[0] for m in METRICS].index(metric)]
    answer = plan.answers[i]
    assert answer is not None
    record = ScoringInput(
        outputs={"response": answer}, expected={"answer": cases(plan.testset)[i][1]}, cost_usd=plan.costs[i]
    )
    try:
        return evaluate(kind, params, record).passed
    except HeuristicError:
        return None


async def seed(client: Client, database_url: str, name: str = "query") -> Seeded:
    project = await client.create_project(name)
    testsets, testcases = {}, {}
    conn = await asyncpg.connect(database_url)
    try:
        for testset_name in ("capitals", "misc"):
            testset = await client.create_testset(
                project.id,
                testset_name,
                [{"question": q, "answer": a} for q, a in cases(testset_name)],
                inputs=["question"],
                expected=["answer"],
            )
            testsets[testset_name] = testset.id
            rows = await conn.fetch(
                "SELECT testcase_id FROM testcase_revisions WHERE testset_id = $1 ORDER BY position",
                uuid.UUID(testset.id),
            )
            testcases[testset_name] = [str(r["testcase_id"]) for r in rows]
    finally:
        await conn.close()
    metrics = {}
    for metric_name, kind, params, output_type in METRICS:
        metric = await client.create_heuristic_metric(project.id, metric_name, kind, params, output_type=output_type)
        metrics[metric_name] = metric.id
    systems, versions = {}, {}
    for system_name in ("bot-a", "bot-b"):
        system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=project.id, name=system_name))
        version = await client.catalog.CreateSystemVersion(
            cpb.CreateSystemVersionRequest(system_id=system.id, kind="sdk", name="v1")
        )
        systems[system_name], versions[system_name] = system.id, version.id
    runs = {}
    for plan in PLANS:
        run = await client.create_run(
            project.id,
            testsets[plan.testset],
            versions[plan.system],
            list(metrics.values()),
            source=plan.source,
            notes=f"the {plan.name} run",
        )
        runs[plan.name] = run.id
        await client.ingest_records(run.id, records(plan, testcases[plan.testset]))
        await client.wait_for_run(run.id, timeout_s=60)
        for i, tags in plan.tags.items():
            ids = [r.id async for r in client.records(run.id) if r.testcase_id == testcases[plan.testset][i]]
            await client.tag_records(run.id, ids, add=tags)
    return Seeded(project.id, testsets, testcases, metrics, systems, versions, runs)


def records(plan: RunPlan, testcase_ids: list[str]) -> list[dict[str, Any]]:
    result = []
    for i, answer in enumerate(plan.answers):
        record: dict[str, Any] = {
            "testcase_id": testcase_ids[i],
            "latency_ms": plan.latencies[i],
            "prompt_tokens": 10,
            "completion_tokens": 5,
        }
        if answer is None:
            record.update(status="errored", error=FORMULA_ERROR, outputs={})
        else:
            record["outputs"] = {"response": answer}
        if plan.costs[i] is not None:
            record["cost_usd"] = plan.costs[i]
        result.append(record)
    return result
