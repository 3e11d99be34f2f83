"""Which failed attempts are worth another try, how long the server asks us to wait, and a
one-line description of what went wrong that never carries the API key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from shared.throttle import retry_after_s

# Statuses worth retrying besides 5xx: request timeout, conflict (lock contention) and rate limit.
_RETRYABLE_4XX = {408: "request_timeout", 409: "conflict", 429: "rate_limited"}
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Failure:
    """One failed HTTP attempt."""

    retryable: bool
    reason: str  # metric label: rate_limited, server_error, timeout, connection, malformed, …, rejected
    detail: str  # one line, e.g. "HTTP 503: overloaded"
    status: int | None = None
    retry_after_s: float | None = None


class TransientFailure(Exception):
    """Raised inside the retry loop for an attempt worth repeating."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def classify(exc: Exception, *, timeout_s: float, secret: str | None) -> Failure | None:
    """The failure an exception of the openai client stands for; None when it is not one of its
    errors (a bug here, to be raised as is)."""
    import openai  # loaded by the call that raised (the gateway imports it on first use)

    if isinstance(exc, openai.APITimeoutError):
        return Failure(True, "timeout", f"timed out after {timeout_s:g} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        why = (str(cause) or type(cause).__name__) if cause is not None else "connection failed"
        return Failure(True, "connection", redact(f"connection error: {why}", secret))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = redact(f"HTTP {status}{_body_message(exc.body)}", secret)
        retry_after = retry_after_s(exc.response.headers)
        if status >= 500:
            return Failure(True, "server_error", detail, status, retry_after)
        if status in _RETRYABLE_4XX:
            return Failure(True, _RETRYABLE_4XX[status], detail, status, retry_after)
        return Failure(False, "rejected", detail, status)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return malformed("the body is not JSON")
    return None


def malformed(what: str) -> Failure:
    return Failure(True, "malformed", f"malformed response: {what}")


def redact(text: str, secret: str | None) -> str:
    """``text`` on one line, shortened, with every occurrence of ``secret`` masked."""
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return text


def _body_message(body: object) -> str:
    # The openai client keeps the "error" object of a JSON body, or the body text.
    if isinstance(body, Mapping):
        message = body.get("message")
        text = message if isinstance(message, str) else json.dumps(body, default=str)
    elif body is None:
        text = ""
    else:
        text = str(body)
    text = text.strip()
    return f": {text}" if text else ""
