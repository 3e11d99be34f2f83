"""Conversions between protobuf well-known types and plain Python values."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2


def _restore_ints(value: Any) -> Any:
    # Struct stores every number as a double; give integral numbers back as int.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _restore_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_ints(v) for v in value]
    return value


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    result = _restore_ints(json_format.MessageToDict(message))
    assert isinstance(result, dict)
    return result


def value_to_python(message: struct_pb2.Value) -> Any:
    return _restore_ints(json_format.MessageToDict(message))


def dict_to_struct(value: dict[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value:
        struct.update(value)
    return struct


def python_to_value(value: Any) -> struct_pb2.Value:
    # Scores are mostly plain numbers and booleans: set those directly (ParseDict costs ~15 µs a
    # value, which a page of 300 scores notices); everything else goes through ParseDict.
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return struct_pb2.Value(number_value=value)
    if isinstance(value, str):
        return struct_pb2.Value(string_value=value)
    message = struct_pb2.Value()
    json_format.ParseDict(value, message)
    return message


def timestamp(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def parse_uuid(value: str, field: str) -> Any:
    """A request's id field as a UUID; INVALID_ARGUMENT naming the field otherwise."""
    import uuid

    from shared.edge.errors import invalid

    if not value:
        raise invalid(f"{field} is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid(f"{field} {value!r} is not a valid id") from None
