"""Opaque page tokens: round trip, and a clear INVALID_ARGUMENT for anything malformed."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.query.cursor import decode, encode
from shared.edge.errors import ApiError, Code

MALFORMED = "page_token is malformed; pass back the next_page_token of a previous response"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "position",
    [
        pytest.param({"after": "0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827"}, id="record-id"),
        pytest.param({"after": "x", "created_at": "2025-01-02T03:04:05+00:00", "n": 7}, id="several-keys"),
        pytest.param({"after": "é/ü?&="}, id="non-ascii-and-url-chars"),
        pytest.param({"after": None, "nested": {"a": [1, 2.5, True]}}, id="json-values"),
    ],
)
def test_round_trip(position: dict[str, Any]) -> None:
    token = encode(position)
    assert decode(token, tuple(position)) == position
    # URL-safe and unpadded: a token can be pasted into a query string as is.
    assert "=" not in token and "+" not in token and "/" not in token


def test_encode_is_deterministic_and_compact() -> None:
    assert encode({"after": "abc"}) == b64(b'{"after":"abc"}')


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not a token!", id="garbage"),
        pytest.param("!!!", id="punctuation"),
        pytest.param("abc", id="short-base64-not-json"),
        pytest.param("é", id="non-ascii"),
        pytest.param(b64(b"\xff\xfe\x00"), id="base64-of-binary"),
        pytest.param(b64(b"not json"), id="base64-of-text"),
        pytest.param(b64(b"[1, 2]"), id="base64-of-list"),
        pytest.param(b64(b'"after"'), id="base64-of-string"),
        pytest.param(b64(b"42"), id="base64-of-number"),
        pytest.param(b64(b"null"), id="base64-of-null"),
        pytest.param(b64(b'{"before": "x"}'), id="missing-key"),
        pytest.param(b64(b"{}"), id="empty-object"),
    ],
)
def test_malformed_token(token: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode(token, ("after",))
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message == MALFORMED
    assert str(caught.value) == MALFORMED


def test_missing_one_of_several_keys() -> None:
    with pytest.raises(ApiError) as caught:
        decode(encode({"after": "x"}), ("after", "created_at"))
    assert (caught.value.code, caught.value.message) == (Code.INVALID_ARGUMENT, MALFORMED)


def test_deeply_nested_token_is_malformed() -> None:
    with pytest.raises(ApiError) as caught:
        decode(b64(b"[" * 100_000), ("after",))
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_position_values() -> None:
    from datetime import UTC, datetime

    from services.query.cursor import number, timestamp, uuid_of

    assert str(uuid_of("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827")) == "0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827"
    assert timestamp("2025-01-02T03:04:05.123456+00:00") == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert number(3) == 3.0 and number(0.5) == 0.5
    assert number(None, nullable=True) is None


@pytest.mark.parametrize(
    ("call", "value"),
    [
        pytest.param("uuid_of", "nope", id="bad-id"),
        pytest.param("uuid_of", 42, id="id-number"),
        pytest.param("uuid_of", None, id="id-null"),
        pytest.param("timestamp", "yesterday", id="bad-time"),
        pytest.param("timestamp", "2025-01-02T03:04:05", id="time-without-offset"),
        pytest.param("timestamp", 1700000000, id="time-number"),
        pytest.param("number", "3", id="number-as-text"),
        pytest.param("number", True, id="number-bool"),
        pytest.param("number", None, id="number-null-where-not-allowed"),
    ],
)
def test_malformed_position_values(call: str, value: Any) -> None:
    from services.query import cursor

    with pytest.raises(ApiError) as caught:
        getattr(cursor, call)(value)
    assert (caught.value.code, caught.value.message) == (Code.INVALID_ARGUMENT, MALFORMED)
