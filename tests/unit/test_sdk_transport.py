"""The SDK's transport against real in-process gRPC servers: the key on every call, reads routed to the
query address, UNAVAILABLE retried with backoff, writes that create retried only when the
connection failed, and every other status raised at once as its exception with the server's text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import runs_pb2 as rpb

from scorekeeper_sdk import (
    AsyncScorekeeper,
    InvalidArgument,
    NotFound,
    RetryPolicy,
    ScorekeeperError,
    ServerError,
    Unavailable,
)
from scorekeeper_sdk.config import Settings
from shared.embedded import free_port

FAST = RetryPolicy(attempts=4, initial_s=0.001, max_wait_s=0.01)


@dataclass
class Script:
    """What a fake server answers: the status codes to fail with first, then a success."""

    failures: list[tuple[grpc.StatusCode, str]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, authorization)


def _handler(service: str, methods: dict[str, tuple[Any, Any, Callable[[Any], Any]]], script: Script) -> Any:
    def unary(name: str, answer: Callable[[Any], Any]) -> Callable[..., Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            script.calls.append((name, str(metadata.get("authorization", ""))))
            if script.failures:
                code, details = script.failures.pop(0)
                await context.abort(code, details)
            return answer(request)

        return handle

    return grpc.method_handlers_generic_handler(
        service,
        {
            name: grpc.unary_unary_rpc_method_handler(
                unary(name, answer), request_deserializer=req.FromString, response_serializer=resp.SerializeToString
            )
            for name, (req, resp, answer) in methods.items()
        },
    )


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, str, Script, Script]]:
    """A fake orchestrator (CreateRun) and a fake query service (GetRun) on two ports."""
    orchestrator_script, query_script = Script(), Script()
    orchestrator, query = grpc.aio.server(), grpc.aio.server()
    orchestrator.add_generic_rpc_handlers(
        (
            _handler(
                "scorekeeper.v1.RunService",
                {"CreateRun": (rpb.CreateRunRequest, rpb.Run, lambda r: rpb.Run(id="r1", project_id=r.project_id))},
                orchestrator_script,
            ),
        )
    )
    query.add_generic_rpc_handlers(
        (
            _handler(
                "scorekeeper.v1.QueryService",
                {"GetRun": (qpb.GetRunRequest, qpb.RunView, lambda r: qpb.RunView(id=r.run_id, status="completed"))},
                query_script,
            ),
        )
    )
    ports = []
    for server in (orchestrator, query):
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
    yield f"grpc://127.0.0.1:{ports[0]}", f"grpc://127.0.0.1:{ports[1]}", orchestrator_script, query_script
    for server in (orchestrator, query):
        await server.stop(None)


def client(url: str, query_url: str = "") -> AsyncScorekeeper:
    return AsyncScorekeeper(settings=Settings(url=url, query_url=query_url, api_key="sk_test_key"), retry=FAST)


async def test_reads_go_to_the_query_address_writes_to_the_orchestrator_with_the_key(
    servers: tuple[str, str, Script, Script],
) -> None:
    url, query_url, orchestrator, query = servers
    async with client(url, query_url) as sk:
        run = await sk.create_run("p1", "t1", "v1", ["m1"])
    assert (run.id, run.status) == ("r1", "completed")
    assert orchestrator.calls == [("CreateRun", "Bearer sk_test_key")]
    assert query.calls == [("GetRun", "Bearer sk_test_key")]


async def test_unavailable_is_retried_until_it_answers(servers: tuple[str, str, Script, Script]) -> None:
    url, query_url, _, query = servers
    query.failures = [(grpc.StatusCode.UNAVAILABLE, "the database is unavailable")] * 3
    async with client(url, query_url) as sk:
        assert (await sk.get_run("r9")).id == "r9"
    assert len(query.calls) == 4


async def test_unavailable_after_every_attempt_raises_with_the_servers_message(
    servers: tuple[str, str, Script, Script],
) -> None:
    url, query_url, _, query = servers
    query.failures = [(grpc.StatusCode.UNAVAILABLE, "the database is unavailable")] * 10
    async with client(url, query_url) as sk:
        with pytest.raises(Unavailable) as raised:
            await sk.get_run("r9")
    assert (raised.value.message, raised.value.method, raised.value.code) == (
        "the database is unavailable",
        "GetRun",
        "UNAVAILABLE",
    )
    assert len(query.calls) == FAST.attempts


async def test_a_write_that_creates_is_not_retried_once_the_server_answered(
    servers: tuple[str, str, Script, Script],
) -> None:
    url, query_url, orchestrator, _ = servers
    orchestrator.failures = [(grpc.StatusCode.UNAVAILABLE, "the database is unavailable")]
    async with client(url, query_url) as sk:
        with pytest.raises(Unavailable, match="the database is unavailable"):
            await sk.create_run("p1", "t1", "v1")
    assert len(orchestrator.calls) == 1


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFound),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.INTERNAL, ServerError),
    ],
)
async def test_other_statuses_raise_at_once(
    servers: tuple[str, str, Script, Script], code: grpc.StatusCode, kind: type[ScorekeeperError]
) -> None:
    url, query_url, _, query = servers
    query.failures = [(code, "run r9 does not exist")]
    async with client(url, query_url) as sk:
        with pytest.raises(kind) as raised:
            await sk.get_run("r9")
    assert str(raised.value) == "run r9 does not exist" and len(query.calls) == 1
    assert raised.value.code == code.name


async def test_no_server_is_retried_then_named(servers: tuple[str, str, Script, Script]) -> None:
    port = free_port()
    async with client(f"grpc://127.0.0.1:{port}") as sk:
        with pytest.raises(Unavailable) as raised:
            await sk.create_run("p1", "t1", "v1")
    assert raised.value.message.startswith(f"cannot reach Scorekeeper at grpc://127.0.0.1:{port}: ")


async def test_reads_sent_to_a_server_without_the_query_service_say_so(
    servers: tuple[str, str, Script, Script],
) -> None:
    url, _, _, _ = servers
    async with client(url) as sk:
        with pytest.raises(ServerError) as raised:
            await sk.get_run("r1")
    assert raised.value.code == "UNIMPLEMENTED"
    assert "does not serve /scorekeeper.v1.QueryService/GetRun" in raised.value.message
    assert "set SCOREKEEPER_QUERY_URL" in raised.value.message
