"""Protobuf Struct conversions (every number survives the trip through doubles: ints stay ints,
1.0 stays 1.0) and id parsing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.edge.convert import (
    dict_to_struct,
    parse_uuid,
    python_to_value,
    struct_to_dict,
    value_to_python,
)
from shared.edge.errors import ApiError, Code


@pytest.mark.parametrize(
    ("value", "restored"),
    [
        pytest.param({"n": 42}, {"n": 42}, id="int"),
        pytest.param({"n": 42.0}, {"n": 42.0}, id="whole-float-stays-float"),
        pytest.param({"n": 1.5}, {"n": 1.5}, id="fraction-kept"),
        pytest.param({"n": -3}, {"n": -3}, id="negative-int"),
        pytest.param({"n": 0}, {"n": 0}, id="zero"),
        pytest.param({"xs": [1, 2.5, 3.0]}, {"xs": [1, 2.5, 3.0]}, id="in-list"),
        pytest.param({"a": {"b": {"c": 7}}}, {"a": {"b": {"c": 7}}}, id="nested-dict"),
        pytest.param({"a": [{"b": [10, {"c": 0.25}]}]}, {"a": [{"b": [10, {"c": 0.25}]}]}, id="list-of-dicts"),
        pytest.param({"big": 2**53 - 1}, {"big": 2**53 - 1}, id="largest-exact-int"),
        pytest.param({"big": 2**53 + 1}, {"big": 2**53 + 1}, id="beyond-a-double"),
        pytest.param({"big": 10**30}, {"big": 10**30}, id="beyond-64-bits"),
        pytest.param(
            {"s": "42", "t": True, "f": False, "z": None},
            {"s": "42", "t": True, "f": False, "z": None},
            id="non-numbers-untouched",
        ),
        pytest.param({}, {}, id="empty"),
    ],
)
def test_struct_round_trip_keeps_every_number(value: dict[str, Any], restored: dict[str, Any]) -> None:
    result = struct_to_dict(dict_to_struct(value))
    assert result == restored
    assert _types(result) == _types(restored)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_bools_stay_bools() -> None:
    result = struct_to_dict(dict_to_struct({"t": True, "f": False}))
    assert result["t"] is True and result["f"] is False


def test_huge_integral_float_stays_float() -> None:
    # Beyond 2**53 a double no longer holds every integer exactly, so it is not passed off as one.
    result = struct_to_dict(dict_to_struct({"n": 2.0**60}))
    assert result == {"n": 2.0**60}
    assert type(result["n"]) is float


def test_dict_to_struct_none_is_empty() -> None:
    assert struct_to_dict(dict_to_struct(None)) == {}


@pytest.mark.parametrize(
    ("value", "restored"),
    [
        pytest.param(5, 5, id="int"),
        pytest.param(5.5, 5.5, id="float"),
        pytest.param([1.0, "a"], [1.0, "a"], id="list"),
        pytest.param({"k": 2.0}, {"k": 2.0}, id="dict"),
        pytest.param("text", "text", id="string"),
        pytest.param(None, None, id="null"),
    ],
)
def test_value_round_trip(value: Any, restored: Any) -> None:
    result = value_to_python(python_to_value(value))
    assert result == restored
    assert _types(result) == _types(restored)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        pytest.param(
            "0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827", uuid.UUID("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827"), id="canonical"
        ),
        pytest.param(
            "0B6F1D2E-3C4A-4F5B-9E8D-7C6B5A493827", uuid.UUID("0b6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827"), id="upper-case"
        ),
    ],
)
def test_parse_uuid(value: str, parsed: uuid.UUID) -> None:
    assert parse_uuid(value, "run_id") == parsed


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        pytest.param("", "run_id", "run_id is required", id="empty"),
        pytest.param("", "project_id", "project_id is required", id="empty-other-field"),
        pytest.param("abc", "run_id", "run_id 'abc' is not a valid id", id="garbage"),
        pytest.param(
            "0b6f1d2e-3c4a-4f5b-9e8d",
            "testset_id",
            "testset_id '0b6f1d2e-3c4a-4f5b-9e8d' is not a valid id",
            id="truncated",
        ),
        pytest.param(
            "zb6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827",
            "run_id",
            "run_id 'zb6f1d2e-3c4a-4f5b-9e8d-7c6b5a493827' is not a valid id",
            id="non-hex",
        ),
    ],
)
def test_parse_uuid_rejects(value: str, field: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_uuid(value, field)
    assert caught.value.code is Code.INVALID_ARGUMENT
    assert caught.value.message == message
    assert caught.value.code.http == 400
