"""Bad input gets a clear 4xx / INVALID_ARGUMENT / NOT_FOUND naming the problem, and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb, rpb
from shared.devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASE = {"question": "What is 2 + 2?", "answer": "4"}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.http(stack.orchestrator_http) as client:
        yield client


@pytest.fixture
async def project_id(client: Client) -> str:
    return (await client.create_project("bad-input")).id


async def _count(stack: Stack, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


async def test_malformed_json_body(http: httpx.AsyncClient) -> None:
    message = _error(await http.post("/v1/projects", content=b"{not json"), 400, "INVALID_ARGUMENT")
    assert "malformed request body" in message


async def test_unknown_field_and_missing_name(http: httpx.AsyncClient) -> None:
    message = _error(await http.post("/v1/projects", json={"name": "x", "colour": "red"}), 400, "INVALID_ARGUMENT")
    assert "colour" in message
    assert _error(await http.post("/v1/projects", json={}), 400, "INVALID_ARGUMENT") == "name must not be empty"


async def test_ids_that_are_malformed_or_unknown(http: httpx.AsyncClient) -> None:
    message = _error(await http.get("/v1/projects/not-a-uuid"), 400, "INVALID_ARGUMENT")
    assert message == "project_id 'not-a-uuid' is not a valid id"
    missing = uuid.uuid4()
    assert _error(await http.get(f"/v1/projects/{missing}"), 404, "NOT_FOUND") == f"project {missing} does not exist"
    assert _error(await http.get("/v1/nowhere"), 404, "NOT_FOUND") == "no route for GET /v1/nowhere"


async def test_testset_without_testcases_writes_nothing(stack: Stack, http: httpx.AsyncClient, project_id: str) -> None:
    body = {"name": "empty", "field_mapping": {"inputs": ["question"]}, "testcases": []}
    message = _error(await http.post(f"/v1/projects/{project_id}/testsets", json=body), 400, "INVALID_ARGUMENT")
    assert message == "testcases must hold at least one testcase"
    assert await _count(stack, "SELECT count(*) FROM testsets WHERE project_id = $1", uuid.UUID(project_id)) == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"field_mapping": {"inputs": []}}, "field_mapping.inputs must name at least one field"),
        ({"field_mapping": {"inputs": ["q"], "expected": ["q"]}}, "field 'q' is mapped twice"),
        (
            {"field_mapping": {"inputs": ["q"]}, "json_schema": {"type": "no-such-type"}},
            "json_schema is not a valid JSON Schema",
        ),
    ],
)
async def test_bad_testsets(http: httpx.AsyncClient, project_id: str, body: dict[str, Any], fragment: str) -> None:
    request = {"name": "t", "testcases": [TESTCASE], **body}
    assert fragment in _error(
        await http.post(f"/v1/projects/{project_id}/testsets", json=request), 400, "INVALID_ARGUMENT"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"eval_type": "heuristic", "output_type": "boolean", "heuristic": {"kind": "vibes"}},
            "unknown heuristic kind 'vibes'; known kinds: bleu, contains, contains_all, contains_any, cost_under,",
        ),
        (
            {
                "eval_type": "heuristic",
                "output_type": "boolean",
                "heuristic": {"kind": "regex", "params": {"pattern": "("}},
            },
            "params.pattern",
        ),
        ({"eval_type": "magic", "output_type": "boolean"}, "eval_type must be one of ai, code, heuristic, human"),
        (
            {
                "eval_type": "heuristic",
                "output_type": "boolean",
                "passing_threshold": 3,
                "heuristic": {"kind": "contains", "params": {"value": "x"}},
            },
            "passing_threshold does not apply to boolean metrics",
        ),
        (
            {
                "eval_type": "heuristic",
                "output_type": "int",
                "passing_threshold": 9,
                "heuristic": {"kind": "contains", "params": {"value": "x"}},
            },
            "passing_threshold of an int metric must be within 1..5, got 9.0",
        ),
        (
            {"eval_type": "ai", "output_type": "boolean", "ai": {"model": "gpt-x", "template": "vibes"}},
            "ai: unknown template 'vibes'; built-in templates: answer_correctness, faithfulness,",
        ),
        (
            {"eval_type": "ai", "output_type": "int", "ai": {"model": "gpt-x", "prompt_template": "{{ answer }}"}},
            "ai: prompt_template uses unknown variables answer;",
        ),
        (
            {
                "eval_type": "ai",
                "output_type": "int",
                "ai": {"model": "m", "template": "safety", "api_key_env": "sk-1"},
            },
            "ai.api_key_env: String should match pattern",
        ),
        (
            {
                "eval_type": "ai",
                "output_type": "int",
                "expected_label_field": "toxic",
                "ai": {"model": "m", "template": "safety"},
            },
            "expected_label_field applies to boolean metrics only",
        ),
        (
            {
                "eval_type": "heuristic",
                "output_type": "float",
                "heuristic": {"kind": "json_schema", "params": {"schema": {"type": "strnig"}}},
            },
            "params.schema",
        ),
    ],
)
async def test_bad_metrics_write_nothing(
    stack: Stack, http: httpx.AsyncClient, project_id: str, body: dict[str, Any], fragment: str
) -> None:
    response = await http.post(f"/v1/projects/{project_id}/metrics", json={"name": "m", **body})
    assert fragment in _error(response, 400, "INVALID_ARGUMENT")
    assert await _count(stack, "SELECT count(*) FROM metrics WHERE project_id = $1", uuid.UUID(project_id)) == 0


async def test_bad_system_versions(http: httpx.AsyncClient, project_id: str) -> None:
    system = (await http.post(f"/v1/projects/{project_id}/systems", json={"name": "s"})).json()
    url = f"/v1/systems/{system['id']}/versions"
    assert "kind must be one of http, llm, sdk" in _error(
        await http.post(url, json={"kind": "grpc", "config": {}}), 400, "INVALID_ARGUMENT"
    )
    assert "config.url" in _error(
        await http.post(url, json={"kind": "http", "config": {"url": "ftp://x"}}), 400, "INVALID_ARGUMENT"
    )
    ok = await http.post(url, json={"kind": "http", "name": "v1", "config": {"url": "http://127.0.0.1:1/a"}})
    assert ok.status_code == 200
    again = await http.post(url, json={"kind": "http", "name": "v1", "config": {"url": "http://127.0.0.1:2/b"}})
    assert "already exists with another config" in _error(again, 409, "ALREADY_EXISTS")


async def test_bad_runs_over_grpc_write_nothing(stack: Stack, client: Client, project_id: str) -> None:
    testset = await client.create_testset(project_id, "t", [TESTCASE], inputs=["question"], expected=["answer"])
    version = await client.create_http_system(project_id, "sys", {"url": "http://127.0.0.1:1/a"})
    unknown = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], grpc.StatusCode, str]] = [
        (dict(testset_id=unknown), grpc.StatusCode.NOT_FOUND, f"testset {unknown} does not exist"),
        (dict(metric_ids=[unknown]), grpc.StatusCode.NOT_FOUND, f"metric(s) {unknown} do not exist"),
        (dict(trials=500), grpc.StatusCode.INVALID_ARGUMENT, "trials must be within 1..100, got 500"),
        (dict(source="cron"), grpc.StatusCode.INVALID_ARGUMENT, "source must be one of api, kickoff"),
        (dict(system_version_id="x"), grpc.StatusCode.INVALID_ARGUMENT, "system_version_id 'x' is not a valid id"),
    ]
    for overrides, code, fragment in cases:
        request: dict[str, Any] = dict(
            project_id=project_id, testset_id=testset.id, system_version_id=version.id, metric_ids=[]
        )
        request.update(overrides)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.runs.CreateRun(rpb.CreateRunRequest(**request))
        assert info.value.code() == code
        assert fragment in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.runs.CreateRun(rpb.CreateRunRequest(project_id=unknown))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert await _count(stack, "SELECT count(*) FROM runs WHERE project_id = $1", uuid.UUID(project_id)) == 0


async def test_bad_reads_over_grpc(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.GetRun(qpb.GetRunRequest(run_id="nope"))
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "run_id 'nope' is not a valid id",
    )
    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.GetRun(qpb.GetRunRequest(run_id=missing))
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.NOT_FOUND, f"run {missing} does not exist")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.ListRecords(qpb.ListRecordsRequest(run_id=missing, page_token="%%%"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("page_token is malformed")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.ListRecords(qpb.ListRecordsRequest(run_id=missing, page_size=5000))
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size must be within 1..1000, got 5000",
    )


async def test_oversized_bodies_are_refused(http: httpx.AsyncClient) -> None:
    from shared.edge.errors import MAX_REQUEST_BYTES

    huge = b'{"name": "' + b"x" * (MAX_REQUEST_BYTES + 10) + b'"}'
    message = _error(await http.post("/v1/projects", content=huge), 413, "RESOURCE_EXHAUSTED")
    assert message == f"request body larger than {MAX_REQUEST_BYTES} bytes; split it into smaller calls"
