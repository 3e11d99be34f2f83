"""Conversions between protobuf well-known types and plain Python values."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2

from scorekeeper_sdk.exact_json import python_value, to_wire


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    result = python_value(message)
    assert isinstance(result, dict)
    return result


def value_to_python(message: struct_pb2.Value) -> Any:
    return python_value(message)


def dict_to_struct(value: dict[str, Any] | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value:
        struct.update(to_wire(value))
    return struct


def python_to_value(value: Any) -> struct_pb2.Value:
    # Scores are mostly plain numbers and booleans: set those directly (ParseDict costs ~15 µs a
    # value, which a page of 300 scores notices); everything else goes through ParseDict.
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    wired = to_wire(value)
    if isinstance(wired, int | float) and math.isfinite(wired):
        return struct_pb2.Value(number_value=wired)
    if isinstance(wired, str):
        return struct_pb2.Value(string_value=wired)
    message = struct_pb2.Value()
    json_format.ParseDict(wired, message)
    return message


_JSON_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})


def map_json_fields(data: Any, descriptor: Any, fn: Callable[[Any], Any]) -> Any:
    """``data`` (a message as a dict of proto field names) with ``fn`` applied to the value of every
    Struct / Value / ListValue field, however deeply nested: how the HTTP edge carries exact numbers
    (``scorekeeper_sdk.exact_json``) in and out of plain JSON."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, value in data.items():
        field = descriptor.fields_by_name.get(name)
        if field is None or field.message_type is None:
            continue
        message = field.message_type
        if message.full_name in _JSON_TYPES:
            out[name] = [fn(v) for v in value] if field.is_repeated and isinstance(value, list) else fn(value)
        elif message.GetOptions().map_entry:
            value_type = message.fields_by_name["value"].message_type
            if value_type is not None and isinstance(value, dict):
                out[name] = {k: map_json_fields(v, value_type, fn) for k, v in value.items()}
        elif field.is_repeated and isinstance(value, list):
            out[name] = [map_json_fields(v, message, fn) for v in value]
        else:
            out[name] = map_json_fields(value, message, fn)
    return out


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
