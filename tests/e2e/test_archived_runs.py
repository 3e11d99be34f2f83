"""Archived runs on the real processes: hidden from run lists, the run history, the Records page and
the review queues; everything else about them still answers, and unarchiving brings them back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from scorekeeper_sdk import AsyncScorekeeper, FailedPrecondition, NotFound
from scorekeeper_sdk.views import Run
from shared.devstack import scenario
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 6


async def _runs(sdk: AsyncScorekeeper, project_id: str, **filters: object) -> list[str]:
    return [r.id async for r in sdk.list_runs(project_id, **filters)]  # type: ignore[arg-type]


async def _settled(sdk: AsyncScorekeeper, run: Run, status: str) -> Run:
    for _ in range(600):
        now = await sdk.get_run(run.id)
        if now.status == status:
            return now
        assert not now.finished, now.status_explanation
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run.id} never reached {status}")


async def test_an_archived_run_leaves_the_lists_charts_records_and_queues_and_comes_back(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"archive {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "archiver", "write")).secret
    async with stack.sdk(key) as sdk:
        helpful = await sdk.create_metric(ids.project_id, "helpful", eval_type="human")
        junk = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
        kept = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
        reviewed = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [helpful.id])
        for run in (junk, kept):
            assert (await sdk.wait_for_run(run.id, timeout_s=60)).status == "completed"
        await _settled(sdk, reviewed, "awaiting_human_scoring")
        assert await _runs(sdk, ids.project_id) == [reviewed.id, kept.id, junk.id]

        archived = await sdk.archive_run(junk.id)
        assert archived.archived_at and archived.status == "completed"
        assert await _runs(sdk, ids.project_id) == [reviewed.id, kept.id]
        assert await _runs(sdk, ids.project_id, archived=True) == [junk.id]
        (series, *_) = await sdk.run_history(ids.project_id, [ids.metric_ids[0]])
        assert [p.run_id for p in series.points] == [kept.id]
        everywhere = {r.run_id async for r in sdk.list_records(project_id=ids.project_id)}
        assert everywhere == {kept.id, reviewed.id}
        failing = {
            r.run_id async for r in sdk.list_records(project_id=ids.project_id, where=[f"{ids.metric_ids[2]}:passed"])
        }
        assert junk.id not in failing
        # Still there by its id: the run, its records, a comparison with it.
        assert len([r async for r in sdk.list_records(junk.id)]) == TESTCASES
        comparison = await sdk.compare_runs(kept.id, junk.id)
        assert comparison.testcases_compared == TESTCASES

        # A run waiting for reviewers may be archived: its items leave the project's queue, and
        # stay in the run's own.
        await sdk.archive_run(reviewed.id)
        (queue,) = await sdk.review_queues(ids.project_id)
        assert (queue.to_review, [r.run_id for r in queue.runs]) == (0, [])
        assert await sdk.next_review_item(helpful.id, "ann") is None
        item = await sdk.next_review_item(helpful.id, "ann", run_id=reviewed.id)
        assert item is not None and item.run_id == reviewed.id

        with pytest.raises(FailedPrecondition, match=f"run {junk.id} is already archived"):
            await sdk.archive_run(junk.id)
        unarchived = await sdk.unarchive_run(junk.id)
        assert unarchived.archived_at == ""
        assert await _runs(sdk, ids.project_id) == [kept.id, junk.id]
        with pytest.raises(FailedPrecondition, match=f"run {junk.id} is not archived"):
            await sdk.unarchive_run(junk.id)
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.archive_run(str(uuid.uuid4()))

        # A run still executing is cancelled, or finishes, first.
        sdk_version = await sdk.create_system_version_by_name(ids.project_id, "uploader", "sdk")
        waiting = await sdk.create_run(ids.project_id, ids.testset_id, sdk_version.id, ids.metric_ids)
        with pytest.raises(FailedPrecondition) as refused:
            await sdk.archive_run(waiting.id)
        assert str(refused.value).endswith("cancel it, or let it finish, before archiving it")
        await sdk.cancel_run(waiting.id)
        assert (await sdk.archive_run(waiting.id)).archived_at

    # Over HTTP: the verbs, and the list of archived runs.
    async with stack.http(stack.orchestrator_http, key, timeout=30) as http:
        answered = await http.post(f"/v1/runs/{kept.id}:archive", json={})
        assert answered.status_code == 200 and answered.json()["archived_at"], answered.text
        again = await http.post(f"/v1/runs/{kept.id}:archive", json={})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "FAILED_PRECONDITION")
        assert (await http.post(f"/v1/runs/{kept.id}:unarchive", json={})).json()["archived_at"] == ""
    async with stack.http(stack.query_http, key, timeout=30) as http:
        listed = await http.get(f"/v1/projects/{ids.project_id}/runs", params={"archived": "true"})
        assert [r["id"] for r in listed.json()["runs"]] == [waiting.id, reviewed.id]


async def test_a_read_key_cannot_archive(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, 2, name=f"archive ro {uuid.uuid4().hex[:6]}")
        run = await admin.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
        await admin.wait_for_run(run.id, timeout_s=60)
        reader = (await admin.create_api_key(ids.project_id, "reader", "read")).secret
    async with stack.http(stack.orchestrator_http, reader, timeout=30) as http:
        refused = await http.post(f"/v1/runs/{run.id}:archive", json={})
    assert refused.status_code == 403 and "this key has the read role" in refused.json()["error"]["message"]
    async with stack.sdk() as sdk:
        assert (await sdk.get_run(run.id)).archived_at == ""
