"""Calls out of the platform against the real services: a system version cannot call the
platform's own listeners, configs cannot name the platform's settings as secrets, llm systems and
judges pass the same allowlist as http systems, and a secret a system echoes is stored masked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import cpb
from scorekeeper_sdk.exact_json import struct
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.support.fake_system import FakeSystemServer, fake_system_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

SECRET = "sk-e2e-echo-4d1f-not-a-real-key"
NOT_ALLOWED = "10.255.0.1"
system = pytest.fixture(scope="module")(fake_system_server)


@pytest.fixture(scope="module")
async def secret_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str
) -> AsyncIterator[Stack]:
    env = {"SECRET_E2E_BOT": SECRET}
    async with running_stack(tmp_path_factory, pg_server, template_database, bus_url, env=env) as stack:
        yield stack


async def _run(client: Client, demo: scenario.DemoIds, version_id: str, metric_ids: list[str]) -> str:
    run = await client.create_run(demo.project_id, demo.testset_id, version_id, metric_ids)
    final = await client.wait_for_run(run.id, timeout_s=60)
    assert final.status == "completed", final.status_explanation
    return run.id


async def test_a_system_version_cannot_call_the_platforms_own_listeners(stack: Stack, client: Client) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 2, name="outbound-platform")
    before = sorted(p.name for p in await client.list_projects())
    targets = {
        "orchestrator": f"{stack.orchestrator_http}/v1/projects",
        "query": f"{stack.query_http}/v1/projects/{demo.project_id}/runs",
        "broker": f"http://127.0.0.1:{stack.bus_url.rsplit(':', 1)[1]}/",
    }
    for name, url in targets.items():
        version = await client.create_http_system(
            demo.project_id, f"attacker-{name}", {"url": url, "body_template": {"name": "pwned"}, "max_attempts": 1}
        )
        run_id = await _run(client, demo, version.id, demo.metric_ids)
        records = [r async for r in client.records(run_id)]
        port = url.split(":")[2].split("/")[0]
        assert [(r.status, r.error) for r in records] == [
            (
                "errored",
                f"system URL 127.0.0.1:{port} is one of Scorekeeper's own listeners "
                "(SCOREKEEPER_PLATFORM_ADDRESSES), never called",
            )
        ] * 2, name
    assert sorted(p.name for p in await client.list_projects()) == before


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/systems/{system}/versions",
            {
                "kind": "llm",
                "config": {
                    "model": "m",
                    "messages": [{"role": "user", "content": "hi"}],
                    "api_key_env": "SCOREKEEPER_DATABASE_URL",
                },
            },
            "config.api_key_env 'SCOREKEEPER_DATABASE_URL' is one of the platform's own settings; "
            "name a secret of yours",
        ),
        (
            "/v1/systems/{system}/versions",
            {"kind": "http", "config": {"url": "http://127.0.0.1:9/x", "secret_headers": {"X-Key": {"env": "HOME"}}}},
            "config.secret_headers.X-Key.env 'HOME' is not a variable configs may name: use one listed in "
            "SCOREKEEPER_SECRET_ENV_NAMES (OPENAI_API_KEY) or one starting with 'SECRET_' "
            "(SCOREKEEPER_SECRET_ENV_PREFIX)",
        ),
        (
            "/v1/projects/{project}/metrics",
            {
                "name": "leaky judge",
                "eval_type": "ai",
                "output_type": "boolean",
                "ai": {"model": "m", "template": "safety", "api_key_env": "SCOREKEEPER_ADMIN_KEY"},
            },
            "ai.api_key_env 'SCOREKEEPER_ADMIN_KEY' is one of the platform's own settings; name a secret of yours",
        ),
    ],
)
async def test_configs_naming_the_platforms_settings_are_refused_at_creation(
    stack: Stack, client: Client, path: str, body: dict[str, object], message: str
) -> None:
    project = await client.create_project("outbound-secrets")
    system_row = await client.create_http_system(project.id, "bot", {"url": "http://127.0.0.1:9/x"})
    async with stack.http(stack.orchestrator_http) as http:
        url = path.format(system=system_row.system_id, project=project.id)
        response = await http.post(url, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "INVALID_ARGUMENT", "message": message}


async def test_a_system_made_with_its_first_version_is_not_made_when_the_version_is_refused(
    stack: Stack, client: Client
) -> None:
    project = await client.create_project("system-with-version")
    new = f"/v1/projects/{project.id}/system-versions"
    leaky = {"url": "http://127.0.0.1:9/x", "secret_headers": {"X-Key": {"env": "HOME"}}}
    fine = {"url": "http://127.0.0.1:9/x", "secret_headers": {"X-Key": {"env": "SECRET_BOT"}}}
    async with stack.http(stack.orchestrator_http) as http:

        async def systems() -> dict[str, list[str]]:
            listed = (await http.get(f"/v1/projects/{project.id}/systems")).json()["systems"]
            return {s["system"]["name"]: [v["name"] for v in s.get("versions", [])] for s in listed}

        refused = await http.post(new, json={"system_name": "bot", "kind": "http", "config": leaky})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["message"].startswith("config.secret_headers.X-Key.env 'HOME' is not a variable")
        assert await systems() == {}  # nothing half-made

        body = {"system_name": "bot", "system_description": "the bot", "kind": "http", "config": fine, "name": "v1"}
        made = await http.post(new, json=body)
        assert made.status_code == 200, made.text
        first = made.json()
        system = (await http.get(f"/v1/systems/{first['system_id']}")).json()
        assert (system["system"]["description"], system["system"]["production_version_id"]) == ("the bot", first["id"])
        # The same name again adds to that system; its description and production version stay.
        second = await http.post(new, json={**body, "system_description": "", "name": "v2", "config": {**fine}})
        assert second.status_code == 200 and second.json()["system_id"] == first["system_id"]
        system = (await http.get(f"/v1/systems/{first['system_id']}")).json()
        assert (system["system"]["description"], system["system"]["production_version_id"]) == ("the bot", first["id"])
        assert await systems() == {"bot": ["v1", "v2"]}

        for bad, message in [
            ({"system_name": " ", "kind": "http", "config": fine}, "system_name must not be empty"),
            (
                {"system_id": first["system_id"], "system_name": "bot", "kind": "http", "config": fine},
                "project_id, system_name: only without system_id, to name the system instead",
            ),
        ]:
            response = await http.post(new, json=bad)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["message"] == message
        response = await http.post(f"/v1/systems/{first['system_id']}/versions", json={"system_description": "x"})
        assert (
            response.json()["error"]["message"]
            == "system_description: only without system_id, to name the system instead"
        )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.catalog.CreateSystemVersion(cpb.CreateSystemVersionRequest(kind="http", config=struct(fine)))
    assert (
        raised.value.details() == "name the system: its system_id, or the project_id and system_name of one to create"
    )


async def test_llm_systems_and_judges_pass_the_allowlist(stack: Stack, client: Client) -> None:
    demo = await scenario.prepare(client, stack.demo_system_url, 2, name="outbound-llm")
    async with stack.http(stack.orchestrator_http) as http:
        system_id = (await http.post(f"/v1/projects/{demo.project_id}/systems", json={"name": "far llm"})).json()["id"]
        version = await http.post(
            f"/v1/systems/{system_id}/versions",
            json={
                "kind": "llm",
                "config": {
                    "model": "m",
                    "base_url": f"http://{NOT_ALLOWED}:9/v1",
                    "messages": [{"role": "user", "content": "{{ inputs.question }}"}],
                },
            },
        )
        assert version.status_code == 200, version.text
    run_id = await _run(client, demo, version.json()["id"], demo.metric_ids[:1])
    errors = {r.error async for r in client.records(run_id)}
    assert errors == {
        f"the model call failed: llm system endpoint host '{NOT_ALLOWED}' is not in the executor's allowlist "
        "(SCOREKEEPER_ALLOWED_HOSTS)"
    }
    judge = await client.create_ai_metric(
        demo.project_id, "far judge", model="m", template="safety", base_url=f"http://{NOT_ALLOWED}:9/v1"
    )
    run_id = await _run(client, demo, demo.system_version_id, [judge.id])
    scores = [s async for r in client.records(run_id) for s in [*r.scores]]
    assert {(s.status, s.error) for s in scores} == {
        (
            "errored",
            f"judge call failed: judge endpoint host '{NOT_ALLOWED}' is not in the scorer's allowlist "
            "(SCOREKEEPER_ALLOWED_HOSTS)",
        )
    }


async def test_a_secret_a_system_echoes_is_stored_and_exported_masked(
    secret_stack: Stack, system: FakeSystemServer
) -> None:
    async with secret_stack.client() as client:
        demo = await scenario.prepare(client, secret_stack.demo_system_url, 3, name="outbound-echo")
        version = await client.create_http_system(
            demo.project_id,
            "leaky bot",
            {
                "url": system.url("/headers"),
                "secret_headers": {"Authorization": {"env": "SECRET_E2E_BOT", "prefix": "Bearer "}},
                "outputs": {"answer": "headers.authorization"},
            },
        )
        run_id = await _run(client, demo, version.id, demo.metric_ids)
        records = [r async for r in client.records(run_id)]
        assert [dict(r.outputs) for r in records] == [{"answer": "Bearer ***"}] * 3
        assert {r.headers["authorization"] for r in system.received()} == {f"Bearer {SECRET}"}
        exported = b"".join([chunk async for chunk in client.export_run(run_id, "jsonl")])
        assert SECRET.encode() not in exported and b"Bearer ***" in exported
