"""JSON values through ``google.protobuf.Struct`` without losing a number.

A Struct holds every number as a double: 9007199254740993 would arrive as 9007199254740992, and
``1`` could not be told from ``1.0``. Both sides of the API (the services and this SDK) agree on
one encoding, applied where a Struct is built and where it is read:

- an integer a double holds exactly (|n| < 2**53) and a float that is not whole travel as numbers;
  a whole number read back is an ``int``, any other a ``float``;
- an integer beyond that, and a whole float (``1.0``, ``1e+20``), travel as a string: the private-use
  mark U+E000 and the number's JSON text (``"\\ue0009007199254740993"``, ``"\\ue0001.0"``);
- a string (or an object key) that itself starts with the mark gets it twice, so no string is
  ever read as a number.

Over HTTP JSON the gateway applies the same rules, so clients there see plain JSON numbers.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

MARK = "\ue000"
_MARK2 = MARK * 2
_EXACT = 2**53


def to_wire(value: Any) -> Any:
    """A JSON value (dicts, lists, str, int, float, bool, None) as it can go into a Struct."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_EXACT < value < _EXACT else f"{MARK}{value}"
    if isinstance(value, float):
        return f"{MARK}{value!r}" if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, str):
        return MARK + value if value.startswith(MARK) else value
    if isinstance(value, dict):
        return {MARK + k if k.startswith(MARK) else k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def from_wire(value: Any) -> Any:
    """A value read out of a Struct (as ``json_format.MessageToDict`` gives it) as it was sent."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and -_EXACT < value < _EXACT else value
    if isinstance(value, str):
        if not value.startswith(MARK):
            return value
        if value.startswith(MARK * 2):
            return value[1:]
        return _number(value[1:])
    if isinstance(value, dict):
        return {k[1:] if k.startswith(MARK * 2) else k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return MARK + text  # not one of ours: left as the string it was


def struct(value: dict[str, Any] | None) -> struct_pb2.Struct:
    """A Struct holding ``value`` exactly (see above)."""
    message = struct_pb2.Struct()
    if value:
        message.update(to_wire(value))
    return message


def python_value(message: struct_pb2.Struct | struct_pb2.Value | struct_pb2.ListValue) -> Any:
    """What a Struct, Value or ListValue holds, as it was sent: ``from_wire`` of the message in one
    walk (``json_format.MessageToDict`` and then ``from_wire`` take twice as long: every logged call
    carries three Structs). ValueError for a number JSON cannot hold (NaN, Infinity), as
    ``MessageToDict`` would."""
    if isinstance(message, struct_pb2.Struct):
        return _object(message)
    if isinstance(message, struct_pb2.ListValue):
        return [_value(v) for v in message.values]
    return _value(message)


def _object(message: struct_pb2.Struct) -> dict[str, Any]:
    return {k[1:] if k.startswith(_MARK2) else k: _value(v) for k, v in message.fields.items()}


def _value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        return from_wire(text) if text.startswith(MARK) else text
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise ValueError(f"Fail to serialize {number} for Value.number_value: JSON cannot hold it")
        return int(number) if number.is_integer() and -_EXACT < number < _EXACT else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _object(value.struct_value)
    if kind == "list_value":
        return [_value(v) for v in value.list_value.values]
    return None
