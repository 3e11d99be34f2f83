"""run_and_evaluate against the real services: sync and async systems over 500 testcases × 2 trials,
errored records carrying the exception, the concurrency cap counted, and a process SIGKILLed mid-way
then resumed to exactly one record per testcase × trial."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scorekeeper_sdk import AsyncScorekeeper, NotFound, Scorekeeper
from scorekeeper_sdk.evaluate import Output, run_and_evaluate
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 500
TRIALS = 2
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class World:
    project_id: str
    testset_id: str
    metric_id: str
    key: str  # a write key of the project
    url: str
    query_url: str

    def client(self) -> Scorekeeper:
        return Scorekeeper(self.url, self.key, query_url=self.query_url)


@pytest.fixture(scope="module")
async def world(stack: Stack) -> World:
    async with stack.client() as admin:
        project = await admin.create_project(f"sdk {uuid.uuid4().hex[:6]}")
        testset = await admin.create_testset(
            project.id,
            "additions",
            [{"question": f"What is {n} + 1?", "n": n, "answer": str(n + 1)} for n in range(TESTCASES)],
            inputs=["question", "n"],
            expected=["answer"],
        )
        metric = await admin.create_heuristic_metric(project.id, "exact", "exact_match", {"expected_field": "answer"})
        key = await admin.create_api_key(project.id, "sdk tests", "write")
    return World(
        project.id, testset.id, metric.id, key.secret, f"grpc://{stack.orchestrator_grpc}", f"grpc://{stack.query_grpc}"
    )


@pytest.fixture
def client(world: World) -> Iterator[Scorekeeper]:
    with world.client() as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(world: World) -> AsyncIterator[AsyncScorekeeper]:
    async with AsyncScorekeeper(world.url, world.key, query_url=world.query_url) as async_client:
        yield async_client


class Gauge:
    """Counts calls in flight at once, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def errored_n(n: int) -> bool:
    return n % 50 == 7  # 10 of the 500 testcases


async def _errors(aclient: AsyncScorekeeper, run_id: str) -> dict[tuple[int, int], str]:
    return {(int(r.inputs["n"]), r.trial): r.error async for r in aclient.list_records(run_id, statuses=["errored"])}


async def test_a_sync_system_in_a_bounded_thread_pool(
    world: World, client: Scorekeeper, aclient: AsyncScorekeeper
) -> None:
    gauge = Gauge()

    def system(inputs: dict[str, Any]) -> str:
        with gauge:
            time.sleep(0.004)
            if errored_n(inputs["n"]):
                raise ValueError(f"cannot answer {inputs['n']}")
            return str(inputs["n"] + 1)

    evaluation = await asyncio.to_thread(
        run_and_evaluate,
        client,
        project_id=world.project_id,
        testset_id=world.testset_id,
        metric_ids=[world.metric_id],
        system=system,
        trials=TRIALS,
        max_concurrency=4,
        notes="sync",
        wait=True,
        wait_timeout_s=120,
    )
    assert (evaluation.calls, evaluation.errored, evaluation.uploaded, evaluation.skipped) == (1000, 20, 1000, 0)
    assert gauge.most == 4
    run = evaluation.run
    assert (run.status, run.records, run.errored_records, run.source, run.notes) == (
        "completed",
        1000,
        20,
        "api",
        "sync",
    )
    assert run.system_version is not None
    assert (run.system_version.kind, run.system_version.system_name, run.system_version.name) == (
        "sdk",
        "system",
        "sdk",
    )
    exact = run.metric("exact")
    assert (exact.scored, exact.passed, exact.errored, exact.pass_rate) == (980, 980, 0, 1.0)
    assert run.totals.latency_ms_mean is not None and run.totals.latency_ms_mean >= 4.0
    errors = await _errors(aclient, run.id)
    expected = {(n, t): f"ValueError: cannot answer {n}" for n in range(TESTCASES) if errored_n(n) for t in range(2)}
    assert errors == expected


async def test_an_async_system_with_bounded_concurrency_and_usage(world: World, aclient: AsyncScorekeeper) -> None:
    gauge = Gauge()

    async def system(inputs: dict[str, Any]) -> Output:
        with gauge:
            await asyncio.sleep(0.004)
            if errored_n(inputs["n"]):
                raise KeyError(f"n={inputs['n']}")
            return Output({"response": str(inputs["n"] + 1)}, prompt_tokens=10, completion_tokens=2, cost_usd=0.001)

    evaluation = await run_and_evaluate(
        aclient,
        project_id=world.project_id,
        testset_id=world.testset_id,
        metric_ids=[world.metric_id],
        system=system,
        system_version="async v1",
        trials=TRIALS,
        max_concurrency=8,
        wait=True,
        wait_timeout_s=120,
        progress=False,
    )
    assert (evaluation.calls, evaluation.errored, evaluation.uploaded) == (1000, 20, 1000)
    assert gauge.most == 8
    run = evaluation.run
    assert run.system_version is not None and run.system_version.name == "async v1"
    assert (run.status, run.records, run.errored_records) == ("completed", 1000, 20)
    assert (run.totals.prompt_tokens, run.totals.completion_tokens, run.totals.costed_records) == (9800, 1960, 980)
    assert run.totals.cost_usd == pytest.approx(0.98)
    assert run.metric("exact").passed == 980
    errors = await _errors(aclient, run.id)
    assert errors[(7, 0)] == "KeyError: 'n=7'" and len(errors) == 20


async def test_testcases_given_inline_become_a_testset(world: World, aclient: AsyncScorekeeper) -> None:
    testcases: list[dict[str, Any]] = [
        {"inputs": {"city": "Paris"}, "expected": {"country": "France"}},
        {"inputs": {"city": "Rome"}, "expected": {"country": "Italy"}, "metadata": {"tier": 1}},
        {"inputs": {"city": "Lima"}, "expected": {"country": "Chile"}},
    ]
    metric = await aclient.create_heuristic_metric(
        world.project_id, "country", "exact_match", {"expected_field": "country", "output_field": "country"}
    )
    countries = {"Paris": "France", "Rome": "Italy", "Lima": "Peru"}
    evaluation = await run_and_evaluate(
        aclient,
        project_id=world.project_id,
        testcases=testcases,
        metric_ids=[metric.id],
        system=lambda inputs: {"country": countries[inputs["city"]]},
        wait=True,
        wait_timeout_s=60,
        progress=False,
    )
    run = evaluation.run
    assert (run.status, run.records, run.metric("country").passed, run.metric("country").scored) == (
        "completed",
        3,
        2,
        3,
    )
    testset = await aclient.get_testset(run.testset_id)
    assert (testset.testcase_count, testset.field_mapping.inputs, testset.field_mapping.expected) == (
        3,
        ["city"],
        ["country"],
    )
    assert testset.field_mapping.metadata == ["tier"]
    assert run.system_version is not None and run.system_version.system_name == "python-system"
    with pytest.raises(ValueError, match="exactly one of testset_id or testcases"):
        await run_and_evaluate(aclient, project_id=world.project_id, system=str, metric_ids=[metric.id])


def _records_settled(client: Scorekeeper, run_id: str) -> int:
    """The run's record count once it stopped moving (ingested records are stored asynchronously)."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 1.5:
        count = client.get_run(run_id).records
        if count != last:
            last, since = count, time.monotonic()
        time.sleep(0.1)
    return last


async def _interrupted_child(world: World, tmp_path: Path, how: signal.Signals, name: str) -> tuple[Path, str]:
    """Starts a process evaluating 500 testcases × 2 trials and sends it ``how`` after 600 calls;
    returns the file of its calls and its stderr."""
    calls = tmp_path / "calls"
    calls.touch()
    args = [
        world.url,
        world.query_url,
        world.key,
        world.project_id,
        world.testset_id,
        world.metric_id,
        str(calls),
        name,
    ]
    child = subprocess.Popen(  # noqa: ASYNC220 - a process the test stops, never awaited
        [sys.executable, "-m", "tests.support.sdk_child", *args],
        cwd=ROOT,
        env={**os.environ, "SCOREKEEPER_CONFIG": str(tmp_path / "none.toml")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(calls.read_text().splitlines()) < 600:
            assert child.poll() is None, "the child ended before it was stopped"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        child.send_signal(how)
        _, stderr = await asyncio.to_thread(child.communicate, timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    return calls, stderr


async def _resume_to_one_record_per_pair(client: Scorekeeper, run_id: str, before: int) -> None:
    called: Counter[int] = Counter()
    lock = threading.Lock()

    def system_again(inputs: dict[str, Any]) -> str:
        with lock:
            called[inputs["n"]] += 1
        return str(inputs["n"] + 1)

    evaluation = await asyncio.to_thread(
        run_and_evaluate, client, system=system_again, resume_run_id=run_id, wait=True, wait_timeout_s=120
    )
    assert (evaluation.calls, evaluation.skipped, evaluation.uploaded) == (1000 - before, before, 1000 - before)
    assert sum(called.values()) == 1000 - before and max(called.values()) <= 2
    final = evaluation.run
    assert (final.status, final.records, final.errored_records) == ("completed", 1000, 0)
    pairs = Counter((r.testcase_id, r.trial) for r in client.list_records(run_id, page_size=1000))
    assert len(pairs) == 1000 and set(pairs.values()) == {1}
    assert final.metric("exact").passed == 1000


def _run_of(client: Scorekeeper, project_id: str, system_name: str) -> str:
    (system,) = [s.system for s in client.list_systems(project_id) if s.system.name == system_name]
    (run,) = list(client.list_runs(project_id, system_id=system.id))
    return run.id


async def test_a_killed_process_leaves_a_run_that_resumes_to_one_record_per_pair(
    world: World, client: Scorekeeper, tmp_path: Path
) -> None:
    calls, _ = await _interrupted_child(world, tmp_path, signal.SIGKILL, "killed mid-way")
    run_id = _run_of(client, world.project_id, "killed mid-way")
    before = await asyncio.to_thread(_records_settled, client, run_id)
    # Some batches were uploaded, and calls the killed process made were lost with it.
    assert 0 < before < len(calls.read_text().splitlines()) < 1000
    assert client.get_run(run_id).status != "completed"
    await _resume_to_one_record_per_pair(client, run_id, before)


async def test_ctrl_c_uploads_what_finished_and_says_how_to_resume(
    world: World, client: Scorekeeper, tmp_path: Path
) -> None:
    calls, stderr = await _interrupted_child(world, tmp_path, signal.SIGINT, "interrupted")
    run_id = _run_of(client, world.project_id, "interrupted")
    before = await asyncio.to_thread(_records_settled, client, run_id)
    made = len(calls.read_text().splitlines())
    # Every finished call was uploaded; at most the 4 in flight were dropped.
    assert made - 4 <= before <= made < 1000
    assert f"run {run_id} interrupted (CancelledError)" in stderr
    assert f"resume_run_id='{run_id}'" in stderr and f"scorekeeper eval --resume {run_id}" in stderr
    await _resume_to_one_record_per_pair(client, run_id, before)


async def test_resume_refuses_what_it_cannot_complete(world: World, aclient: AsyncScorekeeper) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        await run_and_evaluate(aclient, system=str, resume_run_id=str(uuid.uuid4()))
    system = await aclient.create_system(world.project_id, "cancelled")
    version = await aclient.create_system_version(system.id, "sdk", {}, "v1")
    run = await aclient.create_run(world.project_id, world.testset_id, version.id, [world.metric_id])
    assert (await aclient.cancel_run(run.id)).status == "cancelled"
    with pytest.raises(ValueError, match=f"run {run.id} is cancelled; it takes no more records"):
        await run_and_evaluate(aclient, system=str, resume_run_id=run.id)
