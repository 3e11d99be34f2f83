"""A conversation: the calls of one session (or one trace) in the order they were logged, as
turns — what was asked, what was answered, how long it took, what the users said of it — the way a
chat app's users lived it, rather than one call at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scorekeeper.v1 import query_pb2 as qpb
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.formatting import plain
from services.console.web import Console

# The most calls a conversation shows: its latest ones.
MAX_TURNS = 500


@dataclass(frozen=True)
class Turn:
    call: qpb.CallView
    # Seconds since the conversation's first call shown.
    offset_s: float
    # The question and the answer as text when each is one text field, else None (shown as JSON).
    asked: str | None
    answered: str | None


def _text(values: Any) -> str | None:
    """A lone text field's value (a chat turn's message); None for anything else."""
    data = plain(values)
    if isinstance(data, dict) and len(data) == 1:
        (only,) = data.values()
        return only if isinstance(only, str) else None
    return None


def turns(calls: list[qpb.CallView]) -> list[Turn]:
    """The calls, oldest first, as turns."""
    ordered = sorted(calls, key=lambda c: (c.logged_at, c.id))
    first = datetime.fromisoformat(ordered[0].logged_at) if ordered else None
    return [
        Turn(
            c,
            (datetime.fromisoformat(c.logged_at) - first).total_seconds() if first else 0.0,
            _text(c.inputs),
            _text(c.outputs),
        )
        for c in ordered
    ]


def routes(console: Console) -> list[Route]:
    async def conversation(request: Request) -> Response:
        project_id = request.path_params["project_id"]
        session, trace = request.query_params.get("session", "").strip(), request.query_params.get("trace", "").strip()
        api = console.api(request)
        data = await console.project_page(request, api, project_id, {})
        if not session and not trace:
            context = {**data, "error": "Open a conversation from a call's session or trace.", "turns": []}
            return console.render(request, "conversation.html", context, status_code=400)
        listing = qpb.ListCallsRequest(
            project_id=project_id, session_id=session, trace_id=trace, page_size=MAX_TURNS, with_summary=True
        )
        found = await api.call(api.stubs.query.ListCalls, listing, qpb.ListCallsResponse)
        shown = turns(list(found.calls))
        calls = [t.call for t in shown]
        context = {
            **data,
            "error": "",
            "session": session,
            "trace": trace,
            "turns": shown,
            "more": bool(found.next_page_token),
            "summary": found.summary,
            "latency_ms": sum(c.latency_ms for c in calls),
            "tokens": sum(c.prompt_tokens + c.completion_tokens for c in calls),
            "cost_usd": sum(c.cost_usd for c in calls if c.HasField("cost_usd")),
            "errored": sum(1 for c in calls if c.status == "errored"),
        }
        return console.render(request, "conversation.html", context)

    return [Route("/projects/{project_id}/conversation", conversation, methods=["GET"])]
