"""Webhook URLs as the platform accepts them (monitor alerts, run webhooks); the allowlist is
checked when one is called, by the executor that calls it."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL = 2000


def check_webhook_url(url: str, field: str) -> str:
    """An absolute http(s) URL without credentials; ValueError naming ``field`` otherwise."""
    if len(url) > MAX_URL:
        raise ValueError(f"{field} must be at most {MAX_URL:,} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{field} {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field} must be an http or https URL with a host, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field} must not carry credentials")
    if port == 0:
        raise ValueError(f"{field} has no valid port: {url!r}")
    return url
