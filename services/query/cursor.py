"""Opaque keyset-pagination cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.edge.errors import invalid


def encode(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str, required: tuple[str, ...]) -> dict[str, Any]:
    if len(token) > 1024:
        raise invalid("page_token is malformed; pass back the next_page_token of a previous response")
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid("page_token is malformed; pass back the next_page_token of a previous response") from None
    if not isinstance(position, dict) or any(k not in position for k in required):
        raise invalid("page_token is malformed; pass back the next_page_token of a previous response")
    return position
