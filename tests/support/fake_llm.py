"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests.

Runs uvicorn in a background thread of the test process on a free port, so the gateway under test
and service processes started by end-to-end tests reach it over real HTTP::

    with FakeLlmServer() as llm:
        llm.script(http_error(429, headers={"Retry-After": "1"}), model="judge-a")
        ... Endpoint(base_url=llm.base_url) ...
        assert len(llm.received(model="judge-a")) == 2

Each ``POST /v1/chat/completions`` takes the first scripted step meant for its model (steps
scripted without a model serve any), in order: an HTTP error, a malformed body, a canned ``Reply``,
or a delay after which the responder answers. With no step left the ``responder`` decides the
answer from the request JSON. Every request is recorded on arrival.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.serve import BackgroundServer


@dataclass(frozen=True)
class Reply:
    """An answer: content, or a tool call (content then defaults to none), with its usage."""

    content: str | None = "ok"
    tool_name: str | None = None
    tool_arguments: str | None = None
    finish_reason: str | None = None  # None: "tool_calls" for a tool call, else "stop"
    prompt_tokens: int | None = None  # None: about a token per 4 characters of the messages
    completion_tokens: int | None = None  # None: about a token per 4 characters of the answer
    include_usage: bool = True
    model: str | None = None  # None: the requested model
    delay_s: float = 0.0  # answer this much later (a slow model)


@dataclass(frozen=True)
class HttpError:
    status: int
    body: str | Mapping[str, Any] | None = None  # None: an OpenAI-style {"error": {...}} body
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Malformed:
    body: str = "this is not JSON {"
    content_type: str = "application/json"


Step = HttpError | Delay | Malformed | Reply
Responder = Callable[[dict[str, Any]], Reply]


def http_error(
    status: int, body: str | Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> HttpError:
    """One answer with this status (e.g. 429 with ``{"Retry-After": "1"}``, 500, 503)."""
    return HttpError(status, body, dict(headers or {}))


def delay(seconds: float) -> Delay:
    """Hold the request this long, then let the responder answer (longer than the client's timeout:
    a timeout)."""
    return Delay(seconds)


def malformed(body: str = "this is not JSON {", content_type: str = "application/json") -> Malformed:
    """One 200 answer whose body is not a chat completion."""
    return Malformed(body, content_type)


def answer(
    content: str,
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
    include_usage: bool = True,
) -> Reply:
    return Reply(
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=finish_reason,
        include_usage=include_usage,
    )


def tool_call(
    name: str,
    arguments: str | Mapping[str, Any],
    *,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> Reply:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Reply(
        content=None,
        tool_name=name,
        tool_arguments=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def echo(body: dict[str, Any]) -> Reply:
    """The default responder: repeats the last message's text."""
    messages = body.get("messages") or [{}]
    last = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    return Reply(content=f"echo: {last if isinstance(last, str) else ''}")


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    at: float  # time.monotonic() of this (the test) process when it arrived
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


class FakeLlmServer:
    """See the module docstring. Thread-safe: tests script and inspect it while the server thread
    answers concurrent requests."""

    def __init__(self, responder: Responder = echo, *, expected_key: str | None = None) -> None:
        self.responder = responder
        # When set, a request without "Authorization: Bearer <expected_key>" gets a 401 whose
        # message echoes the key it was given (as some servers do).
        self.expected_key = expected_key
        self._lock = threading.Lock()
        self._script: deque[tuple[str | None, Step]] = deque()
        self._received: list[Received] = []
        # In-flight counts only requests that arrived since the last reset (a slow request left
        # over from an earlier test must not count against the next one).
        self._generation = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._ids = itertools.count(1)
        self._server: BackgroundServer | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLlmServer:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._server = BackgroundServer(app, "fake-llm").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- scripting and inspection --------------------------------------------------------------

    def script(self, *steps: Step, model: str | None = None) -> None:
        """Queue one-shot steps; with ``model`` only requests for that model take them."""
        with self._lock:
            self._script.extend((model, step) for step in steps)

    def pending(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for scope, _ in self._script if model is None or scope == model)

    def received(self, model: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if model is None or r.model == model]

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def reset(self, responder: Responder = echo) -> None:
        """Forget the script, the requests, the in-flight count and its high-water mark; back to
        the given responder and no key check."""
        with self._lock:
            self._script.clear()
            self._received.clear()
            self._generation += 1
            self._in_flight = self._max_in_flight = 0
        self.responder = responder
        self.expected_key = None

    # -- the HTTP side (runs on the server thread) ---------------------------------------------

    def _next_step(self, model: str) -> Step | None:
        with self._lock:
            for index, (scope, step) in enumerate(self._script):
                if scope is None or scope == model:
                    del self._script[index]
                    return step
        return None

    async def _chat(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the request body is not a JSON object")
        entry = Received(time.monotonic(), request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            generation = self._generation
            self._received.append(entry)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return await self._answer(entry)
        finally:
            with self._lock:
                if generation == self._generation:
                    self._in_flight -= 1

    async def _answer(self, entry: Received) -> Response:
        if self.expected_key is not None:
            given = entry.headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.expected_key:
                return _error(401, f"Incorrect API key provided: {given}", code="invalid_api_key")
        step = self._next_step(entry.model)
        if isinstance(step, Delay):
            await asyncio.sleep(step.seconds)
            step = None  # then the responder answers (unless the client gave up long ago)
        if isinstance(step, HttpError):
            if step.body is None:
                return _error(step.status, f"scripted HTTP {step.status}", headers=step.headers)
            if isinstance(step.body, str):
                return Response(step.body, step.status, headers=dict(step.headers), media_type="text/plain")
            return JSONResponse(dict(step.body), step.status, headers=dict(step.headers))
        if isinstance(step, Malformed):
            return Response(step.body, 200, media_type=step.content_type)
        reply = step
        if reply is None:
            try:
                reply = self.responder(entry.body)
            except Exception as exc:
                return _error(500, f"responder failed: {type(exc).__name__}: {exc}")
        if reply.delay_s > 0:
            await asyncio.sleep(reply.delay_s)
        return JSONResponse(self._completion(entry.body, reply))

    async def _models(self, request: Request) -> Response:
        with self._lock:
            names = sorted({r.model for r in self._received if r.model} | {"fake-model"})
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "fake-llm"} for name in names]
        return JSONResponse({"object": "list", "data": data})

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_name is not None:
            message["tool_calls"] = [
                {
                    "id": f"call_{number}",
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.tool_arguments or "{}"},
                }
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_name is not None else "stop")
        completion: dict[str, Any] = {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or str(body.get("model", "fake-model")),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        }
        if reply.include_usage:
            prompt = reply.prompt_tokens
            if prompt is None:
                prompt = _estimate_tokens(json.dumps(body.get("messages", [])))
            completion_tokens = reply.completion_tokens
            if completion_tokens is None:
                completion_tokens = _estimate_tokens((reply.content or "") + (reply.tool_arguments or ""))
            completion["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens,
            }
        return completion


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _error(status: int, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status, headers=dict(headers or {}))


def fake_llm_server(responder: Responder = echo) -> Iterator[FakeLlmServer]:
    """Body of a pytest fixture: ``fake_llm = pytest.fixture(scope=...)(fake_llm_server)``."""
    with FakeLlmServer(responder) as server:
        yield server
