"""Opaque keyset-pagination tokens, bound to the request they continue.

A token holds the position after the last row of a page, and two digests of the request that
made it: of what the request lists (the run, project, testset … it names) and of how (its
filters and order). A token passed with another request is refused naming which of the two
differs, rather than answering a page of something else. ``page_size`` may change between pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from shared.edge.errors import ApiError, invalid

MALFORMED = "page_token is malformed; pass back the next_page_token of a previous response"
# The fields that say what a request lists; every other field (but the page's own) is a filter.
SUBJECT_FIELDS = frozenset({"run_id", "baseline_run_id", "project_id", "testset_id"})
_PAGE_FIELDS = ("page_token", "page_size")


def _malformed() -> ApiError:
    return invalid(MALFORMED)


def _digest(request: Message, subject: bool, ignore: Iterable[str]) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    for name in (*_PAGE_FIELDS, *ignore):
        copy.ClearField(name)
    for name in [f.name for f in request.DESCRIPTOR.fields]:
        if (name in SUBJECT_FIELDS) != subject:
            copy.ClearField(name)
    raw = copy.SerializeToString(deterministic=True)
    return base64.urlsafe_b64encode(hashlib.blake2b(raw, digest_size=6).digest()).decode()


def encode(position: dict[str, Any], request: Message, *, ignore: Iterable[str] = ()) -> str:
    """The token continuing after ``position``, for requests like ``request`` (fields in
    ``ignore`` may differ between pages: the position itself pins them)."""
    ignore = tuple(ignore)
    bound = {**position, "_s": _digest(request, True, ignore), "_f": _digest(request, False, ignore)}
    return base64.urlsafe_b64encode(json.dumps(bound, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str, required: tuple[str, ...], request: Message, *, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The position a token holds; INVALID_ARGUMENT when it is malformed or was made for another
    request (naming what differs)."""
    if len(token) > 1024:
        raise _malformed()
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed() from None
    if not isinstance(position, dict) or any(k not in position for k in (*required, "_s", "_f")):
        raise _malformed()
    ignore = tuple(ignore)
    if position["_s"] != _digest(request, True, ignore):
        named = ", ".join(sorted(f.name for f, _ in request.ListFields() if f.name in SUBJECT_FIELDS))
        raise invalid(
            f"page_token was issued for another {named or 'subject'}; pass it back with the request it came from"
        )
    if position["_f"] != _digest(request, False, ignore):
        raise invalid(
            "page_token was issued for other filters or another order; "
            "pass the same filters and order as its first page"
        )
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


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _malformed()
    return value


# Newest-first lists keyed by (created_at, id): testsets, playground tries.


def newest_first_after(request: Message) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) of the row the request's page_token continues after; None without one."""
    token: str = getattr(request, "page_token", "")
    if not token:
        return None
    position = decode(token, ("c", "i"), request)
    return timestamp(position["c"]), uuid_of(position["i"])


def newest_first_token(rows: Sequence[Any], limit: int, request: Message) -> str:
    """The next page's token when ``rows`` (fetched with one row more than ``limit``) go on."""
    if len(rows) <= limit:
        return ""
    last = rows[limit - 1]
    return encode({"c": last["created_at"].isoformat(), "i": str(last["id"])}, request)
