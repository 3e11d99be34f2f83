"""JSON values through protobuf Structs keep every number: 64-bit and larger integers, 1 vs 1.0."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from scorekeeper.v1 import testsets_pb2 as tpb

from scorekeeper_sdk.exact_json import MARK, from_wire, python_value, struct, to_wire
from shared.edge.convert import dict_to_struct, python_to_value, struct_to_dict, value_to_python
from shared.edge.http_gateway import parse_json, to_json

VALUES: list[Any] = [
    9007199254740993,
    -9007199254740993,
    2**64 + 1,
    123456789012345678901234567890,
    1,
    1.0,
    0.1,
    -0.0,
    1e20,
    1.5e-300,
    "text",
    "",
    MARK + "7",
    MARK + MARK + "x",
    True,
    None,
    [1, 1.0, [2**70, "x"]],
    {"nested": {"n": 2**63, "f": 3.0}, MARK + "k": 1},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_round_trips_through_a_struct(value: Any) -> None:
    message = struct({"v": value})
    assert python_value(message) == {"v": value}
    assert type(python_value(message)["v"]) is type(value)
    assert struct_to_dict(dict_to_struct({"v": value})) == {"v": value}
    assert value_to_python(python_to_value(value)) == value


def test_plain_numbers_stay_plain_on_the_wire() -> None:
    assert to_wire({"a": 3, "b": 0.25, "c": "x"}) == {"a": 3, "b": 0.25, "c": "x"}
    assert to_wire({"a": 2**53, "b": 2.0}) == {"a": f"{MARK}{2**53}", "b": f"{MARK}2.0"}


def test_a_string_that_only_looks_marked_stays_a_string() -> None:
    assert from_wire(f"{MARK}not a number") == f"{MARK}not a number"


def test_the_http_edge_carries_exact_numbers_in_and_out() -> None:
    body = '{"testset_id": "t", "testcases": [{"n": 9007199254740993, "x": 1.0, "one": 1, "big": 1e400}]}'
    request = tpb.AddTestcasesRequest()
    with pytest.raises(json_format.ParseError):
        parse_json(body, request)  # 1e400 is not a finite number
    parse_json(body.replace("1e400", "123456789012345678901234567890"), request)
    (testcase,) = request.testcases
    assert struct_to_dict(testcase) == {
        "n": 9007199254740993,
        "x": 1.0,
        "one": 1,
        "big": 123456789012345678901234567890,
    }
    # The numbers as the JSON text shows them (a Struct's keys come in any order).
    shown = json.loads(json.dumps(to_json(request)), parse_int=lambda s: f"int {s}", parse_float=lambda s: f"float {s}")
    assert shown["testcases"] == [
        {"n": "int 9007199254740993", "x": "float 1.0", "one": "int 1", "big": "int 123456789012345678901234567890"}
    ]


def test_duplicate_keys_are_refused_as_protobuf_would() -> None:
    with pytest.raises(json_format.ParseError, match="duplicate key 'name'"):
        parse_json('{"name": "a", "name": "b"}', tpb.CreateTestsetRequest())
