"""The signed-in visitor's API key in an HTTP-only cookie, and CSRF tokens for every form.

CSRF: each browser gets a random, HTTP-only ``sk_csrf`` cookie; a form carries
HMAC(secret, that cookie) in a hidden field (htmx sends it as the ``X-CSRF-Token`` header). A
page of another site can neither read the cookie nor compute the token, so it cannot forge a
form post, and a cookie planted from a sibling domain is useless without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "sk_session"
CSRF_COOKIE = "sk_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# A signed-in session lasts a working week; the key itself may be revoked sooner (then the next
# page asks to sign in again).
SESSION_MAX_AGE_S = 7 * 24 * 3600


class CsrfRejected(Exception):
    """A form post without a valid CSRF token."""


class Security:
    """Reads and writes the session cookie; signs and checks CSRF tokens."""

    def __init__(self, secret: str, *, secure_cookies: bool) -> None:
        self._secret = (secret or secrets.token_urlsafe(32)).encode()
        self._secure = secure_cookies

    def api_key(self, request: Request) -> str:
        return request.cookies.get(SESSION_COOKIE, "")

    def sign_in(self, response: Response, api_key: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            api_key,
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=self._secure,
            path="/",
        )

    def sign_out(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self._secure)

    def _browser_token(self, request: Request) -> str:
        token: str = request.scope.get("state", {}).get("csrf_cookie") or request.cookies.get(CSRF_COOKIE, "")
        return token

    def csrf_token(self, request: Request) -> str:
        """The token this browser's forms carry."""
        return hmac.new(self._secret, self._browser_token(request).encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, submitted: str) -> None:
        if not request.cookies.get(CSRF_COOKIE) or not submitted:
            raise CsrfRejected("the form has no CSRF token")
        if not hmac.compare_digest(self.csrf_token(request), submitted):
            raise CsrfRejected("the form's CSRF token does not match this browser")

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Gives every browser a CSRF cookie on its first page."""
        secure = self._secure

        async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            cookies = SimpleCookie()
            for name, value in scope.get("headers", ()):
                if name == b"cookie":
                    cookies.load(value.decode("latin-1"))
            if CSRF_COOKIE in cookies and cookies[CSRF_COOKIE].value:
                await app(scope, receive, send)
                return
            fresh = secrets.token_urlsafe(32)
            scope.setdefault("state", {})["csrf_cookie"] = fresh
            flags = "; HttpOnly; SameSite=Lax; Path=/" + ("; Secure" if secure else "")

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append((b"set-cookie", f"{CSRF_COOKIE}={fresh}{flags}".encode()))
                    message = {**message, "headers": headers}
                await send(message)

            await app(scope, receive, send_with_cookie)

        return asgi
