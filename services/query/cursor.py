"""Opaque keyset-pagination cursors."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from shared.edge.errors import ApiError, invalid

MALFORMED = "page_token is malformed; pass back the next_page_token of a previous response"


def _malformed() -> ApiError:
    return invalid(MALFORMED)


def encode(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str, required: tuple[str, ...]) -> dict[str, Any]:
    if len(token) > 1024:
        raise _malformed()
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed() from None
    if not isinstance(position, dict) or any(k not in position for k in required):
        raise _malformed()
    return position


def uuid_of(value: Any) -> uuid.UUID:
    """A position's id; a token whose id is not one is malformed."""
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise _malformed() from None


def timestamp(value: Any) -> datetime:
    """A position's time (ISO 8601 with offset)."""
    if not isinstance(value, str):
        raise _malformed()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed() from None
    if parsed.tzinfo is None:
        raise _malformed()
    return parsed


def number(value: Any, *, nullable: bool = False) -> float | None:
    """A position's number (None only where the order has a place for missing values)."""
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed()
    return float(value)
