"""Opaque page tokens: round trip, bound to their request, and a clear INVALID_ARGUMENT for
anything malformed or made for another request."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from scorekeeper.v1 import query_pb2 as qpb
from scorekeeper.v1 import testsets_pb2 as tpb

from shared.edge import page_tokens
from shared.edge.errors import ApiError, Code
from shared.edge.page_tokens import decode, encode

MALFORMED = "page_token is malformed; pass back the next_page_token of a previous response"
RUN_A, RUN_B = "0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827", "1c7f2e3f-4d5b-4a6c-8f9e-8d7c6b5a4938"
REQUEST = qpb.ListRecordsRequest(run_id=RUN_A, statuses=["completed"], order_by="latency_ms desc")


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
    token = encode(position, REQUEST)
    decoded = decode(token, tuple(position), REQUEST)
    assert {k: v for k, v in decoded.items() if not k.startswith("_")} == position
    # URL-safe and unpadded: a token can be pasted into a query string as is.
    assert "=" not in token and "+" not in token and "/" not in token


def test_the_page_size_may_change_between_pages() -> None:
    token = encode({"after": "x"}, REQUEST)
    later = qpb.ListRecordsRequest()
    later.CopyFrom(REQUEST)
    later.page_size, later.page_token = 7, token
    assert decode(token, ("after",), later)["after"] == "x"


def test_a_token_of_another_run_is_refused_naming_it() -> None:
    token = encode({"after": "x"}, REQUEST)
    other = qpb.ListRecordsRequest(run_id=RUN_B, statuses=["completed"], order_by="latency_ms desc")
    with pytest.raises(ApiError) as caught:
        decode(token, ("after",), other)
    assert (caught.value.code, caught.value.message) == (
        Code.INVALID_ARGUMENT,
        "page_token was issued for another run_id; pass it back with the request it came from",
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"statuses": ["errored"]},
        {"order_by": "latency_ms"},
        {"search": "paris"},
        {"where": ["exact:failed"]},
    ],
)
def test_a_token_with_other_filters_or_order_is_refused(changed: dict[str, Any]) -> None:
    token = encode({"after": "x"}, REQUEST)
    other = qpb.ListRecordsRequest(
        **{"run_id": RUN_A, "statuses": ["completed"], "order_by": "latency_ms desc", **changed}
    )
    with pytest.raises(ApiError) as caught:
        decode(token, ("after",), other)
    assert caught.value.message == (
        "page_token was issued for other filters or another order; pass the same filters and order as its first page"
    )


def test_ignored_fields_may_differ() -> None:
    first = tpb.ListTestcasesRequest(testset_id=RUN_A)
    token = encode({"v": 3, "p": 9}, first, ignore=("version",))
    later = tpb.ListTestcasesRequest(testset_id=RUN_A, version=3, page_token=token)
    assert decode(token, ("v", "p"), later, ignore=("version",))["p"] == 9


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
        pytest.param(b64(b'{"after": "x"}'), id="unbound"),
        pytest.param(b64(b"{}"), id="empty-object"),
    ],
)
def test_malformed_token(token: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode(token, ("after",), REQUEST)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message == MALFORMED
    assert str(caught.value) == MALFORMED


def test_missing_one_of_several_keys() -> None:
    with pytest.raises(ApiError) as caught:
        decode(encode({"after": "x"}, REQUEST), ("after", "created_at"), REQUEST)
    assert (caught.value.code, caught.value.message) == (Code.INVALID_ARGUMENT, MALFORMED)


def test_deeply_nested_token_is_malformed() -> None:
    with pytest.raises(ApiError) as caught:
        decode(b64(b"[" * 100_000), ("after",), REQUEST)
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_position_values() -> None:
    from datetime import UTC, datetime

    assert str(page_tokens.uuid_of(RUN_A)) == RUN_A
    assert page_tokens.timestamp("2025-01-02T03:04:05.123456+00:00") == datetime(
        2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert page_tokens.number(3) == 3.0 and page_tokens.number(0.5) == 0.5
    assert page_tokens.number(None, nullable=True) is None
    assert page_tokens.integer(4) == 4


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
        pytest.param("integer", 1.5, id="integer-float"),
        pytest.param("integer", True, id="integer-bool"),
    ],
)
def test_malformed_position_values(call: str, value: Any) -> None:
    with pytest.raises(ApiError) as caught:
        getattr(page_tokens, call)(value)
    assert (caught.value.code, caught.value.message) == (Code.INVALID_ARGUMENT, MALFORMED)
