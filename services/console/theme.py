"""The console's colour theme: the visitor's choice, kept in a cookie, or (auto) their system's.

The page's html carries data-theme="light" or "dark" when one was chosen; without it Pico and the
console's colours (light-dark() in console.css) follow the system's prefers-color-scheme."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

THEMES = ("auto", "light", "dark")
COOKIE = "theme"
# Kept a year; it says nothing about the visitor but a colour.
KEPT_S = 365 * 24 * 3600


def theme_of(request: Request) -> str:
    """The theme the visitor chose (a cookie of another value counts as none): auto, light or dark."""
    chosen = request.cookies.get(COOKIE, "")
    return chosen if chosen in THEMES else "auto"


def keep_theme(response: Response, theme: str, *, secure: bool) -> None:
    """Remember ``theme`` (one of THEMES) for the visitor's next pages; auto forgets the choice."""
    if theme == "auto":
        response.delete_cookie(COOKIE, path="/", samesite="lax", secure=secure)
    else:
        response.set_cookie(COOKIE, theme, max_age=KEPT_S, path="/", samesite="lax", secure=secure)
