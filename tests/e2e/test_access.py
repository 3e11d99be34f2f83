"""API keys against the real services: every RPC, from the proto descriptors, with no key, a revoked
key, a role too low, and another project's ids; and the key lifecycle (create, list, use, revoke)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import httpx
import pytest
from scorekeeper.v1 import monitors_pb2 as mpb

from scorekeeper_sdk import Client, InvalidArgument, NotFound
from scorekeeper_sdk.client import cpb, ppb
from scorekeeper_sdk.exact_json import struct
from shared.auth.access import Role
from shared.devstack import scenario
from shared.devstack.stack import Stack
from shared.edge.rules import http_rules
from tests.support.rpcs import RPCS, Rpc, unknown_ids, webhook_and_schedule

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


@dataclass
class Project:
    ids: dict[str, str]  # entity → an id of this project
    keys: dict[str, str]  # role → a key of this project


async def _project(stack: Stack, admin: Client, name: str) -> Project:
    demo = await scenario.prepare(admin, stack.demo_system_url, 5, name=name)
    run = await admin.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
    await admin.wait_for_run(run.id, timeout_s=60)
    records = [r async for r in admin.records(run.id)]
    group = await admin.catalog.CreateMetricGroup(
        cpb.CreateMetricGroupRequest(project_id=demo.project_id, name="group", metric_ids=demo.metric_ids[:1])
    )
    system_id = (await admin.get_run(run.id)).system_version.system_id
    keys = {
        role: (await admin.create_api_key(demo.project_id, f"{role} key", role)).secret
        for role in ("read", "write", "admin")
    }
    key_id = (await admin.list_api_keys(demo.project_id))[0].id
    testcases = [t async for t in admin.testcases(demo.testset_id)]
    # A try of a prompt whose endpoint (the demo judge) refuses it: its record errors at once.
    tried = await admin.playground.CreateTry(
        ppb.CreateTryRequest(
            project_id=demo.project_id,
            config=struct(
                {"model": "m", "messages": [{"role": "user", "content": "hi"}], "base_url": stack.demo_judge_url}
            ),
            cases=[ppb.TryCaseInput()],
        )
    )
    monitor = await admin.monitors.CreateMonitor(
        mpb.CreateMonitorRequest(
            # "concise" (a regex): a monitor's metric judges a call without expected values
            project_id=demo.project_id,
            name="prod",
            metric_ids=demo.metric_ids[2:],
            sample_rate=10,
            window_minutes=5,
        ),
        metadata=(("authorization", f"Bearer {stack.admin_key}"),),
    )
    logged = await admin.monitors.LogCalls(
        mpb.LogCallsRequest(project_id=demo.project_id, calls=[mpb.LoggedCall()]),
        metadata=(("authorization", f"Bearer {stack.admin_key}"),),
    )
    webhook_id, schedule_id = await webhook_and_schedule(admin, demo, stack.admin_key)
    return Project(
        ids={
            "project": demo.project_id,
            "run": run.id,
            "record": records[0].id,
            "metric": demo.metric_ids[0],
            "metric group": group.id,
            "system": system_id,
            "system version": demo.system_version_id,
            "testset": demo.testset_id,
            "API key": key_id,
            "testcase": testcases[0].id,
            "try": tried.id,
            "monitor": monitor.id,
            "webhook": webhook_id,
            "schedule": schedule_id,
            "call": logged.call_ids[0],
        },
        keys=keys,
    )


@dataclass
class World:
    a: Project
    b: Project
    revoked: str  # a revoked key of project A (it had the admin role)
    expired: str  # an expired key of project A (admin role)


async def _expire(stack: Stack, key_id: str) -> None:
    """A key's expiry moved into the past (the API makes keys that expire in a day at the soonest)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", key_id)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def world(stack: Stack) -> World:
    async with stack.client() as admin:
        a = await _project(stack, admin, "project A")
        b = await _project(stack, admin, "project B")
        revoked = await admin.create_api_key(a.ids["project"], "soon revoked", "admin")
        await admin.revoke_api_key(revoked.key.id)
        expired = await admin.create_api_key(a.ids["project"], "soon expired", "admin", expires_in_days=1)
    await _expire(stack, expired.key.id)
    return World(a, b, revoked.secret, expired.secret)


@pytest.fixture(scope="module")
async def channels(stack: Stack) -> AsyncIterator[dict[bool, grpc.aio.Channel]]:
    orchestrator = grpc.aio.insecure_channel(stack.orchestrator_grpc)
    query = grpc.aio.insecure_channel(stack.query_grpc)
    yield {False: orchestrator, True: query}
    await orchestrator.close()
    await query.close()


async def _code(
    rpc: Rpc, channels: dict[bool, grpc.aio.Channel], ids: dict[str, str], key: str | None
) -> tuple[grpc.StatusCode, str]:
    try:
        await rpc.call(channels[rpc.on_query], rpc.request(ids), key)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def test_every_rpc_names_a_role() -> None:
    assert len(RPCS) == 96
    roles = {rpc.name: rpc.role for rpc in RPCS}
    assert roles["CreateProject"] is Role.INSTANCE_ADMIN
    assert {n for n, r in roles.items() if r is Role.ADMIN} == {
        "CreateApiKey",
        "ListApiKeys",
        "RevokeApiKey",
        "RotateApiKey",
        "DeleteTestset",
        "UpdateProject",
        "CreateWebhook",
        "UpdateWebhook",
        "ListWebhooks",
        "DeleteWebhook",
        "TestWebhook",
        "ListWebhookDeliveries",
        "ListAuditEvents",
    }
    assert all(
        r is Role.READ
        for n, r in roles.items()
        if n.startswith(("Get", "List", "Export", "Compare"))
        and n not in ("ListApiKeys", "ListWebhooks", "ListWebhookDeliveries", "ListAuditEvents")
    )


async def test_every_rpc_without_a_key_or_with_a_bad_or_revoked_key_is_unauthenticated(
    world: World, channels: dict[bool, grpc.aio.Channel]
) -> None:
    successes = []
    for key, message in [
        (None, "an API key is required"),
        ("sk_nope", "the API key is not valid"),
        (world.revoked, "the API key was revoked"),
        (world.expired, "the API key expired at "),
    ]:
        for rpc in RPCS:
            code, details = await _code(rpc, channels, world.a.ids, key)
            if code is not grpc.StatusCode.UNAUTHENTICATED or not details.startswith(message):
                successes.append((rpc.name, key, code, details))
    assert successes == []


async def test_every_rpc_above_a_keys_role_is_permission_denied(
    world: World, channels: dict[bool, grpc.aio.Channel]
) -> None:
    wrong = []
    checked = 0
    for role in ("read", "write", "admin"):
        for rpc in RPCS:
            if rpc.role <= Role.parse(role):
                continue
            checked += 1
            code, details = await _code(rpc, channels, world.a.ids, world.a.keys[role])
            if code is not grpc.StatusCode.PERMISSION_DENIED or f"this key has the {role} role" not in details:
                wrong.append((rpc.name, role, code, details))
    assert wrong == []
    # read: 45 writes + 13 admin RPCs + CreateProject; write: 14 (keys, webhooks, deletes, projects,
    # the audit log); admin: 1
    assert checked == 59 + 14 + 1


async def test_another_projects_ids_answer_exactly_as_unknown_ids(
    world: World, channels: dict[bool, grpc.aio.Channel]
) -> None:
    """Project A's admin key on every RPC naming project B's ids: NOT_FOUND, worded as for ids that
    exist nowhere; 0 successes."""
    differences = []
    scoped = [rpc for rpc in RPCS if rpc.scoped_fields()]
    assert len(scoped) == 93
    unknown = unknown_ids()
    for rpc in scoped:
        foreign = await _code(rpc, channels, world.b.ids, world.a.keys["admin"])
        missing = await _code(rpc, channels, unknown, world.a.keys["admin"])
        # Same answer once the ids in the message are put back.
        normalise = [(world.b.ids[e], "<id>") for e in world.b.ids] + [(i, "<id>") for i in unknown.values()]
        texts = []
        for _, details in (foreign, missing):
            for old, new in normalise:
                details = details.replace(old, new)
            texts.append(details)
        if foreign[0] is not grpc.StatusCode.NOT_FOUND or (foreign[0], texts[0]) != (missing[0], texts[1]):
            differences.append((rpc.name, foreign, missing))
    assert differences == []


async def test_a_project_key_sees_only_its_project(stack: Stack, world: World) -> None:
    async with stack.client(world.a.keys["read"]) as reader:
        assert [p.id for p in await reader.list_projects()] == [world.a.ids["project"]]
        me = await reader.who_am_i()
        assert (me.project_id, me.role, me.name) == (world.a.ids["project"], "read", "read key")
        assert re.fullmatch(r"sk_[0-9a-f]{12}", me.prefix)
        runs = [r.id async for r in reader.list_runs(world.a.ids["project"])]
        assert runs == [world.a.ids["run"]]
    async with stack.client() as admin:
        assert {p.name for p in await admin.list_projects()} >= {"project A", "project B"}


async def test_roles_allow_what_they_name(stack: Stack, world: World) -> None:
    ids = world.a.ids
    async with stack.client(world.a.keys["write"]) as writer:
        run = await writer.create_run(ids["project"], ids["testset"], ids["system version"], [ids["metric"]])
        await writer.wait_for_run(run.id, timeout_s=60)
        assert (await writer.update_run_notes(run.id, "by the write key")).notes == "by the write key"
    async with stack.client(world.a.keys["admin"]) as admin:
        created = await admin.create_api_key(ids["project"], "ci", "read")
        assert created.secret.startswith(created.key.prefix + "_")
        listed = {k.id: k for k in await admin.list_api_keys(ids["project"])}
        assert listed[created.key.id].role == "read" and listed[created.key.id].prefix == created.key.prefix
        assert all(not hasattr(k, "secret") for k in listed.values())
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await admin.create_project("not mine to make")
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as bad_role:
            await admin.create_api_key(ids["project"], "x", "owner")
        assert bad_role.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "role must be one of read, write, admin" in (bad_role.value.details() or "")


async def test_a_projects_admin_renames_and_describes_it(stack: Stack, world: World) -> None:
    project = world.a.ids["project"]
    async with stack.sdk(world.a.keys["admin"]) as admin:
        renamed = await admin.update_project(project, name="project A, renamed", description="the console's tests")
        assert (renamed.name, renamed.description) == ("project A, renamed", "the console's tests")
        described = await admin.update_project(project, description="")  # the name is kept
        assert (described.name, described.description) == ("project A, renamed", "")
        with pytest.raises(InvalidArgument, match="name must not be empty"):
            await admin.update_project(project, name="  ")
        assert (await admin.update_project(project, name="project A")).name == "project A"
    async with httpx.AsyncClient(timeout=30) as http:
        answered = await http.patch(
            f"{stack.orchestrator_http}/v1/projects/{project}",
            json={"description": "over HTTP"},
            headers={"Authorization": f"Bearer {world.a.keys['admin']}"},
        )
    assert (answered.status_code, answered.json()["name"], answered.json()["description"]) == (
        200,
        "project A",
        "over HTTP",
    )


async def test_a_revoked_key_stops_working_on_both_services_and_use_is_recorded(stack: Stack, world: World) -> None:
    async with stack.client() as admin:
        made = await admin.create_api_key(world.a.ids["project"], "short-lived", "read")
    async with stack.client(made.secret) as user:
        await user.get_run(world.a.ids["run"])
        await user.get_metric(world.a.ids["metric"])
        async with stack.client() as admin:
            for _ in range(100):  # usage is written every 5 s, at most once a minute per service
                key = {k.id: k for k in await admin.list_api_keys(world.a.ids["project"])}[made.key.id]
                if key.last_used_at:
                    break
                await asyncio.sleep(0.2)
            assert key.last_used_at
            await admin.revoke_api_key(made.key.id)
        await _refused(lambda: user.get_run(world.a.ids["run"]), "the API key was revoked")
        await _refused(lambda: user.get_metric(world.a.ids["metric"]), "the API key was revoked")


async def _refused(call: Callable[[], Awaitable[object]], message: str) -> None:
    """The call refused as UNAUTHENTICATED with a message matching ``message`` (a regex) once the
    key's change reaches the service's cache (through NOTIFY)."""
    for _ in range(50):
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAUTHENTICATED
            assert re.fullmatch(message, exc.details() or ""), exc.details()
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the key still works (expected {message!r})")


async def test_a_rotated_key_works_through_its_grace_and_its_successor_at_once(stack: Stack, world: World) -> None:
    project, run_id = world.a.ids["project"], world.a.ids["run"]
    async with stack.sdk(world.a.keys["admin"]) as admin:
        made = await admin.create_api_key(project, "ci deploys", "write", expires_in_days=30)
        async with stack.client(made.secret) as old_user:
            await old_user.get_run(run_id)
            # A day's grace: the old key keeps working, the new one (same name, role, 30-day life) works now.
            rotated = await admin.rotate_api_key(made.key.id, grace_hours=24)
            new, old = rotated.key, rotated.replaced
            assert (new.name, new.role, new.project_id) == ("ci deploys", "write", project)
            assert rotated.secret.startswith(new.prefix + "_") and new.prefix != made.key.prefix
            now = datetime.now(UTC)
            life = datetime.fromisoformat(new.expires_at) - now
            assert timedelta(days=30) - timedelta(minutes=1) < life <= timedelta(days=30)
            grace = datetime.fromisoformat(old.expires_at) - now
            assert (old.id, old.revoked_at) == (made.key.id, "")
            assert timedelta(hours=24) - timedelta(minutes=1) < grace <= timedelta(hours=24)
            await asyncio.sleep(0.5)  # as long as a revocation takes to reach the caches
            assert (await old_user.get_run(run_id)).id == run_id
            async with stack.client(rotated.secret) as new_user:
                assert (await new_user.get_run(run_id)).id == run_id
                # No grace: the successor's successor (never expiring) replaces it at once.
                again = await admin.rotate_api_key(new.id, expires_in_days=0)
                assert again.key.expires_at == "" and again.replaced.revoked_at
                await _refused(lambda: new_user.get_run(run_id), "the API key was revoked")
            assert (await old_user.get_run(run_id)).id == run_id  # its own grace still runs
        listed = {k.id: k for k in await admin.list_api_keys(project)}
        assert [listed[i].name for i in (made.key.id, new.id, again.key.id)] == ["ci deploys"] * 3
        # Refused, with nothing made.
        for kwargs, message in [
            ({"grace_hours": 721}, "grace_hours must be 0..720 (0: the old key is revoked now), got 721"),
            ({"grace_hours": -1}, "grace_hours must be 0..720 (0: the old key is revoked now), got -1"),
            ({"expires_in_days": 3651}, "expires_in_days must be 1..3650 (0: never expires), got 3651"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await admin.rotate_api_key(again.key.id, **kwargs)
        unknown = str(uuid.uuid4())
        with pytest.raises(NotFound, match=f"API key {unknown} does not exist"):
            await admin.rotate_api_key(unknown)
        with pytest.raises(NotFound, match=f"API key {world.b.ids['API key']} does not exist"):
            await admin.rotate_api_key(world.b.ids["API key"])  # another project's key
        assert len(await admin.list_api_keys(project)) == len(listed)
    # Over HTTP as the proto routes it.
    async with httpx.AsyncClient(timeout=30) as http:
        answered = await http.post(
            f"{stack.orchestrator_http}/v1/api-keys/{again.key.id}:rotate",
            json={"grace_hours": 1},
            headers={"Authorization": f"Bearer {world.a.keys['admin']}"},
        )
    body = answered.json()
    assert answered.status_code == 200 and body["secret"].startswith(body["key"]["prefix"] + "_")
    assert body["replaced"]["id"] == again.key.id and body["replaced"]["expires_at"]


async def test_a_key_that_expires_says_when_and_stops_working_then(stack: Stack, world: World) -> None:
    project = world.a.ids["project"]
    async with stack.client() as admin:
        made = await admin.create_api_key(project, "for a month", "read", expires_in_days=30)
        expires = datetime.fromisoformat(made.key.expires_at)
        assert timedelta(days=30) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=30)
        assert (await admin.create_api_key(project, "forever", "read")).key.expires_at == ""
        for days in (-1, 3651):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await admin.create_api_key(project, "too long", "read", expires_in_days=days)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == f"expires_in_days must be 1..3650 (0: never expires), got {days}"
        listed = {k.id: k for k in await admin.list_api_keys(project)}
        assert listed[made.key.id].expires_at == made.key.expires_at
    async with stack.client(made.secret) as user:
        await user.get_run(world.a.ids["run"])  # in use: cached by both services
        await user.get_metric(world.a.ids["metric"])
        await _expire(stack, made.key.id)
        expired = r"the API key expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; ask the project's admin for a new one"
        await _refused(lambda: user.get_run(world.a.ids["run"]), expired)
        await _refused(lambda: user.get_metric(world.a.ids["metric"]), expired)


async def test_every_http_route_checks_the_key(stack: Stack, world: World) -> None:
    """Over HTTP: 401 without a key; project A's key on a route naming project B's ids answers 404
    as for an unknown id; health, readiness and metrics stay open."""
    wrong: list[tuple[object, ...]] = []
    routes = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for rpc in RPCS:
            base = stack.query_http if rpc.on_query else stack.orchestrator_http
            for verb, template, _, _ in http_rules(rpc.method):
                routes += 1
                names = re.findall(r"\{(\w+)\}", template)
                fill = {
                    **{f"{e.replace(' ', '_')}_id": v for e, v in world.b.ids.items()},
                    "baseline_run_id": world.b.ids["run"],
                    "key_id": world.b.ids["API key"],
                }
                path = template
                for name in names:
                    path = path.replace(f"{{{name}}}", fill[name])
                response = await http.request(verb, base + path, content=b"{}" if verb in ("POST", "PATCH") else None)
                if response.status_code != 401:
                    wrong.append((verb, template, "no key", response.status_code))
                answered = await http.request(
                    verb,
                    base + path,
                    content=b"{}" if verb in ("POST", "PATCH") else None,
                    headers={"Authorization": f"Bearer {world.a.keys['admin']}"},
                )
                # a route naming no id answers; the run matrix without its run ids (a query
                # parameter) is a bad request
                expected = 404 if names else {"CreateProject": 403, "CompareRunMatrix": 400}.get(rpc.name, 200)
                if answered.status_code != expected:
                    wrong.append((verb, template, "A's key", answered.status_code, answered.text[:200]))
        for base in (stack.orchestrator_http, stack.query_http):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert (await http.get(base + path)).status_code == 200
    assert wrong == []
    assert routes == 99
