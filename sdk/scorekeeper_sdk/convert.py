"""Proto messages → the SDK's dataclasses, field by field, from the dataclass's own type hints.

A dataclass field takes the proto field of the same name: ``X | None`` fields are None where the
proto field is unset (``optional`` scalars, absent messages), Struct and other messages typed as
``dict`` become plain dicts, ``google.protobuf.Value`` becomes a Python value, nested dataclasses
and lists of them are converted recursively, maps of scalars become dicts. Proto fields the dataclass does not name are
ignored, so fields the server adds later never break an older SDK.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from scorekeeper_sdk.exact_json import python_value

T = TypeVar("T")


@functools.cache
def _hints(cls: type[Any]) -> dict[str, Any]:
    return get_type_hints(cls)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0], True
    return hint, False


def to_python(message: Message) -> Any:
    """Struct → dict, Value → its value, any other message → dict with the proto's field names."""
    if isinstance(message, struct_pb2.Struct | struct_pb2.Value | struct_pb2.ListValue):
        return python_value(message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _convert(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, Message):
        return from_proto(hint, value)  # type: ignore[arg-type]
    if isinstance(value, Message):
        return to_python(value)
    return value


def from_proto(cls: type[T], message: Message) -> T:
    """An instance of the dataclass ``cls`` holding ``message``'s fields."""
    hints = _hints(cls)  # type: ignore[arg-type]
    fields = message.DESCRIPTOR.fields_by_name
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        descriptor = fields.get(field.name)
        if descriptor is None:
            continue
        hint, optional = _unwrap_optional(hints[field.name])
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            kwargs[field.name] = dict(getattr(message, field.name))  # a map of scalars
        elif descriptor.is_repeated:
            (item,) = get_args(hint) or (Any,)
            kwargs[field.name] = [_convert(item, v) for v in getattr(message, field.name)]
        elif optional and descriptor.has_presence and not message.HasField(field.name):
            kwargs[field.name] = None
        elif descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            kwargs[field.name] = _convert(hint, getattr(message, field.name))
        else:
            kwargs[field.name] = getattr(message, field.name)
    return cls(**kwargs)
