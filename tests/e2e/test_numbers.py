"""Numbers round-trip exactly — 64-bit integers and larger, decimals, 1 vs 1.0 — through the API
(HTTP JSON and gRPC), imports, the executor's templates, records, exports and the SDK."""

from __future__ import annotations

import json

import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.exact_json import python_value
from shared.devstack.stack import Stack
from tests.support.fake_system import FakeSystemServer, fake_system_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

system = pytest.fixture(scope="module")(fake_system_server)

# As the JSON text must come back, key for key.
CASE = (
    '{"question": "q", "n": 9007199254740993, "neg": -9223372036854775809, "x": 1.0, "one": 1, '
    '"d": 0.1, "price": 19.99, "big": 123456789012345678901234567890}'
)
EXPECTED = json.loads(CASE)
FIELDS = ["n", "neg", "x", "one", "d", "price", "big"]


def exact(text: str) -> dict[str, str]:
    """Each field's number as the JSON text shows it."""
    shown = {}
    for field in FIELDS:
        start = text.index(f'"{field}":') + len(field) + 3
        shown[field] = text[start:].lstrip().split(",")[0].split("}")[0].strip()
    return shown


AS_SENT = exact(CASE)


async def test_numbers_survive_every_path(stack: Stack, client: Client, system: FakeSystemServer) -> None:
    async with stack.http(stack.orchestrator_http) as orch, stack.http(stack.query_http) as query:
        project = (await orch.post("/v1/projects", json={"name": "numbers"})).json()["id"]
        created = await orch.post(
            f"/v1/projects/{project}/testsets",
            content=(
                '{"name": "exact", "field_mapping": {"inputs": ["question", "n", "neg", "x", "one", "d", "price", '
                f'"big"]}}, "testcases": [{CASE}]}}'
            ),
        )
        assert created.status_code == 200, created.text
        testset = created.json()["id"]

        # The API, over HTTP JSON and over gRPC.
        listed = await orch.get(f"/v1/testsets/{testset}/testcases")
        assert exact(listed.text) == AS_SENT
        (testcase,) = [t async for t in client.testcases(testset)]
        assert python_value(testcase.data) == EXPECTED

        # An import of the same values, as JSONL.
        imported = await orch.post(
            f"/v1/testsets/{testset}/testcases:import", params={"format": "jsonl"}, content=CASE.encode()
        )
        assert imported.status_code == 200, imported.text
        listed = await orch.get(f"/v1/testsets/{testset}/testcases")
        assert [exact(json.dumps(t["data"])) for t in listed.json()["testcases"]] == [AS_SENT, AS_SENT]

        # The executor's templates: a whole "{{ … }}" keeps the value's JSON type.
        system_id = (await orch.post(f"/v1/projects/{project}/systems", json={"name": "echo"})).json()["id"]
        template = {field: "{{ inputs." + field + " }}" for field in FIELDS}
        version = await orch.post(
            f"/v1/systems/{system_id}/versions",
            json={
                "kind": "http",
                "config": {"url": system.url("/echo"), "body_template": template, "outputs": {"received": "received"}},
            },
        )
        assert version.status_code == 200, version.text
        run = (
            await orch.post(
                f"/v1/projects/{project}/runs",
                json={"testset_id": testset, "system_version_id": version.json()["id"], "metric_ids": []},
            )
        ).json()["id"]
        final = await client.wait_for_run(run, timeout_s=60)
        assert (final.status, final.errored_records) == ("completed", 0)
        bodies = [r.body.decode() for r in system.received() if r.path == "/echo"]
        assert bodies and all(exact(b) == AS_SENT for b in bodies)

        # The records, read back over HTTP and gRPC, and both exports.
        records = await query.get(f"/v1/runs/{run}/records")
        for record in records.json()["records"]:
            assert exact(json.dumps(record["inputs"])) == AS_SENT
            assert exact(json.dumps(record["outputs"]["received"])) == AS_SENT
        grpc_records = [r async for r in client.records(run)]
        assert all(python_value(r.outputs)["received"] == {f: EXPECTED[f] for f in FIELDS} for r in grpc_records)
        jsonl = (await query.get(f"/v1/runs/{run}/records:export", params={"format": "jsonl"})).text
        assert all(exact(line) == AS_SENT for line in jsonl.splitlines())
        csv_text = (await query.get(f"/v1/runs/{run}/records:export", params={"format": "csv"})).text
        assert "9007199254740993" in csv_text and "123456789012345678901234567890" in csv_text

        # The SDK's ingest, then the API over HTTP.
        sdk_system = (await orch.post(f"/v1/projects/{project}/systems", json={"name": "client"})).json()["id"]
        sdk_version = (
            await orch.post(f"/v1/systems/{sdk_system}/versions", json={"kind": "sdk", "name": "v1", "config": {}})
        ).json()["id"]
        sdk_run = (
            await orch.post(
                f"/v1/projects/{project}/runs",
                json={"testset_id": testset, "system_version_id": sdk_version, "metric_ids": []},
            )
        ).json()["id"]
        ids = [t["id"] for t in listed.json()["testcases"]]
        await client.ingest_records(sdk_run, [{"testcase_id": i, "outputs": dict(EXPECTED)} for i in ids])
        await client.wait_for_run(sdk_run, timeout_s=30)
        for record in (await query.get(f"/v1/runs/{sdk_run}/records")).json()["records"]:
            assert exact(json.dumps(record["outputs"])) == AS_SENT
