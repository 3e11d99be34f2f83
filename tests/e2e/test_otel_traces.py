"""OpenTelemetry traces become calls on the real processes: the OpenTelemetry SDK's own OTLP/HTTP
exporter, pointed at /v1/projects/{p}/traces with a project key, sends each span as it ends (the
root last, in a request of its own); each trace is logged as one call whose steps are its spans,
sampled by the project's monitors, shown on the call's page; gzip and OTLP JSON are taken, a trace
sent again is a duplicate, a body that is no OTLP is refused saying why, another project's key
is refused; calls are found by the steps they took (SDK, CLI, the Calls page). The exporter
speaking OTLP over gRPC to the orchestrator's gRPC port is taken the same way."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan
from playwright.async_api import expect

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import settled
from tests.support.otel import answer_a_question, otlp_json

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)
OTLP_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def provider_exporting_to(url: str, key: str, *, batched: bool = False) -> TracerProvider:
    compression = Compression.Gzip if batched else Compression.NoCompression
    exporter = OTLPSpanExporter(endpoint=url, headers={"Authorization": f"Bearer {key}"}, compression=compression)
    provider = TracerProvider(resource=Resource.create({"service.name": "faq-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter))
    return provider


async def test_an_opentelemetry_exporter_logs_each_trace_as_a_call_with_its_steps(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("otel")
    polite = await sk.create_heuristic_metric(project.id, "says paris", "contains", {"value": "Paris"})
    monitor = await sk.create_monitor(project.id, "all", [polite.id], sample_rate=100, window_calls=2)
    key = (await sk.create_api_key(project.id, "exporter", "write")).secret
    url = f"{stack.orchestrator_http}/v1/projects/{project.id}/traces"

    # Each span sent alone as it ends: the children first, kept until their root comes.
    one_by_one = provider_exporting_to(url, key)
    first = await asyncio.to_thread(answer_a_question, one_by_one, True)
    one_by_one.shutdown()
    # In batches, gzipped.
    batched = provider_exporting_to(url, key, batched=True)
    second = await asyncio.to_thread(answer_a_question, batched, False, "capital of Peru?")
    assert await asyncio.to_thread(batched.force_flush)
    batched.shutdown()

    call = await sk.get_call(project.id, first)
    assert (call.status, call.session_id, call.trace_id) == ("completed", "s-42", first)
    assert (call.inputs, call.outputs) == ({"question": "capital of France?"}, {"response": "Paris"})
    assert (call.prompt_tokens, call.completion_tokens) == (120, 8)
    assert call.metadata == {
        "route": "faq",
        "service": "faq-bot",
        "model": "gpt-x",
        "user": "u-7",
        "otel_span": "handle question",
    }
    names = {s.id: s.name for s in call.spans}
    assert [(s.name, s.kind, names.get(s.parent_id, "")) for s in call.spans] == [
        ("handle question", "chain", ""),
        ("search docs", "retrieval", "handle question"),
        ("chat gpt-x", "llm", "handle question"),
        ("lookup", "tool", "handle question"),
    ]
    assert call.spans[3].error == "ValueError: no such city"
    assert (await sk.get_call(project.id, second)).inputs == {"question": "capital of Peru?"}
    assert sorted([c.call_key async for c in sk.list_calls(project.id)]) == sorted([first, second])

    # The monitor sampled both: its window's records say Paris.
    (window,) = (await settled(sk, monitor.id, 1)).windows
    run = await sk.get_run(window.run_id)
    paris = run.metric("says paris")
    assert (run.records, paris.scored, paris.passed) == (2, 2, 2)

    async with stack.http(stack.orchestrator_http, key) as http:
        # A trace sent again changes nothing; OTLP JSON (ids in hex) is read as the protobuf.
        memory = InMemorySpanExporter()
        local = TracerProvider(resource=Resource.create({"service.name": "faq-bot"}))
        local.add_span_processor(SimpleSpanProcessor(memory))
        third = answer_a_question(local, question="capital of Chile?")
        request = encode_spans(list(memory.get_finished_spans()))
        sent = await http.post(f"/v1/projects/{project.id}/traces", content=otlp_json(request))
        assert sent.status_code == 200, sent.text
        said = {"call_ids": [third], "stored": 1, "duplicates": 0, "sampled": 1, "pending_spans": 0, "added_spans": 0}
        assert sent.json() == said
        again = await http.post(
            f"/v1/projects/{project.id}/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        assert again.json() == {**said, "stored": 0, "duplicates": 1, "sampled": 0}
        assert (await sk.get_call(project.id, third)).inputs == {"question": "capital of Chile?"}

        # A span that ends after its trace's call was logged (work the answer left running: here
        # it starts 5 s after the answer) is added to the call as a step, what the call used with it.
        (root,) = [s for s in memory.get_finished_spans() if s.parent is None]
        memory.clear()
        assert root.context is not None and root.end_time is not None
        inside_root = trace.set_span_in_context(NonRecordingSpan(root.context))
        later = root.end_time + 5_000_000_000
        cache = local.get_tracer("app").start_span("save to cache", context=inside_root, start_time=later)
        cache.set_attribute("gen_ai.usage.input_tokens", 30)
        cache.end(end_time=later + 2_000_000)
        late = await http.post(
            f"/v1/projects/{project.id}/traces",
            content=encode_spans(list(memory.get_finished_spans())).SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        assert late.json() == {
            "call_ids": [],
            "stored": 0,
            "duplicates": 0,
            "sampled": 0,
            "pending_spans": 0,
            "added_spans": 1,
        }
        with_late = await sk.get_call(project.id, third)
        assert [s.name for s in with_late.spans][-1] == "save to cache"
        assert with_late.spans[-1].parent_id == with_late.spans[0].id
        assert with_late.prompt_tokens == 120 + 30

        refused = await http.post(f"/v1/projects/{project.id}/traces", content=b"\x00\xff garbage")
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(
            "the body is not an OTLP ExportTraceServiceRequest (protobuf or JSON)"
        )
        bad_gzip = await http.post(
            f"/v1/projects/{project.id}/traces", content=b"not gzip", headers={"content-encoding": "gzip"}
        )
        assert bad_gzip.status_code == 400
        assert bad_gzip.json()["error"]["message"].startswith("the gzip body cannot be decompressed")

    # Another project's key cannot write into this one.
    other = await sk.create_project("otel elsewhere")
    stranger = (await sk.create_api_key(other.id, "exporter", "write")).secret
    async with stack.http(stack.orchestrator_http, stranger) as http:
        denied = await http.post(f"/v1/projects/{project.id}/traces", content=request.SerializeToString())
        assert (denied.status_code, denied.json()["error"]["message"]) == (
            404,
            f"project {project.id} does not exist",
        )
    assert len([c async for c in sk.list_calls(project.id)]) == 3

    # Calls by the steps they took: the one whose lookup failed, the three that chatted.
    async def keys(*steps: str) -> list[str]:
        return sorted([c.call_key async for c in sk.list_calls(project.id, steps=steps)])

    assert await keys("lookup:failed") == await keys("*:failed") == [first]
    assert await keys("chat gpt-x") == sorted([first, second, third])
    assert await keys("chat gpt-x", "lookup") == [first]
    assert await keys("chat gpt-x:gt:600000") == []
    with pytest.raises(InvalidArgument, match="steps condition 'lookup:gt:soon': 'soon' is not a number"):
        await keys("lookup:gt:soon")
    # Where the calls spend their time, step by step.
    summed = await sk.call_steps(project.id)
    assert (summed.calls, summed.calls_with_steps) == (3, 3)
    assert [(s.name, s.kind, s.parent, s.depth, s.records, s.failed) for s in summed.steps] == [
        ("handle question", "chain", "", 0, 3, 0),
        ("search docs", "retrieval", "handle question", 1, 3, 0),
        ("chat gpt-x", "llm", "handle question", 1, 3, 0),
        ("lookup", "tool", "handle question", 1, 1, 1),
        ("save to cache", "", "handle question", 1, 1, 0),
    ]
    assert summed.steps[2].prompt_tokens == 360
    assert (await sk.call_steps(project.id, steps=["lookup"])).calls == 1
    shown = scorekeeper(stack, "--project", project.id, "calls", "steps")
    assert shown.returncode == 0, shown.stderr
    assert "3 of 3 calls hold steps" in shown.stdout and "  lookup" in shown.stdout
    listed = scorekeeper(stack, "--project", project.id, "calls", "list", "--step", "lookup:failed", "--json")
    assert listed.returncode == 0, listed.stderr
    assert first in listed.stdout and second not in listed.stdout

    # The call's page draws the trace as its steps.
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/calls?window=")
        summary = page.locator("#calls-steps-table tbody tr")
        await expect(summary).to_have_count(5)
        await screenshot(page, "calls-steps")
        await summary.nth(3).locator("td").nth(3).get_by_role("link").click()  # lookup failed once
        await expect(page.locator("#calls-table tbody tr")).to_have_count(1)
        await expect(page.locator("#calls-table tbody tr")).to_contain_text("capital of France?")
        assert await page.locator("input[name=step]").input_value() == "lookup:failed"
        await page.goto(f"/projects/{project.id}/calls/{first}")
        await expect(page.locator("#steps-table tbody tr")).to_have_count(4)
        await expect(page.locator("#steps-table tbody tr.step-failed")).to_have_count(1)
        await screenshot(page, "call-otel-steps")


async def test_an_exporter_speaking_otlp_over_grpc_logs_its_traces_in_the_keys_project(
    stack: Stack, sk: AsyncScorekeeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured as users configure it: the two variables make up prints, the protocol grpc."""
    project = await sk.create_project("otel grpc")
    key = (await sk.create_api_key(project.id, "exporter", "write")).secret
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://{stack.orchestrator_grpc}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"Authorization=Bearer {key}")
    provider = TracerProvider(resource=Resource.create({"service.name": "faq-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter()))
    trace_id = await asyncio.to_thread(answer_a_question, provider, True)
    provider.shutdown()

    call = await sk.get_call(project.id, trace_id)
    assert (call.status, call.outputs) == ("completed", {"response": "Paris"})
    assert [(s.name, s.kind) for s in call.spans] == [
        ("handle question", "chain"),
        ("search docs", "retrieval"),
        ("chat gpt-x", "llm"),
        ("lookup", "tool"),
    ]
    assert call.spans[3].error == "ValueError: no such city"

    # The instance admin key names the project; sent again, the trace is a duplicate.
    memory = InMemorySpanExporter()
    recorded = TracerProvider()
    recorded.add_span_processor(SimpleSpanProcessor(memory))
    again = await asyncio.to_thread(answer_a_question, recorded, False, "capital of Chile?")
    export = encode_spans(memory.get_finished_spans()).SerializeToString()
    admin = [("authorization", f"Bearer {stack.admin_key}"), ("x-scorekeeper-project", project.id)]
    async with grpc.aio.insecure_channel(stack.orchestrator_grpc) as channel:
        send = channel.unary_unary(OTLP_EXPORT)
        assert ExportTraceServiceResponse.FromString(await send(export, metadata=admin)) == ExportTraceServiceResponse()
        await send(export, metadata=admin)
    assert (await sk.get_call(project.id, again)).inputs == {"question": "capital of Chile?"}
    assert sorted([c.call_key async for c in sk.list_calls(project.id)]) == sorted([trace_id, again])


async def test_otlp_over_grpc_refuses_what_ingest_traces_refuses(stack: Stack, sk: AsyncScorekeeper) -> None:
    mine = await sk.create_project("otel grpc mine")
    theirs = await sk.create_project("otel grpc theirs")
    writer = (await sk.create_api_key(mine.id, "exporter", "write")).secret
    reader = (await sk.create_api_key(mine.id, "viewer", "read")).secret
    memory = InMemorySpanExporter()
    recorded = TracerProvider()
    recorded.add_span_processor(SimpleSpanProcessor(memory))
    await asyncio.to_thread(answer_a_question, recorded)
    export = encode_spans(memory.get_finished_spans()).SerializeToString()

    def bearer(key: str) -> tuple[str, str]:
        return ("authorization", f"Bearer {key}")

    async def refused(body: bytes, *metadata: tuple[str, str]) -> tuple[grpc.StatusCode, str]:
        async with grpc.aio.insecure_channel(stack.orchestrator_grpc) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await channel.unary_unary(OTLP_EXPORT)(body, metadata=metadata)
        return raised.value.code(), str(raised.value.details())

    code, message = await refused(export, bearer(stack.admin_key))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == (
        "an instance admin key names the project: add x-scorekeeper-project=<project id> "
        "to the exporter's headers (OTEL_EXPORTER_OTLP_TRACES_HEADERS)"
    )
    code, message = await refused(export, bearer(writer), ("x-scorekeeper-project", theirs.id))
    assert code == grpc.StatusCode.NOT_FOUND and theirs.id in message
    assert (await refused(export, bearer(reader)))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert (await refused(export))[0] == grpc.StatusCode.UNAUTHENTICATED
    code, message = await refused(b"\xff not otlp", bearer(writer))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("the body is not an OTLP ExportTraceServiceRequest (protobuf or JSON)")
    # Nothing was logged in either project.
    assert [c async for c in sk.list_calls(mine.id)] == [] and [c async for c in sk.list_calls(theirs.id)] == []
