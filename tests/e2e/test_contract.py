"""The HTTP contract against the real services: the OpenAPI document and the routes cannot drift,
the document is valid OpenAPI 3.1, a contract fuzzer finds no answer >= 500 and none outside the
document, and each class of input once seen answering 500 answers 4xx (or 503 while PostgreSQL
is down)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from openapi_spec_validator import validate
from scorekeeper.v1 import monitors_pb2 as mpb

from scorekeeper_sdk.client import cpb, ppb
from scorekeeper_sdk.exact_json import struct
from shared.devstack import scenario
from shared.devstack.stack import Stack, StackConfig
from shared.edge.rules import http_rules
from shared.embedded import ensure_database
from shared.embedded_kafka import fast_join_env
from tests.support.postgres import OwnPostgres, own_postgres
from tests.support.rpcs import RPCS, Rpc, webhook_and_schedule

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

ROOT = Path(__file__).resolve().parents[2]


def _routes(on_query: bool) -> set[tuple[str, str]]:
    return {
        (verb.lower(), path) for rpc in RPCS if rpc.on_query == on_query for verb, path, _, _ in http_rules(rpc.method)
    }


@pytest.fixture(scope="module")
async def ids(stack: Stack) -> dict[str, str]:
    """Path parameter → an id of one project's entities, and that project's admin key."""
    async with stack.client() as admin:
        demo = await scenario.prepare(admin, stack.demo_system_url, 12, name="contract")
        run = await admin.create_run(demo.project_id, demo.testset_id, demo.system_version_id, demo.metric_ids)
        await admin.wait_for_run(run.id, timeout_s=60)
        record = await anext(admin.records(run.id))
        testcase = await anext(admin.testcases(demo.testset_id))
        tried = await admin.playground.CreateTry(
            ppb.CreateTryRequest(
                project_id=demo.project_id,
                config=struct({"model": "m", "messages": [{"role": "user", "content": "{{ inputs.question }}"}]}),
                testset_id=demo.testset_id,
                testcase_ids=[testcase.id],
            )
        )
        key = await admin.create_api_key(demo.project_id, "contract fuzz", "admin")
        # The fuzzer revokes the key named in its paths: not the one it calls with.
        victim = await admin.create_api_key(demo.project_id, "to be revoked by the fuzzer", "read")
        monitor = await admin.monitors.CreateMonitor(
            mpb.CreateMonitorRequest(
                # "concise" (a regex): a monitor's metric judges a call without expected values
                project_id=demo.project_id,
                name="fuzzed",
                metric_ids=demo.metric_ids[2:],
                sample_rate=50,
                window_calls=5,
            ),
            metadata=(("authorization", f"Bearer {stack.admin_key}"),),
        )
        webhook_id, schedule_id = await webhook_and_schedule(admin, demo, stack.admin_key)
        return {
            "project_id": demo.project_id,
            "testset_id": demo.testset_id,
            "testcase_id": testcase.id,
            "metric_id": demo.metric_ids[0],
            "system_id": (await admin.get_run(run.id)).system_version.system_id,
            "run_id": run.id,
            "baseline_run_id": run.id,
            "record_id": record.id,
            "key_id": victim.key.id,
            "try_id": tried.id,
            "monitor_id": monitor.id,
            "webhook_id": webhook_id,
            "schedule_id": schedule_id,
            "key": key.secret,
        }


@pytest.mark.parametrize("on_query", [False, True], ids=["orchestrator", "query"])
async def test_the_document_is_valid_and_matches_the_routes(stack: Stack, on_query: bool) -> None:
    base = stack.query_http if on_query else stack.orchestrator_http
    async with httpx.AsyncClient(base_url=base) as http:  # open, like /healthz
        document = (await http.get("/openapi.json")).json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    documented = {(verb, path) for path, ops in document["paths"].items() for verb in ops}
    assert documented == _routes(on_query)
    assert len(documented) == (19 if on_query else 80)
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            responses = operation["responses"]
            assert {"200", "400", "401", "404", "503"} <= responses.keys(), (verb, path)
            assert operation["x-required-role"] in ("read", "write", "admin", "instance_admin")
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A Scorekeeper API key (`sk_…`): `Authorization: Bearer <key>`.",
    }
    # Comments of the proto become descriptions.
    run_view = document["components"]["schemas"].get("scorekeeper.v1.RunView") or {}
    if on_query:
        assert "What the run is doing" in run_view["properties"]["status_explanation"]["description"]


async def test_the_docs_page_serves_its_own_assets(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.orchestrator_http) as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
        for source in sources:
            asset = await http.get(source)
            assert asset.status_code == 200 and len(asset.content) > 100, source


def _fuzz(base_url: str, key: str, ids: dict[str, str], max_examples: int, tmp: Path) -> tuple[int, int, str]:
    """schemathesis against a served document; (cases generated, cases passed, its output)."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
        "SCOREKEEPER_FUZZ_IDS": json.dumps(ids),
        "PYTHONPATH": str(ROOT),
    }
    checks = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
            "response_headers_conformance",
        ]
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            checks,
            "--max-examples",
            str(max_examples),
            "--seed",
            os.environ.get("SCOREKEEPER_FUZZ_SEED", "20261204"),
            "--request-timeout",
            "30",
            # One worker: CPython 3.11's ast is not thread-safe, and schemathesis compiles
            # expressions while generating ("AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    counts = re.search(r"(\d+) generated, (?:(\d+) passed|.*)", output)
    assert result.returncode == 0, output[-20000:]
    assert counts is not None, output[-2000:]
    # The key was good throughout: no operation answered only 401 / 403.
    assert "Authentication failed" not in output, output[-6000:]
    return int(counts.group(1)), int(counts.group(2) or 0), output


async def test_the_contract_fuzzer_finds_no_server_error_and_nothing_off_the_document(
    stack: Stack, ids: dict[str, str], tmp_path: Path
) -> None:
    # The instance admin key (from the environment, so not revocable through the API): the stateful
    # phase follows links from ListApiKeys to RevokeApiKey and would revoke a project key it calls with.
    key = stack.admin_key
    path_ids = {k: v for k, v in ids.items() if k != "key"}
    generated = passed = 0
    for base, examples in ((stack.orchestrator_http, 20), (stack.query_http, 30)):
        g, p, _ = _fuzz(base, key, path_ids, examples, tmp_path)
        generated, passed = generated + g, passed + p
    assert generated >= 1500
    assert passed == generated


BODY_ROUTES = [(rpc, verb, path) for rpc in RPCS for verb, path, body, _ in http_rules(rpc.method) if body == "*"]


async def test_a_body_that_is_not_utf8_is_refused_on_every_body_route(stack: Stack, ids: dict[str, str]) -> None:
    assert len(BODY_ROUTES) == 50
    wrong = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {stack.admin_key}"}) as http:
        for rpc, verb, template in BODY_ROUTES:
            path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
            base = stack.query_http if rpc.on_query else stack.orchestrator_http
            response = await http.request(verb, base + path, content=b'{"name": "caf\xe9"}')
            if response.status_code != 400 or "is not UTF-8" not in response.json()["error"]["message"]:
                wrong.append((verb, template, response.status_code, response.text[:200]))
    assert wrong == []


async def test_nul_characters_are_refused_naming_the_field_and_nothing_is_written(
    stack: Stack, ids: dict[str, str]
) -> None:
    async with stack.http(stack.orchestrator_http) as http:
        project = await http.post("/v1/projects", json={"name": "a\u0000b"})
        assert project.status_code == 400
        assert project.json()["error"]["message"] == "name contains a NUL character (\\u0000), which cannot be stored"
        before = (await http.get(f"/v1/testsets/{ids['testset_id']}")).json()
        added = await http.post(
            f"/v1/testsets/{ids['testset_id']}/testcases",
            json={"testcases": [{"question": "fine", "answer": "x"}, {"question": "q", "answer": ["ok", "b\u0000d"]}]},
        )
        assert added.status_code == 400
        assert added.json()["error"]["message"].startswith("testcases[1].answer[1] contains a NUL character")
        after = (await http.get(f"/v1/testsets/{ids['testset_id']}")).json()
        assert after == before
        notes = await http.patch(f"/v1/runs/{ids['run_id']}/notes", json={"notes": "\u0000"})
        assert notes.status_code == 400


async def test_grpc_timeouts_are_clamped_refused_or_met(stack: Stack, ids: dict[str, str]) -> None:
    async with stack.http(stack.query_http) as http:
        run = f"/v1/runs/{ids['run_id']}"
        assert (await http.get(run, headers={"grpc-timeout": "99999999H"})).status_code == 200
        zero = await http.get(run, headers={"grpc-timeout": "0S"})
        assert zero.status_code == 400 and "must be positive" in zero.json()["error"]["message"]
        assert (await http.get(run, headers={"grpc-timeout": "12x"})).status_code == 400
        assert (await http.get(run, headers={"grpc-timeout": "1n"})).status_code == 504


async def test_an_undecodable_grpc_message_is_invalid_argument_on_every_rpc(stack: Stack) -> None:
    """A field 1 announcing more bytes than the message has cannot be parsed by any request type."""
    wrong = []
    channels = {
        False: grpc.aio.insecure_channel(stack.orchestrator_grpc),
        True: grpc.aio.insecure_channel(stack.query_grpc),
    }
    metadata = (("authorization", f"Bearer {stack.admin_key}"),)
    garbage = b"\x0a\xff\xff\xff\xff\x0f"
    try:
        for rpc in RPCS:
            code = await _raw_call(channels[rpc.on_query], rpc, garbage, metadata)
            if code is not grpc.StatusCode.INVALID_ARGUMENT:
                wrong.append((rpc.name, code))
    finally:
        for channel in channels.values():
            await channel.close()
    assert wrong == []


async def _raw_call(
    channel: grpc.aio.Channel, rpc: Rpc, payload: bytes, metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    identity = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
    try:
        if rpc.method.client_streaming:

            async def chunks() -> AsyncIterator[bytes]:
                yield rpc.request_type(testset_id=str(uuid.uuid4())).SerializeToString()
                yield payload

            await channel.stream_unary(rpc.path, **identity)(chunks(), metadata=metadata, timeout=10)
        elif rpc.method.server_streaming:
            async for _ in channel.unary_stream(rpc.path, **identity)(payload, metadata=metadata, timeout=10):
                break
        else:
            await channel.unary_unary(rpc.path, **identity)(payload, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture
def outage_database() -> Iterator[OwnPostgres]:
    with own_postgres() as server:
        yield server


async def test_postgresql_down_answers_503_and_unavailable_then_recovers(
    tmp_path_factory: pytest.TempPathFactory, bus_url: str, outage_database: OwnPostgres
) -> None:
    database = outage_database
    outage_stack = Stack(
        StackConfig(
            data_dir=tmp_path_factory.mktemp("outage-stack"),
            database_url=await ensure_database(database.url, "scorekeeper"),
            bus_url=bus_url,
            topic_prefix=f"o{uuid.uuid4().hex[:8]}.",
            demo_system=False,
            env=fast_join_env() if bus_url.startswith("kafka://") else {},
        )
    )
    await outage_stack.start()
    try:
        async with outage_stack.client() as client:
            project = await client.create_project("before the outage")
        database.stop()
        try:
            async with outage_stack.http(outage_stack.query_http) as http:
                runs = await http.get(f"/v1/projects/{project.id}/runs")
                assert runs.status_code == 503, runs.text
                assert runs.json()["error"] == {
                    "code": "UNAVAILABLE",
                    "message": "the database is unavailable; try again shortly",
                }
                assert (await http.get("/readyz")).status_code == 503
            async with outage_stack.client() as client:
                with pytest.raises(grpc.aio.AioRpcError) as down:
                    await client.create_project("during the outage")
                assert down.value.code() is grpc.StatusCode.UNAVAILABLE
                with pytest.raises(grpc.aio.AioRpcError) as down:
                    await client.catalog.GetProject(cpb.GetProjectRequest(project_id=project.id))
                assert down.value.code() is grpc.StatusCode.UNAVAILABLE
        finally:
            database.start()
        async with outage_stack.client() as client:
            assert (
                await client.catalog.GetProject(cpb.GetProjectRequest(project_id=project.id))
            ).name == "before the outage"
            assert [p.name for p in await client.list_projects()] == ["before the outage"]
    finally:
        await outage_stack.stop()
        database.stop()
