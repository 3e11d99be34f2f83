"""Who is reviewing, in the console: a person's name kept in a cookie (``sk_reviewer``) and sent
with every verdict, whether given in a review queue or on a record's page. Never the API key's
name: a key is often shared, a verdict is a person's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

REVIEWER_COOKIE = "sk_reviewer"
REVIEWER_MAX_AGE_S = 365 * 24 * 3600
MAX_CHARS = 200


def reviewer(request: Request) -> str:
    """The name this browser reviews as; empty until given."""
    return request.cookies.get(REVIEWER_COOKIE, "").strip()


def typed_name(value: object) -> str:
    """A name as typed: spaces collapsed, at most 200 characters."""
    return " ".join(str(value or "").split())[:MAX_CHARS]


def remember(response: Response, name: str) -> Response:
    """The response, keeping ``name`` as this browser's reviewer (an empty name changes nothing)."""
    if name:
        response.set_cookie(REVIEWER_COOKIE, name, max_age=REVIEWER_MAX_AGE_S, httponly=True, samesite="lax", path="/")
    return response
