"""A small, deterministic demo AI system over HTTP: POST /answer {"question"} → {"answer"}; a demo
LLM judge at POST /v1/chat/completions (see judge.py); and a webhook receiver for the demo's monitor
alerts: POST /alerts keeps the latest 100 documents, GET /alerts lists them.

Realistic in its mistakes, and the same ones every time (they depend on a checksum of the
question): about 1 in 10 answers is wrong, 1 in 12 is right but chatty ("The answer is 42."),
and 1 in 100 requests fails with HTTP 500.
"""

from __future__ import annotations

import asyncio
import os
import re
import zlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from services.demo_system import judge
from services.demo_system.testset import CAPITALS

_ARITHMETIC = re.compile(r"What is (-?\d+) ([+\-*]) (-?\d+)\?")
_CAPITAL = re.compile(r"What is the capital of (.+)\?")


def answer(question: str) -> tuple[int, str]:
    """(HTTP status, answer text) for a question."""
    check = zlib.crc32(question.encode())
    if check % 100 == 42:
        return 500, "overloaded"
    if m := _ARITHMETIC.fullmatch(question):
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        if check % 10 == 3:
            value += 1 if check % 2 else -1
        text = str(value)
    elif m := _CAPITAL.fullmatch(question):
        text = CAPITALS.get(m.group(1), "I don't know")
        if check % 10 == 3:
            text = "Sydney" if m.group(1) == "Australia" else text.lower()
    else:
        return 200, "I don't know"
    if check % 12 == 5:
        text = f"The answer is {text}."
    return 200, text


# What the demo's model would charge, in USD per token.
PROMPT_USD, COMPLETION_USD = 0.5e-6, 1.5e-6


def traced(question: str, text: str) -> dict[str, object]:
    """How the answer was reached, as ``?trace=1`` returns it: its usage and its steps (spans, see
    proto/scorekeeper/v1/spans.proto) — what it understood, the lookup or the calculation, then
    the phrasing model. The times are the demo's own, the same for the same question."""
    check = zlib.crc32(question.encode())
    prompt, completion = 20 + len(question.split()), len(text.split())
    cost = round(prompt * PROMPT_USD + completion * COMPLETION_USD, 8)
    arithmetic, capital = _ARITHMETIC.fullmatch(question), _CAPITAL.fullmatch(question)
    kind = "arithmetic" if arithmetic else "capital" if capital else "unknown"
    steps: list[dict[str, object]] = [
        {
            "id": "1",
            "name": "understand",
            "kind": "chain",
            "start_ms": 0.0,
            "duration_ms": 0.4,
            "input": question,
            "output": kind,
        },
    ]
    found_ms = 0.4
    if arithmetic:
        found_ms += 0.2 + check % 3 / 10
        a, op, b = arithmetic.groups()
        steps.append(
            {
                "id": "2",
                "name": "calculate",
                "kind": "tool",
                "start_ms": 0.4,
                "duration_ms": found_ms - 0.4,
                "input": {"a": int(a), "op": op, "b": int(b)},
                "output": text,
            }
        )
    elif capital:
        found_ms += 2.0 + check % 5
        steps.append(
            {
                "id": "2",
                "name": "look up the capital",
                "kind": "retrieval",
                "start_ms": 0.4,
                "duration_ms": found_ms - 0.4,
                "input": {"country": capital.group(1)},
                "output": CAPITALS.get(capital.group(1), None),
                "metadata": {"index": "capitals-v1"},
            }
        )
    steps.append(
        {
            "id": str(len(steps) + 1),
            "name": "phrase the answer",
            "kind": "llm",
            "start_ms": found_ms,
            "duration_ms": 8.0 + check % 9,
            "output": text,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost_usd": cost,
            "metadata": {"model": "demo-1"},
        }
    )
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": cost}
    return {"usage": usage, "trace": {"spans": steps}}  # fmt: skip


def create_app(latency_s: float = 0.0) -> Starlette:
    alerts: list[object] = []

    async def receive_alert(request: Request) -> Response:
        try:
            alerts.append(await request.json())
        except ValueError:
            return JSONResponse({"error": "expected a JSON document"}, status_code=400)
        del alerts[:-100]
        return Response(status_code=204)

    async def list_alerts(_: Request) -> Response:
        return JSONResponse(alerts)

    async def handle(request: Request) -> Response:
        try:
            body = await request.json()
            question = str(body["question"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected a JSON object with a 'question'"}, status_code=400)
        if latency_s:
            await asyncio.sleep(latency_s)
        status, text = answer(question)
        if status != 200:
            return JSONResponse({"error": text}, status_code=status)
        if request.query_params.get("trace") == "1":
            return JSONResponse({"answer": text, "model": "demo-1", **traced(question, text)})
        return JSONResponse({"answer": text, "model": "demo-1"})

    async def plain_text(_: Request) -> Response:
        # A misbehaving system, for showing how non-JSON answers are recorded.
        return PlainTextResponse("I am not JSON")

    async def chat_completions(request: Request) -> Response:
        try:
            return JSONResponse(judge.completion(await request.json()))
        except (ValueError, AttributeError) as exc:
            error = {"message": f"the demo judge only answers Scorekeeper judge prompts: {exc}"}
            return JSONResponse({"error": error | {"type": "invalid_request_error"}}, status_code=400)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/answer", handle, methods=["POST"]),
            Route("/text", plain_text, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/alerts", receive_alert, methods=["POST"]),
            Route("/alerts", list_alerts, methods=["GET"]),
            Route("/readyz", healthz),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    import uvicorn

    port = int(os.environ.get("DEMO_SYSTEM_PORT", "8090"))
    latency = float(os.environ.get("DEMO_SYSTEM_LATENCY_MS", "0")) / 1000
    uvicorn.run(create_app(latency), host="127.0.0.1", port=port, log_level="warning", access_log=False)
