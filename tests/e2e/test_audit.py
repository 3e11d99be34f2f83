"""The audit log on the real processes: every change keys make to a project over gRPC and HTTP and
every attempt refused (a role too low, bad input, an id of another project) is listed, newest
first, with the key, the ids named and the outcome; reads and logged calls are not; another
project's key neither sees it nor lands in it; filters, pages, the CLI and the console's page."""

from __future__ import annotations

import json

import httpx
import pytest

from scorekeeper_sdk import AsyncScorekeeper, CallIn, InvalidArgument, NotFound, PermissionDenied
from scorekeeper_sdk.models import AuditEvent, AuditTarget
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

ADMIN = "SCOREKEEPER_ADMIN_KEY"


def client(stack: Stack, key: str) -> AsyncScorekeeper:
    return AsyncScorekeeper(f"grpc://{stack.orchestrator_grpc}", key, query_url=f"grpc://{stack.query_grpc}")


def said(events: list[AuditEvent]) -> list[tuple[str, str, str, str]]:
    return [(e.action, e.key_name, e.edge, e.outcome) for e in events]


def clients(events: list[AuditEvent]) -> set[str]:
    return {e.client for e in events}


async def test_every_change_and_refusal_is_listed_with_its_key_and_nothing_of_another_project(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("audited team")
    other = await sk.create_project("other team")
    ops = await sk.create_api_key(project.id, "ops", "admin")
    ci = await sk.create_api_key(project.id, "ci", "write")
    reader = await sk.create_api_key(project.id, "reader", "read")
    stranger = await sk.create_api_key(other.id, "stranger", "admin")
    async with (
        client(stack, ops.secret) as as_ops,
        client(stack, ci.secret) as as_ci,
        client(stack, reader.secret) as as_reader,
        client(stack, stranger.secret) as as_stranger,
    ):
        metric = await as_ci.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        with pytest.raises(PermissionDenied):
            await as_ci.create_api_key(project.id, "sneaky", "admin")
        with pytest.raises(InvalidArgument):
            await as_ci.create_heuristic_metric(project.id, " ", "contains", {"value": "x"})
        with pytest.raises(PermissionDenied):
            await as_reader.create_heuristic_metric(project.id, "mine", "contains", {"value": "x"})
        with pytest.raises(NotFound):
            await as_stranger.archive_metric(metric.id)
        # Neither reads nor logged calls are in the log.
        await as_ci.list_metrics(project.id)
        assert (await as_ci.log_calls(project.id, [CallIn(outputs={"response": "please"})])).stored == 1
        await as_ops.revoke_api_key(reader.key.id)
        async with httpx.AsyncClient(base_url=stack.orchestrator_http, timeout=30) as http:
            archived = await http.post(
                f"/v1/metrics/{metric.id}:archive", json={}, headers={"Authorization": f"Bearer {ci.secret}"}
            )
            assert archived.status_code == 200, archived.text
            events = [e async for e in as_ops.list_audit_events(project.id)]
            assert said(events) == [
                ("ArchiveMetric", "ci", "http", "OK"),
                ("RevokeApiKey", "ops", "grpc", "OK"),
                ("CreateMetric", "reader", "grpc", "PERMISSION_DENIED"),
                ("CreateMetric", "ci", "grpc", "INVALID_ARGUMENT"),
                ("CreateApiKey", "ci", "grpc", "PERMISSION_DENIED"),
                ("CreateMetric", "ci", "grpc", "OK"),
                ("CreateApiKey", ADMIN, "grpc", "OK"),
                ("CreateApiKey", ADMIN, "grpc", "OK"),
                ("CreateApiKey", ADMIN, "grpc", "OK"),
                ("CreateProject", ADMIN, "grpc", "OK"),
            ]
            assert clients(events[1:]) == {"scorekeeper-sdk"}
            assert events[0].client.startswith("python-httpx/")  # no header of ours: its User-Agent
            by_what = {(e.action, e.key_name, e.outcome): e for e in events}
            made = by_what["CreateMetric", "ci", "OK"]
            assert (made.name, made.key_role, made.key_prefix) == ("polite", "write", ci.key.prefix)
            assert made.key_id == ci.key.id
            assert made.targets == [AuditTarget("project_id", [project.id], 1), AuditTarget("created", [metric.id], 1)]
            denied = by_what["CreateApiKey", "ci", "PERMISSION_DENIED"]
            assert (denied.name, denied.error) == (
                "sneaky",
                "CreateApiKey needs a key with the admin role; this key has the write role",
            )
            assert by_what["RevokeApiKey", "ops", "OK"].targets == [AuditTarget("key_id", [reader.key.id], 1)]
            first = events[-1]
            assert (first.name, first.key_role, first.key_id) == ("audited team", "instance_admin", "")
            assert first.targets == [AuditTarget("created", [project.id], 1)]
            # The stranger's attempt is in its own project's log, not in this one.
            theirs = [e async for e in as_stranger.list_audit_events(other.id)]
            assert said(theirs)[0] == ("ArchiveMetric", "stranger", "grpc", "NOT_FOUND")
            assert theirs[0].error == f"metric {metric.id} does not exist"
            with pytest.raises(NotFound):
                [e async for e in as_stranger.list_audit_events(project.id)]

            # Filters: failed only, by action, by key; bad ones refused clearly.
            failed = [e async for e in as_ops.list_audit_events(project.id, failed_only=True)]
            assert [e.outcome for e in failed] == ["PERMISSION_DENIED", "INVALID_ARGUMENT", "PERMISSION_DENIED"]
            revoked = [e async for e in as_ops.list_audit_events(project.id, actions=["RevokeApiKey"])]
            assert said(revoked) == [("RevokeApiKey", "ops", "grpc", "OK")]
            of_ci = [e async for e in as_ops.list_audit_events(project.id, key_id=ci.key.id)]
            assert [(e.action, e.outcome) for e in of_ci] == [
                ("ArchiveMetric", "OK"),
                ("CreateMetric", "INVALID_ARGUMENT"),
                ("CreateApiKey", "PERMISSION_DENIED"),
                ("CreateMetric", "OK"),
            ]
            with pytest.raises(InvalidArgument, match=r"actions\[0\] 'CreateMonitr' is not an action the audit log"):
                [e async for e in as_ops.list_audit_events(project.id, actions=["CreateMonitr"])]
            with pytest.raises(NotFound, match=f"API key {stranger.key.id} does not exist"):
                [e async for e in as_ops.list_audit_events(project.id, key_id=stranger.key.id)]
            with pytest.raises(PermissionDenied, match="ListAuditEvents needs a key with the admin role"):
                [e async for e in as_ci.list_audit_events(project.id)]

            # Over HTTP, a page of 4 at a time: the same events, each once.
            headers = {"Authorization": f"Bearer {ops.secret}"}
            listed, token, pages = [], "", 0
            while True:
                page = await http.get(
                    f"/v1/projects/{project.id}/audit-events",
                    params={"page_size": 4, "page_token": token},
                    headers=headers,
                )
                assert page.status_code == 200, page.text
                body = page.json()
                listed += [e["id"] for e in body["events"]]
                pages += 1
                assert "CreateApiKey" in body["known_actions"] and "LogCalls" not in body["known_actions"]
                token = body["next_page_token"]
                if not token:
                    break
            assert (listed, pages) == ([e.id for e in events], 3)
            refused = await http.get(
                f"/v1/projects/{project.id}/audit-events", params={"actions": "Nope"}, headers=headers
            )
            assert refused.status_code == 400 and "'Nope' is not an action" in refused.json()["error"]["message"]


async def test_the_cli_and_the_console_show_the_log(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("audit views")
    ci = await sk.create_api_key(project.id, "ci", "write")
    ops = await sk.create_api_key(project.id, "ops", "admin")
    async with client(stack, ci.secret) as as_ci:
        metric = await as_ci.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        with pytest.raises(PermissionDenied):
            await as_ci.revoke_api_key(ops.key.id)

    shown = scorekeeper(stack, "audit", "--project", project.id, "--failed")
    assert shown.returncode == 0, shown.stderr
    assert "RevokeApiKey" in shown.stdout and "PERMISSION_DENIED" in shown.stdout and "CreateMetric" not in shown.stdout
    assert "[red]" not in shown.stdout  # styled, not markup printed as written
    as_json = scorekeeper(stack, "audit", "--project", project.id, "--key", "ci", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert [(e["action"], e["outcome"]) for e in json.loads(as_json.stdout)] == [
        ("RevokeApiKey", "PERMISSION_DENIED"),
        ("CreateMetric", "OK"),
    ]
    # The CLI says it is the CLI.
    made = scorekeeper(stack, "--project", project.id, "metrics", "create", "short", "--heuristic", "json_valid")
    assert made.returncode == 0, made.stderr
    (newest,) = [e async for e in sk.list_audit_events(project.id, actions=["CreateMetric"], page_size=1)][:1]
    assert (newest.name, newest.client) == ("short", "scorekeeper-cli")
    unknown = scorekeeper(stack, "audit", "--project", project.id, "--action", "Nope")
    assert unknown.returncode != 0 and "'Nope' is not an action the audit log holds" in unknown.stderr

    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, ops.secret)
        await page.goto(f"/projects/{project.id}/audit")
        rows = page.locator("#audit-table tbody tr")
        assert await rows.count() == 6  # the project, two keys, two metrics, the refusal: newest first
        first = rows.nth(1)
        assert await first.get_attribute("data-action") == "RevokeApiKey"
        assert "this key has the write role" in await first.inner_text()
        assert "polite" in await rows.nth(2).inner_text()
        assert await rows.nth(2).locator(f'a[href="/projects/{project.id}/metrics/{metric.id}"]').count() == 1
        assert await first.locator(f'[title="{ops.key.id}"]').count() == 1  # the key it named, refused
        await page.select_option("#audit-filters select[name=action]", "CreateMetric")
        await page.click("#audit-filters button")
        assert await rows.count() == 2 and await rows.nth(0).get_attribute("data-outcome") == "OK"
        # What the console itself does is said to come from the console.
        await page.goto(f"/projects/{project.id}/keys")
        await page.click("text=New key")
        await page.fill("#new-key-form input[name=name]", "from the console")
        await page.click("#new-key-form button[type=submit]")
        await page.locator("#new-key-secret").wait_for()
        await page.goto(f"/projects/{project.id}/audit?action=CreateApiKey")
        made_here = rows.nth(0)
        assert "from the console" in await made_here.inner_text()
        assert "scorekeeper-console" in await made_here.inner_text()
        await screenshot(page, "audit-log")
        # A write key's visitor is not shown the page.
        _, their = await signed_in(browser, stack.console_url, ci.secret)
        answer = await their.goto(f"/projects/{project.id}/audit")
        assert answer is not None and answer.status == 403
