"""Turning a domain validation error into the caller's INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shared.edge.errors import invalid

P = ParamSpec("P")
T = TypeVar("T")


def checked(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a pure validator; its ValueError (which names the field) becomes INVALID_ARGUMENT."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


def nul_field(message: Message, path: str = "") -> str | None:
    """The path of the first string in the message (map keys and Struct values included) that holds
    a NUL character, or None."""
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        entry = field.message_type
        if field.type == FieldDescriptor.TYPE_MESSAGE and entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{name} (a key)"
                found = _nul_in(value_field, item, f"{name}.{key}")
                if found:
                    return found
        elif field.is_repeated:
            for i, item in enumerate(value):
                found = _nul_in(field, item, f"{name}[{i}]")
                if found:
                    return found
        else:
            found = _nul_in(field, value, name)
            if found:
                return found
    return None


def _nul_in(field: FieldDescriptor, value: object, path: str) -> str | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        return path if "\x00" in str(value) else None
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        if isinstance(value, struct_pb2.Struct | struct_pb2.Value | struct_pb2.ListValue):
            return _nul_in_json(value, path)
        return nul_field(value, path)
    return None


def _nul_in_json(value: struct_pb2.Struct | struct_pb2.Value | struct_pb2.ListValue, path: str) -> str | None:
    """Struct, Value and ListValue by their JSON paths (``config.a.b[1]``)."""
    if isinstance(value, struct_pb2.Struct):
        for key, item in value.fields.items():
            if "\x00" in key:
                return f"{path} (a key)"
            found = _nul_in_json(item, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(value, struct_pb2.ListValue):
        for i, item in enumerate(value.values):
            found = _nul_in_json(item, f"{path}[{i}]")
            if found:
                return found
        return None
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return path if "\x00" in value.string_value else None
    if kind == "struct_value":
        return _nul_in_json(value.struct_value, path)
    if kind == "list_value":
        return _nul_in_json(value.list_value, path)
    return None
