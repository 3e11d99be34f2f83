"""The demo evaluation, through the public gRPC API: project, testset, metrics, system, run; then
the same answers logged as production calls, watched by a monitor that alerts the demo system, and
rated by their users (thumbs up or down) — does the monitor's judge agree with them?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from scorekeeper_sdk import AsyncScorekeeper, CallIn, Client, FeedbackIn
from scorekeeper_sdk.client import cpb, qpb
from scorekeeper_sdk.views.monitors import MonitorWindow
from services.demo_system.testset import sample_testcases

T = TypeVar("T")

# (name, heuristic kind, params)
DEMO_METRICS: list[tuple[str, str, dict[str, object]]] = [
    ("exact answer", "exact_match", {"expected_field": "answer"}),
    ("mentions answer", "contains", {"expected_field": "answer", "case_sensitive": False}),
    ("concise", "regex", {"pattern": r"-?\d+|[A-Z][\w\s'-]*", "mode": "fullmatch"}),
]


# Where the demo system's traced answer says what the call used and how it was reached.
TRACED = {
    "usage": {"prompt_tokens": "usage.prompt_tokens", "completion_tokens": "usage.completion_tokens"}
    | {"cost_usd": "usage.cost_usd"},
    "spans_path": "trace.spans",
}


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


async def prepare(
    client: Client, system_url: str, testcases: int = 240, name: str = "demo", *, traced: bool = False
) -> DemoIds:
    """The demo's project, testset, metrics and system; ``traced``: the system reports each call's
    usage and steps (the demo system's ``?trace=1``), as ``make demo`` shows them — the benchmarks
    leave them out, measuring the pipeline as before."""
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
            "url": f"{system_url}?trace=1" if traced else system_url,
            "body_template": {"question": "{{ inputs.question }}"},
            "response_path": "answer",
            "timeout_s": 10,
        }
        | (TRACED if traced else {}),
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
        *_used(run),
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


def _used(run: qpb.RunView) -> list[str]:
    """What the system's calls used, when they said (a traced demo system does)."""
    t = run.totals
    if not t.costed_records and not t.prompt_tokens + t.completion_tokens:
        return []
    tokens = f"{t.prompt_tokens + t.completion_tokens:,} tokens ({t.prompt_tokens:,} prompt)"
    return [f"  used:    {tokens}, ${t.cost_usd:.4f} over {t.costed_records} calls that said"]


async def steps(client: Client, run: qpb.RunView, console_url: str) -> str:
    """Where a record shows how its answer was reached: its steps, as the system reported them."""
    async for record in client.records(run.id, page_size=50):
        found = await client.get_record(record.id)
        if found.spans:
            names = " → ".join(s.name for s in found.spans if not s.parent_id)
            return (
                f"each answer's steps are kept with its record ({len(found.spans)} here: {names}):\n"
                f"  {console_url}/projects/{run.project_id}/records/{record.id}"
            )
    return "no record holds steps"


async def slices(client: Client, run: qpb.RunView, field: str = "metadata.category") -> str:
    """The run per value of a testcase field: each metric's pass rate there — where it fails."""
    found = await client.run_breakdown(run.id, field)
    lines = [f"by {field} (the run page's Where does it fail?, or `scorekeeper runs breakdown {run.id} {field}`):"]
    for g in found.groups:
        label = f"the {g.rest_values} other values" if g.rest else "(none)" if g.no_value else g.value
        rates = " · ".join(f"{m.name} {m.pass_rate * 100:.1f}%" for m in g.metrics if m.HasField("pass_rate"))
        lines.append(f"  {label:<12} {g.records:>5} records  {rates}")
    return "\n".join(lines)


async def weak_slices(client: Client, run: qpb.RunView, shown: int = 3) -> str:
    """The run's slices that fail most, with no field chosen."""
    found = await client.weak_slices(run.id, limit=shown)
    lines = [f"its weakest slices of {found.tested} tested (`scorekeeper runs slices {run.id}`):"]
    for s in found.slices:
        lines.append(
            f"  {s.field}={s.value:<14} {s.metric_name:<16} {s.pass_rate * 100:5.1f}% of {s.scored:<4}"
            f" against {s.rest_pass_rate * 100:5.1f}% of {s.rest_scored:<4} p {s.p_value:.2g}, q {s.q_value:.2g}"
        )
    if not found.slices:
        lines.append("  none: no slice passes less often than the rest of the run")
    return "\n".join(lines)


# The monitor's alert fires below this pass rate of "concise" (the demo system is chatty 1 in 12),
# and below this share of thumbs up among the users' verdicts given during a window (at least
# FEEDBACK_MIN of them).
ALERT_BELOW = 0.95
FEEDBACK_BELOW = 0.9
FEEDBACK_MIN = 5


async def _production_calls(sk: AsyncScorekeeper, run_id: str, again: bool = False) -> list[CallIn]:
    """The run's answers as production calls, under the caller's own ids (req-<testcase>; asked
    ``again``: req-<testcase>-again, new calls)."""
    return [
        CallIn(
            call_id=f"req-{r.testcase_id}{'-again' if again else ''}",
            inputs=r.inputs,
            outputs=r.outputs,
            metadata={**r.metadata, "route": "demo"},
            latency_ms=r.latency_ms,
            status="errored" if r.status == "errored" else "completed",
            error=r.error,
        )
        async for r in sk.list_records(run_id)
    ]


async def _decided(sk: AsyncScorekeeper, monitor_id: str, windows: int) -> list[MonitorWindow]:
    """The monitor's windows, oldest first, once ``windows`` closed with their alerts told (or after 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        detail = await sk.get_monitor(monitor_id)
        told = all(
            w.alert_delivery in ("", "delivered", "failed") and w.alert_state != "waiting" for w in detail.windows
        )
        if (len(detail.windows) >= windows and told) or time.monotonic() > deadline:
            return sorted(detail.windows, key=lambda w: w.number)
        await asyncio.sleep(0.3)


def _alert_said(w: MonitorWindow, alert_url: str, threshold: float) -> str:
    if w.alert_state == "below":
        which = "below" if any(m.below for m in w.metrics) or not w.slices_below else "a category below"
        return f"{which} {threshold:.0%}: alert {w.alert_delivery or 'pending'} to {alert_url}"
    if w.alert_state == "recovered":
        return f"back at or above {threshold:.0%}: recovery {w.alert_delivery or 'pending'} to {alert_url}"
    if w.alert_state == "ok":
        return f"at or above {threshold:.0%}: no alert"
    return w.alert_state


async def watch_production(sk: AsyncScorekeeper, ids: DemoIds, run_id: str, system_url: str, console_url: str) -> str:
    """The run's answers logged as production calls (under the caller's own ids), a monitor scoring
    every one of them with "concise" in two windows, alerting the demo system's /alerts below
    ALERT_BELOW in a whole window or in one category's calls; what each window found and what became
    of its alert."""
    concise = ids.metric_ids[2]
    calls = await _production_calls(sk, run_id)
    size = max(1, len(calls) // 2)
    monitor = await sk.create_monitor(
        ids.project_id,
        "production",
        [concise],
        sample_rate=100,
        window_calls=size,
        alert_url=_alert_url(system_url),
        alert_below={concise: ALERT_BELOW},
        alert_recovery=True,
        alert_slice_fields=["metadata.category"],
        min_slice_calls=10,
    )
    for start in range(0, len(calls), 1000):
        await sk.log_calls(ids.project_id, calls[start : start + 1000])
    lines = [f"monitor 'production': the same {len(calls)} answers logged as production calls, a window every {size}:"]
    for w in await _decided(sk, monitor.id, len(calls) // size):
        result = ", ".join(f"{m.name} {round(m.value * m.scored)}/{m.scored} passed ({m.value:.2%})" for m in w.metrics)
        lines.append(
            f"  window {w.number}: {w.calls} calls, {result} — {_alert_said(w, monitor.alert.webhook_url, ALERT_BELOW)}"
        )
        lines += [f"    slice below: {x.shown}" for x in w.slices_below]
    lines.append(f"  {console_url}/projects/{ids.project_id}/monitors/{monitor.id}")
    return "\n".join(lines)


def _alert_url(system_url: str) -> str:
    return system_url.rsplit("/", 1)[0] + "/alerts"


async def users_feedback(sk: AsyncScorekeeper, ids: DemoIds, run_id: str, console_url: str) -> str:
    """Two in five of the production calls rated by their users with "thumbs" (a human metric):
    they dislike chatty answers as "concise" does, but for one in seven of them they see it the
    other way; how "concise" (the monitor's judge) agrees with them over the monitor's windows. The
    monitor then alerts on the thumbs instead: the ratings are given while its third window is open,
    which a window's worth of the answers logged again closes."""
    thumbs = await sk.create_metric(ids.project_id, "thumbs", eval_type="human")
    concise = ids.metric_ids[2]
    monitor = next(m for m in await sk.list_monitors(ids.project_id) if m.name == "production")
    # From now on it alerts on the users' thumbs alone.
    await sk.update_monitor(
        monitor.id,
        alert_url=monitor.alert.webhook_url,
        alert_below={},
        alert_recovery=True,
        alert_feedback_below={thumbs.id: FEEDBACK_BELOW},
        min_feedback=FEEDBACK_MIN,
    )
    rated: list[FeedbackIn] = []
    async for n, record in _numbered(sk.list_records(run_id)):
        verdict = next((x for x in record.scores if x.metric_id == concise and x.passed is not None), None)
        if record.status == "completed" and verdict is not None and n % 5 in (0, 2):
            up = bool(verdict.passed) != (n % 7 == 0)
            rated.append(FeedbackIn(f"req-{record.testcase_id}", thumbs.id, up, author=f"user-{n % 13}"))
    for start in range(0, len(rated), 1000):
        await sk.send_feedback_batch(rated[start : start + 1000], project_id=ids.project_id)
    cells = [0, 0]  # agreed, compared
    windows = (await sk.get_monitor(monitor.id)).windows
    for window in windows:
        met = await sk.metric_agreement(window.run_id, concise, thumbs.id)
        cells[0] += met.both_passed + met.both_failed
        cells[1] += met.compared
    # A window's worth of calls again (new ids) closes the window the ratings were given in.
    again = (await _production_calls(sk, run_id, again=True))[: monitor.window_calls]
    for start in range(0, len(again), 1000):
        await sk.log_calls(ids.project_id, again[start : start + 1000])
    third = (await _decided(sk, monitor.id, len(windows) + 1))[-1]
    users = ", ".join(f"{m.value:.1%} thumbs up of {m.scored}" for m in third.feedback)
    ups = sum(1 for f in rated if f.value)
    lines = [
        f"users' feedback: {len(rated)} calls rated with 'thumbs' (a human metric), {ups} thumbs up"
        f" ({ups / max(len(rated), 1):.1%})",
        f"  the monitor's judge 'concise' agrees with the users on {cells[0]} of the {cells[1]} calls both judged",
        f"  the monitor now alerts below {FEEDBACK_BELOW:.0%} thumbs up: window {third.number}, open while they"
        f" rated, {users} — {_alert_said(third, monitor.alert.webhook_url, FEEDBACK_BELOW)}",
        f"  {console_url}/projects/{ids.project_id}/calls",
    ]
    return "\n".join(lines)


async def _numbered(items: AsyncIterator[T]) -> AsyncIterator[tuple[int, T]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1
