"""A real HTTP AI system on 127.0.0.1 for tests of the ``http`` system kind.

Runs uvicorn in a background thread (``tests.support.serve``). What it answers is chosen by the
URL path, so one server serves every case at once::

    /echo                       200: a chat-completion-like answer echoing the request
    /traced[?steps=bad][&usage=bad]   200: an answer with its usage ("usage": tokens and cost) and
                                its steps ("trace.spans": a retrieval holding an embedding, then
                                the model call); bad: a step naming a parent that is not one, a
                                cost that is text
    /headers                    200: {"headers": the request's headers} (a system leaking its credentials)
    /poison/<kind>              200 JSON no store could keep as it is: nul ({"answer": "a\u0000b"}),
                                surrogate ({"answer": "\ud800"}), deep (an array 10,000 deep),
                                big ({"answer": 600 KB of text}), nan ({"answer": NaN})
    /slow/<ms>                  waits, then answers as /echo
    /hang                       waits a minute (a timeout)
    /status/<code>[?retry_after=…]   that status with a small JSON body (and a Retry-After header)
    /429?retry_after=…          429 with that Retry-After (seconds or an HTTP date)
    /malformed                  200, "application/json", but not JSON
    /text                       200 text/plain
    /huge?bytes=N[&chunked=1]   200 JSON of N bytes (chunked: without a Content-Length)
    /redirect?to=URL[&status=302]   a redirect
    /loop                       302 to itself
    /flaky                      503 for about ``flaky_percent`` % of the calls (by a checksum of the
                                question and how often it was asked: the same calls fail every
                                time), otherwise as /echo; ``set_flaky(0)`` makes the system recover

One-shot scripted steps (``script(fail(503), delay(0.5), …, path="/echo")``) are taken first, in
order, by requests to their path (or any path). Every request is recorded on arrival, headers
included, and the most requests it had in flight at once is kept (``peak_in_flight``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.serve import BackgroundServer


@dataclass(frozen=True)
class Fail:
    status: int
    body: str = '{"error": "scripted failure"}'
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    seconds: float  # then the path's own answer


@dataclass(frozen=True)
class Malformed:
    body: str = "this is not JSON {"


Step = Fail | Delay | Malformed


def fail(status: int, *, retry_after: str | None = None, body: str = '{"error": "scripted failure"}') -> Fail:
    """One answer with this status (and Retry-After header)."""
    return Fail(status, body, {"Retry-After": retry_after} if retry_after is not None else {})


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def malformed(body: str = "this is not JSON {") -> Malformed:
    return Malformed(body)


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    at: float  # time.monotonic() of the test process on arrival
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakeSystemServer:
    """See the module docstring. Thread-safe: tests script and inspect it while it answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[tuple[str | None, Step]] = deque()
        self._received: list[Received] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._flaky_percent = 20
        self._asked: dict[str, int] = {}
        app = Starlette(routes=[Route("/{rest:path}", self._handle, methods=["GET", "POST", "PUT"])])
        self._server = BackgroundServer(app, "fake-system")

    @property
    def port(self) -> int:
        return self._server.port

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> FakeSystemServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeSystemServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- scripting and inspection --------------------------------------------------------------

    def script(self, *steps: Step, path: str | None = None) -> None:
        with self._lock:
            self._script.extend((path, step) for step in steps)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    @property
    def peak_in_flight(self) -> int:
        """The most requests this server was answering at once since it started (or reset)."""
        with self._lock:
            return self._peak_in_flight

    def set_flaky(self, percent: int) -> None:
        """The share of /flaky calls that fail from now on (0: the system recovered)."""
        with self._lock:
            self._flaky_percent = percent

    def _flaky_fails(self, question: str) -> bool:
        with self._lock:
            asked = self._asked[question] = self._asked.get(question, 0) + 1
            return zlib.crc32(f"{question}#{asked}".encode()) % 100 < self._flaky_percent

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._received.clear()
            self._peak_in_flight = self._in_flight

    # -- the HTTP side (server thread) ---------------------------------------------------------

    def _next_step(self, path: str) -> Step | None:
        with self._lock:
            for index, (scope, step) in enumerate(self._script):
                if scope is None or scope == path:
                    del self._script[index]
                    return step
        return None

    async def _handle(self, request: Request) -> Response:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return await self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        entry = Received(
            time.monotonic(),
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        with self._lock:
            self._received.append(entry)
        step = self._next_step(entry.path)
        if isinstance(step, Delay):
            await asyncio.sleep(step.seconds)
        elif isinstance(step, Fail):
            return Response(step.body, step.status, headers=dict(step.headers), media_type="application/json")
        elif isinstance(step, Malformed):
            return Response(step.body, 200, media_type="application/json")
        return await self._by_path(entry)

    async def _by_path(self, entry: Received) -> Response:
        parts = entry.path.strip("/").split("/")
        mode, arg = parts[0], parts[1] if len(parts) > 1 else ""
        query = entry.query
        if mode == "echo":
            return JSONResponse(_echo(entry))
        if mode == "traced":
            return JSONResponse(_traced(entry))
        if mode == "headers":
            return JSONResponse({"headers": entry.headers})
        if mode == "poison":
            return Response(_POISONS[arg], 200, media_type="application/json")
        if mode == "slow":
            await asyncio.sleep(int(arg or "1000") / 1000)
            return JSONResponse(_echo(entry))
        if mode == "hang":
            await asyncio.sleep(60)
            return JSONResponse(_echo(entry))
        if mode in ("status", "429"):
            status = int(arg) if mode == "status" else 429
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            return JSONResponse({"error": f"status {status}"}, status, headers=headers)
        if mode == "malformed":
            return Response("this is not JSON {", 200, media_type="application/json")
        if mode == "text":
            return Response("I am not JSON", 200, media_type="text/plain")
        if mode == "huge":
            size = int(query.get("bytes", "5000000"))
            if query.get("chunked"):
                return StreamingResponse(_chunks(size), media_type="application/json")
            return Response(_big_json(size), 200, media_type="application/json")
        if mode == "redirect":
            return RedirectResponse(query["to"], int(query.get("status", "302")))
        if mode == "loop":
            return RedirectResponse("/loop", 302)
        if mode == "flaky":
            body = entry.json() if entry.body else None
            question = str(body.get("question")) if isinstance(body, dict) else ""
            if self._flaky_fails(question):
                return JSONResponse({"error": "flaky: try again"}, 503)
            return JSONResponse(_echo(entry))
        return JSONResponse({"error": f"no mode {mode!r}"}, 404)


def _echo(entry: Received) -> dict[str, Any]:
    try:
        body = entry.json()
    except ValueError:
        body = entry.body.decode(errors="replace")
    question = body.get("question") if isinstance(body, dict) else None
    return {
        "choices": [{"message": {"content": f"echo: {question}"}}, {"message": {"content": "second"}}],
        "usage": {"total_tokens": 7},
        "method": entry.method,
        "query": entry.query,
        "received": body,
    }


def _traced(entry: Received) -> dict[str, Any]:
    body = entry.json() if entry.body else None
    question = body.get("question") if isinstance(body, dict) else None
    steps: list[dict[str, Any]] = [
        {"id": "r", "name": "retrieve", "kind": "retrieval", "start_ms": 0, "duration_ms": 4.5, "input": question},
        {"id": "e", "parent_id": "r", "name": "embed", "kind": "embedding", "start_ms": 0.5, "duration_ms": 1},
        {
            "id": "m",
            "name": "model",
            "kind": "llm",
            "start_ms": 5,
            "duration_ms": 20,
            "prompt_tokens": 11,
            "completion_tokens": 4,
            "cost_usd": 0.0007,
            "output": f"echo: {question}",
            "metadata": {"model": "m-1"},
        },
    ]
    if entry.query.get("steps") == "bad":
        steps[1]["parent_id"] = "nowhere"
    cost: Any = "free" if entry.query.get("usage") == "bad" else 0.0007
    return {
        "answer": f"echo: {question}",
        "usage": {"prompt_tokens": 11, "completion_tokens": 4, "cost": cost},
        "trace": {"spans": steps},
    }


_POISONS = {
    "nul": b'{"answer": "a\\u0000b"}',
    "surrogate": b'{"answer": "\\ud800"}',
    "deep": b"[" * 10_000 + b"]" * 10_000,
    "big": b'{"answer": "' + b"x" * 600_000 + b'"}',
    "nan": b'{"answer": NaN}',
}


def _big_json(size: int) -> bytes:
    # {"data": "xxx…"} of exactly ``size`` bytes (at least the 12 of the frame).
    return b'{"data": "' + b"x" * max(0, size - 12) + b'"}'


async def _chunks(size: int) -> AsyncIterator[bytes]:
    body = _big_json(size)
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]


def fake_system_server() -> Iterator[FakeSystemServer]:
    """Body of a pytest fixture: ``fake_system = pytest.fixture(scope=...)(fake_system_server)``."""
    with FakeSystemServer() as server:
        yield server
