"""The demo evaluation, through the public gRPC API: project, testset, metrics, system, run."""

from __future__ import annotations

from dataclasses import dataclass

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb, qpb
from services.demo_system.testset import sample_testcases

# (name, heuristic kind, params)
DEMO_METRICS: list[tuple[str, str, dict[str, object]]] = [
    ("exact answer", "exact_match", {"expected_field": "answer"}),
    ("mentions answer", "contains", {"expected_field": "answer", "case_sensitive": False}),
    ("concise", "regex", {"pattern": r"-?\d+|[A-Z][\w\s'-]*", "mode": "fullmatch"}),
]


@dataclass(frozen=True)
class DemoIds:
    project_id: str
    testset_id: str
    system_version_id: str
    metric_ids: list[str]


# The API takes at most this many testcases a request (the orchestrator's
# MAX_TESTCASES_PER_REQUEST, services/run_orchestrator/testsets/validation.py; a client of the
# API does not import it): a larger testset is sent in parts.
MAX_PER_REQUEST = 10_000


async def prepare(client: Client, system_url: str, testcases: int = 240, name: str = "demo") -> DemoIds:
    project = await client.create_project(name, "Scorekeeper demo: a small question-answering system")
    cases = sample_testcases(testcases)
    testset = await client.create_testset(
        project.id,
        "questions",
        cases[:MAX_PER_REQUEST],
        inputs=["question"],
        expected=["answer"],
        metadata=["category"],
        json_schema={
            "type": "object",
            "required": ["question", "answer"],
            "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        },
    )
    for start in range(MAX_PER_REQUEST, len(cases), MAX_PER_REQUEST):
        await client.add_testcases(testset.id, cases[start : start + MAX_PER_REQUEST])
    metrics = [await client.create_heuristic_metric(project.id, n, k, p) for n, k, p in DEMO_METRICS]
    version = await client.create_http_system(
        project.id,
        "demo-qa",
        {
            "url": system_url,
            "body_template": {"question": "{{ inputs.question }}"},
            "response_path": "answer",
            "timeout_s": 10,
        },
    )
    return DemoIds(project.id, testset.id, version.id, [m.id for m in metrics])


async def add_judged_metric(client: Client, project_id: str) -> cpb.Metric:
    """An AI metric judged by the scorer's default judge (the demo judge in a devstack)."""
    return await client.create_ai_metric(
        project_id,
        "judged correct",
        model="demo-judge",
        template="answer_correctness",
        guidelines="Capitalisation and extra words do not matter.",
        description="LLM judge: does the answer state the reference answer?",
    )


def summary(run: qpb.RunView) -> str:
    lines = [
        f"run {run.id}: {run.status}",
        f"  records: {run.records}/{run.expected_records} ({run.errored_records} errored)",
        f"  scores:  {run.scores}/{run.expected_scores}",
        f"  duration: {run.duration_s:.2f}s",
        "  metric                 pass rate   95% interval    passed/scored  errored  judge tokens",
    ]
    for m in run.metrics:
        rate = f"{m.pass_rate * 100:6.1f}%" if m.HasField("pass_rate") else "    n/a"
        interval = (
            f"{m.ci_low * 100:5.1f}–{m.ci_high * 100:5.1f}%" if m.HasField("ci_low") and m.HasField("ci_high") else ""
        )
        tokens = m.judge_prompt_tokens + m.judge_completion_tokens
        lines.append(
            f"  {m.name:<22} {rate}   {interval:<13}   {m.passed:>6}/{m.scored:<6}  {m.errored:>7}  {tokens or '':>12}"
        )
    lines.append(f"  {run.url}")
    return "\n".join(lines)
