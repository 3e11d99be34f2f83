"""Archived metrics on the real processes: left out of metric lists, refused for new runs,
re-scoring and monitors (a group leaves them out); the runs scored with them keep their scores,
and unarchiving brings them back."""

from __future__ import annotations

import re
import uuid

import pytest

from scorekeeper_sdk import FailedPrecondition, NotFound
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 4


async def test_an_archived_metric_leaves_the_lists_is_refused_for_new_runs_and_comes_back(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"retire {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "retirer", "write")).secret
    exact, mentions, concise = ids.metric_ids
    async with stack.sdk(key) as sdk:
        before = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids)
        done = await sdk.wait_for_run(before.id, timeout_s=60)
        assert done.status == "completed"
        group = await sdk.create_metric_group(ids.project_id, "gate", [exact, concise])

        archived = await sdk.archive_metric(concise)
        assert archived.archived_at and archived.name == "concise" and archived.version == 1
        assert [m.name for m in await sdk.list_metrics(ids.project_id)] == ["exact answer", "mentions answer"]
        assert [m.id for m in await sdk.list_metrics(ids.project_id, archived=True)] == [concise]
        every = await sdk.list_metrics(ids.project_id, include_archived=True)
        assert [m.name for m in every] == ["concise", "exact answer", "mentions answer"]
        assert (await sdk.get_metric(concise)).archived_at == archived.archived_at

        refusal = re.escape(f"metric 'concise' ({concise}) is archived: unarchive it to score with it")
        with pytest.raises(FailedPrecondition, match=refusal):
            await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, [exact, concise])
        with pytest.raises(FailedPrecondition, match=refusal):
            await sdk.rescore_run(before.id, [concise])
        with pytest.raises(FailedPrecondition, match=refusal):
            await sdk.create_monitor(ids.project_id, "prod", [concise], sample_rate=10, window_calls=5)
        # A group leaves its archived metrics out.
        grouped = await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, metric_group_id=group.id)
        assert [m.name for m in grouped.metrics] == ["exact answer"]
        await sdk.archive_metric(exact)
        with pytest.raises(FailedPrecondition, match="every metric of the group 'gate' is archived"):
            await sdk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, metric_group_id=group.id)
        await sdk.unarchive_metric(exact)

        # The run scored with it keeps its scores, filters and charts.
        run = await sdk.get_run(before.id)
        assert [m.name for m in run.metrics] == ["exact answer", "mentions answer", "concise"]
        assert run.metrics == done.metrics and run.records == TESTCASES
        passed = [r async for r in sdk.list_records(project_id=ids.project_id, where=[f"{concise}:passed"])]
        assert len(passed) == next(m.passed for m in run.metrics if m.name == "concise")
        (series,) = await sdk.run_history(ids.project_id, [concise])
        assert [p.run_id for p in series.points] == [before.id]

        with pytest.raises(FailedPrecondition, match=re.escape(f"metric 'concise' ({concise}) is already archived")):
            await sdk.archive_metric(concise)
        back = await sdk.unarchive_metric(concise)
        assert back.archived_at == ""
        assert len(await sdk.list_metrics(ids.project_id)) == 3
        with pytest.raises(FailedPrecondition, match="is not archived"):
            await sdk.unarchive_metric(concise)
        with pytest.raises(NotFound, match="does not exist"):
            await sdk.archive_metric(str(uuid.uuid4()))
        again = await sdk.rescore_run(before.id, [concise])
        assert again.id == before.id

    # Over HTTP: the verbs, the lists, and the two list flags together refused.
    async with stack.http(stack.orchestrator_http, key, timeout=30) as http:
        answered = await http.post(f"/v1/metrics/{mentions}:archive", json={})
        assert answered.status_code == 200 and answered.json()["archived_at"], answered.text
        again_ = await http.post(f"/v1/metrics/{mentions}:archive", json={})
        assert (again_.status_code, again_.json()["error"]["code"]) == (409, "FAILED_PRECONDITION")
        listed = await http.get(f"/v1/projects/{ids.project_id}/metrics", params={"archived": "true"})
        assert [m["name"] for m in listed.json()["metrics"]] == ["mentions answer"]
        both = await http.get(
            f"/v1/projects/{ids.project_id}/metrics", params={"archived": "true", "include_archived": "true"}
        )
        assert both.status_code == 400 and "exclude each other" in both.json()["error"]["message"]
        assert (await http.post(f"/v1/metrics/{mentions}:unarchive", json={})).json()["archived_at"] == ""


async def test_a_read_key_or_another_projects_key_cannot_archive(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, 2, name=f"retire ro {uuid.uuid4().hex[:6]}")
        other = await admin.create_project(f"other {uuid.uuid4().hex[:6]}", "")
        reader = (await admin.create_api_key(ids.project_id, "reader", "read")).secret
        stranger = (await admin.create_api_key(other.id, "stranger", "write")).secret
    metric = ids.metric_ids[0]
    async with stack.http(stack.orchestrator_http, reader, timeout=30) as http:
        refused = await http.post(f"/v1/metrics/{metric}:archive", json={})
    assert refused.status_code == 403 and "this key has the read role" in refused.json()["error"]["message"]
    async with stack.http(stack.orchestrator_http, stranger, timeout=30) as http:
        hidden = await http.post(f"/v1/metrics/{metric}:archive", json={})
        unknown = await http.post(f"/v1/metrics/{uuid.uuid4()}:archive", json={})
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "NOT_FOUND"
    async with stack.sdk() as sdk:
        assert (await sdk.get_metric(metric)).archived_at == ""


async def test_the_cli_takes_a_name_an_archived_metric_shares_as_the_live_ones(stack: Stack) -> None:
    async with stack.sdk(stack.admin_key) as admin:
        project = await admin.create_project(f"renamed {uuid.uuid4().hex[:6]}")
        retired = await admin.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        await admin.archive_metric(retired.id)
        live = await admin.create_heuristic_metric(project.id, "polite", "contains", {"value": "thanks"})
        made = scorekeeper(
            stack, "--project", project.id, "monitors", "create", "prod", "--sample-rate", "1", "--every-minutes", "5",
            "--metric", "polite",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        (monitor,) = await admin.list_monitors(project.id)
        assert [m.metric_id for m in monitor.metrics] == [live.id]
        # Two live metrics of one name: which one is meant cannot be told.
        other = await admin.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        ambiguous = scorekeeper(
            stack, "--project", project.id, "monitors", "create", "prod 2", "--sample-rate", "1", "--every-minutes",
            "5", "--metric", "polite",
        )  # fmt: skip
        assert ambiguous.returncode == 2
        both = ", ".join(sorted([live.id, other.id]))
        assert ambiguous.stderr.strip().splitlines()[-1] == f"error: 2 metrics are named 'polite' ({both}): give the id"
        assert len(await admin.list_monitors(project.id)) == 1
