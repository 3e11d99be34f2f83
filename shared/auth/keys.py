"""The form of an API key: ``sk_<prefix>_<secret>``.

The prefix (12 hex digits) is public: it finds the key's row and tells keys apart in lists. The
secret is 256 random bits. Only a SHA-256 of the whole key is stored; a key this random cannot be
searched for, so a slow password hash would only cost every call time.
"""

from __future__ import annotations

import hashlib
import re
import secrets

_FORM = re.compile(r"^sk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


def generate() -> tuple[str, str]:
    """A new key and its public prefix (``sk_<12 hex>``)."""
    prefix = f"sk_{secrets.token_hex(6)}"
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def prefix_of(key: str) -> str | None:
    """The public prefix of a well-formed key; None when the text is not a key at all."""
    match = _FORM.match(key)
    return f"sk_{match.group(1)}" if match else None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def bearer(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (the scheme in any case)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
