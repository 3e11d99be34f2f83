"""The run lifecycle on the real processes: trials, cancel, notes, re-scoring, human review, tags."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import grpc
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb
from scorekeeper_sdk.exact_json import struct
from services.demo_system.app import answer
from services.demo_system.testset import sample_testcases
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
BUSES = ("nats", "kafka")


def exact_passes(count: int) -> int:
    """How many of the first ``count`` sample testcases the demo system answers exactly."""
    return sum(answer(c["question"]) == (200, c["answer"]) for c in sample_testcases(count))


async def test_trials_make_one_record_per_testcase_and_trial(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 20, name="trials")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1], trials=3)
    assert run.expected_records == 60
    view = await client.wait_for_run(run.id, timeout_s=60)
    errored = sum(answer(c["question"])[0] != 200 for c in sample_testcases(20))
    assert (view.status, view.records, view.errored_records) == ("completed", 60, 3 * errored)
    records = [r async for r in client.records(run.id)]
    assert Counter(r.trial for r in records) == {0: 20, 1: 20, 2: 20}
    assert len({(r.testcase_id, r.trial) for r in records}) == 60
    assert view.metrics[0].passed == 3 * exact_passes(20)


async def test_notes_are_editable(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 3, name="notes")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [], notes="first")
    assert (await client.update_run_notes(run.id, "second thoughts")).notes == "second thoughts"
    assert (await client.get_run(run.id)).notes == "second thoughts"


async def test_rescoring_after_a_guidelines_change_gives_exact_aggregates(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 60, name="rescore")
    exact_id = ids.metric_ids[0]
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [exact_id])
    first = await client.wait_for_run(run.id, timeout_s=60)
    assert first.metrics[0].passed == exact_passes(60)
    old_version = first.metrics[0].metric_version_id

    # The metric's definition changes: case-insensitive and with new guidelines → version 2.
    v2 = await client.update_metric(
        exact_id,
        guidelines="case does not matter",
        heuristic={"kind": "exact_match", "params": {"expected_field": "answer", "case_sensitive": False}},
    )
    assert v2.version == 2 and v2.version_id != old_version
    # Saving the same definition again makes no version 3 (the console's unchanged form).
    same = await client.update_metric(
        exact_id,
        guidelines="case does not matter",
        heuristic={"kind": "exact_match", "params": {"expected_field": "answer", "case_sensitive": False}},
    )
    assert (same.version, same.version_id) == (2, v2.version_id)
    history = await client.get_metric(exact_id)
    assert [v.version for v in history.versions] == [1, 2]
    assert history.versions[0].guidelines == "" and history.versions[1].guidelines == "case does not matter"

    rescored = await client.rescore_run(run.id, [(exact_id, "")])
    assert rescored.status == "awaiting_scoring"
    assert list(rescored.metric_version_ids) == [v2.version_id]
    final = await client.wait_for_run(run.id, timeout_s=60)
    expected = sum(
        answer(c["question"])[0] == 200 and answer(c["question"])[1].casefold() == c["answer"].casefold()
        for c in sample_testcases(60)
    )
    assert expected > exact_passes(60)  # the change matters for this testset
    summary = final.metrics[0]
    assert (final.status, summary.metric_version_id) == ("completed", v2.version_id)
    assert (summary.scored, summary.passed, summary.errored, summary.pending) == (
        final.records - final.errored_records,
        expected,
        0,
        0,
    )
    # Old scores of the old version stay readable on each record.
    completed = [r async for r in client.records(run.id) if r.status == "completed"]
    record = completed[0]
    assert {s.metric_version_id for s in record.scores} == {old_version, v2.version_id}


async def test_a_human_metric_holds_the_run_until_the_last_review(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 4, name="human")
    human = await client.create_metric(ids.project_id, "helpfulness", eval_type="human", output_type="int")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [ids.metric_ids[0], human.id])
    for _ in range(200):
        view = await client.get_run(run.id)
        if view.status == "awaiting_human_scoring":
            break
        await asyncio.sleep(0.1)
    assert view.status == "awaiting_human_scoring"
    helpfulness = next(m for m in view.metrics if m.name == "helpfulness")
    completed = view.records - view.errored_records
    assert (helpfulness.scored, helpfulness.pending) == (0, completed)
    assert view.status_explanation == f"Waiting for reviewers: helpfulness ({completed})."

    records = [r async for r in client.records(run.id) if r.status == "completed"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.submit_human_score(records[0].id, human.id, 9, reviewer="ann")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "value must be a whole number within 1..5 for an int metric, got 9"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.submit_human_score(records[0].id, ids.metric_ids[0], True, reviewer="ann")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    for i, record in enumerate(records):
        reply = await client.submit_human_score(
            record.id, human.id, 5 if i % 2 == 0 else 2, reviewer="ann", comment=f"review {i}"
        )
        assert reply.passed == (i % 2 == 0)
    final = await client.wait_for_run(run.id, timeout_s=30)
    helpfulness = next(m for m in final.metrics if m.name == "helpfulness")
    assert final.status == "completed"
    assert (helpfulness.scored, helpfulness.passed, helpfulness.pending) == (completed, (completed + 1) // 2, 0)
    assert helpfulness.mean == pytest.approx(sum(5 if i % 2 == 0 else 2 for i in range(completed)) / completed)
    reviewed = [
        s for r in [r async for r in client.records(run.id)] for s in r.scores if s.metric_name == "helpfulness"
    ]
    assert sorted(s.comment for s in reviewed) == sorted(f"review {i}" for i in range(completed))
    assert {s.reviewer for s in reviewed} == {"ann"}


async def test_tags_are_added_and_removed_idempotently(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 5, name="tags")
    run = await client.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [])
    await client.wait_for_run(run.id, timeout_s=30)
    record_ids = [r.id async for r in client.records(run.id)][:2]
    for _ in range(2):
        assert (await client.tag_records(run.id, record_ids, add=["review", "flaky"])).updated == 2
    assert (await client.tag_records(run.id, record_ids[:1], remove=["flaky"])).updated == 1
    tags = {r.id: list(r.tags) async for r in client.records(run.id)}
    assert tags[record_ids[0]] == ["review"] and tags[record_ids[1]] == ["flaky", "review"]


async def test_cancel_stops_execution_and_counts_stay_exact(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str
) -> None:
    async with (
        running_stack(tmp_path_factory, pg_server, template_database, bus_url, demo_latency_ms=50) as slow,
        slow.client() as client,
    ):
        ids = await scenario.prepare(client, slow.demo_system_url, 240, name="cancel")
        run = await client.create_run(
            ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids, max_concurrency=2
        )
        while (await client.get_run(run.id)).records < 10:
            await asyncio.sleep(0.05)
        cancelled = await client.cancel_run(run.id)
        assert cancelled.status == "cancelled"
        await asyncio.sleep(2.5)  # in-flight calls land; no new ones start
        settled = await client.get_run(run.id)
        await asyncio.sleep(1.5)
        later = await client.get_run(run.id)
        assert later.status == "cancelled"
        # Nothing more after the in-flight calls landed, far short of the 240: not cancelled, the run
        # would have gone on at up to 40 records a second (2 calls at a time, 50 ms each), 170 or more
        # by now. (How many landed after the 10 depends on the machine's load: the records stored lag
        # those executed, and the cancel takes up to half a second to reach the executor; 60 seen.)
        assert later.records == settled.records < 100
        records = [r async for r in client.records(run.id)]
        assert len(records) == later.records
        assert later.status_explanation == f"The run was cancelled with {later.records} of 240 records executed."
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.cancel_run(run.id)
        assert (info.value.code(), info.value.details()) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            f"run {run.id} is already cancelled",
        )


async def test_sdk_runs_complete_from_ingested_records(client: Client, stack: Stack) -> None:
    from shared.db.pool import create_pool

    ids = await scenario.prepare(client, stack.demo_system_url, 8, name="sdk")
    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=ids.project_id, name="client-side"))
    version = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(system_id=system.id, kind="sdk", name="laptop")
    )
    run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids[:1])
    await asyncio.sleep(1.0)
    assert (await client.get_run(run.id)).status == "awaiting_execution"  # the executor leaves sdk runs alone

    async with create_pool(stack.database_url, max_size=1) as pool:
        testcases = await pool.fetch(
            "SELECT testcase_id, inputs FROM testcase_revisions WHERE testset_id = $1", uuid.UUID(ids.testset_id)
        )
    records = [
        {
            "testcase_id": str(t["testcase_id"]),
            "outputs": {"response": answer(t["inputs"]["question"])[1]},
            "latency_ms": 12.5,
        }
        for t in testcases
    ]
    bad_cases = [
        ([{**records[0], "trial": 1}], "records[0].trial must be within 0..0, got 1"),
        ([records[0], records[0]], "records[1] repeats records[0]"),
        ([{**records[0], "testcase_id": str(uuid.uuid4())}], "is not in version 1 of the run's testset"),
        ([{**records[0], "status": "weird"}], "records[0].status must be completed or errored, got 'weird'"),
    ]
    for batch, fragment in bad_cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.ingest_records(run.id, batch)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in (info.value.details() or "")
    assert (await client.get_run(run.id)).records == 0  # nothing of a bad batch was taken

    first = await client.ingest_records(run.id, records[:5])
    assert (first.accepted, len(first.stored), len(first.duplicates), len(first.refused)) == (5, 5, 0, 0)
    for _ in range(100):  # until the orchestrator stored them
        if (await client.get_run(run.id)).records == 5:
            break
        await asyncio.sleep(0.1)
    # The first five again: duplicates, left as they are; an answer too large to keep is refused
    # and its record kept as errored, so the run still completes.
    huge = {**records[7], "outputs": {"response": "y" * 600_000}}
    again = await client.ingest_records(run.id, [*records[:7], huge])
    assert [d.index for d in again.duplicates] == [0, 1, 2, 3, 4]
    assert [s.index for s in again.stored] == [5, 6]
    assert [(r.record.index, r.reason) for r in again.refused] == [
        (
            7,
            "the outputs were not kept: it is 600,015 bytes of JSON, more than the 524,288 a record's outputs may hold",
        )
    ]
    assert again.accepted == 3
    final = await client.wait_for_run(run.id, timeout_s=30)
    assert (final.status, final.records, final.errored_records) == ("completed", 8, 1)
    expected_answers = {c["question"]: c["answer"] for c in sample_testcases(8)}
    kept = [t for t in testcases if str(t["testcase_id"]) != records[7]["testcase_id"]]
    assert final.metrics[0].passed == sum(
        answer(t["inputs"]["question"])[1] == expected_answers[t["inputs"]["question"]] for t in kept
    )
    got = {r.testcase_id: r for r in [r async for r in client.records(run.id)]}
    assert len(got) == 8 and all(r.latency_ms == 12.5 for r in got.values())
    assert got[str(records[7]["testcase_id"])].status == "errored"


async def test_metric_groups_and_production_versions(client: Client, stack: Stack) -> None:
    ids = await scenario.prepare(client, stack.demo_system_url, 4, name="catalog")
    group = await client.catalog.CreateMetricGroup(
        cpb.CreateMetricGroupRequest(project_id=ids.project_id, name="core", metric_ids=ids.metric_ids[:2])
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.catalog.CreateMetricGroup(
            cpb.CreateMetricGroupRequest(project_id=ids.project_id, name="core", metric_ids=ids.metric_ids[:1])
        )
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    run = await client.create_run(
        ids.project_id, ids.testset_id, ids.system_version_id, [ids.metric_ids[2]], metric_group_id=group.id
    )
    assert len(run.metric_version_ids) == 3  # the group's two metrics join the one named directly
    assert (await client.wait_for_run(run.id, timeout_s=30)).status == "completed"

    system = await client.catalog.CreateSystem(cpb.CreateSystemRequest(project_id=ids.project_id, name="demo-qa"))
    v2 = await client.create_http_system(ids.project_id, "demo-qa", {"url": stack.demo_system_url}, "v2")
    updated = await client.catalog.SetProductionVersion(
        cpb.SetProductionVersionRequest(system_id=system.id, version_id=v2.id)
    )
    assert updated.production_version_id == v2.id
    listed = await client.catalog.GetSystem(cpb.GetSystemRequest(system_id=system.id))
    assert [v.name for v in listed.versions] == ["v1", "v2"]

    llm = await client.catalog.CreateSystemVersion(
        cpb.CreateSystemVersionRequest(
            system_id=system.id,
            kind="llm",
            name="prompt",
            config=struct({"model": "gpt-x", "messages": [{"role": "user", "content": "{{ inputs.question }}"}]}),
        )
    )
    # No endpoint in the version and no key for the executor's default one: every record says so,
    # and the run still completes.
    run = await client.create_run(ids.project_id, ids.testset_id, llm.id, ids.metric_ids[:1])
    view = await client.wait_for_run(run.id, timeout_s=30)
    assert (view.status, view.records, view.errored_records) == ("completed", 4, 4)
    errors = {r.error async for r in client.records(run.id)}
    assert errors == {
        "the model call failed: system endpoint api.openai.com: the API key environment variable OPENAI_API_KEY"
        " is not set"
    }


async def test_rescoring_a_run_still_executing_is_refused(client: Client, stack: Stack) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        ids = await scenario.prepare(client, stack.demo_system_url, 3, name="early-rescore")
        config = {"url": f"http://127.0.0.1:{port}/x", "timeout_s": 5}
        version = await client.create_http_system(ids.project_id, "silent", config)
        run = await client.create_run(ids.project_id, ids.testset_id, version.id, ids.metric_ids[:1])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.rescore_run(run.id, [(ids.metric_ids[0], "")])
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "only a run whose records are all in can be re-scored" in (info.value.details() or "")
        await client.cancel_run(run.id)
    finally:
        silent.close()
