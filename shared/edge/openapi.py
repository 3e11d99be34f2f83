"""The OpenAPI 3.1 document of an HTTP edge, generated from the same descriptors and
``google.api.http`` rules the gateway routes by, so the two cannot drift apart.

JSON follows the proto3 JSON mapping as the gateway speaks it: field names as in the proto,
64-bit integers as strings in answers (numbers or strings in requests), enums by name, ``Struct``
as any object, unknown fields refused. Descriptions come from the proto comments when the
descriptor set that ``make proto`` writes is there.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from scorekeeper.v1 import http_pb2

from shared.auth.access import Role
from shared.edge import DESCRIPTOR_SET
from shared.edge.api import BoundMethod, BoundService, Streaming
from shared.edge.errors import Code
from shared.edge.rules import http_rules

_INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": ["integer", "string"], "format": "int64", "pattern": r"^-?[0-9]{1,19}$"}
_UINT64 = {"type": ["integer", "string"], "format": "int64", "pattern": r"^[0-9]{1,20}$"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# Well-known types by their JSON form.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
}
# The version of the HTTP API the document describes (the proto package's).
API_VERSION = "v1"
_GRPC_TIMEOUT = {
    "name": "grpc-timeout",
    "in": "header",
    "required": False,
    "description": "The caller's deadline as gRPC gateways send it (`800m`, `5S`); it bounds the work (at most 24 h).",
    "schema": {"type": "string", "pattern": r"^0*[1-9][0-9]{0,7}[HMSmun]$"},
}


@cache
def _comments() -> dict[str, str]:
    """Proto comments by element: a message, field or method full name."""
    import scorekeeper

    path = Path(next(iter(scorekeeper.__path__))).parent / DESCRIPTOR_SET
    if not path.exists():
        return {}
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    found: dict[str, str] = {}

    def messages(by_path: dict[tuple[int, ...], str], types: Any, prefix: str, path: tuple[int, ...]) -> None:
        for i, message in enumerate(types):
            name, here = f"{prefix}.{message.name}", (*path, i)
            found[name] = by_path.get(here, "")
            for j, field in enumerate(message.field):
                found[f"{name}.{field.name}"] = by_path.get((*here, 2, j), "")
            messages(by_path, message.nested_type, name, (*here, 3))

    for file in files.file:
        by_path = {tuple(loc.path): " ".join(loc.leading_comments.split()) for loc in file.source_code_info.location}
        messages(by_path, file.message_type, file.package, (4,))
        for s, service in enumerate(file.service):
            for m, method in enumerate(service.method):
                found[f"{file.package}.{service.name}.{method.name}"] = by_path.get((6, s, 2, m), "")
    return {k: v for k, v in found.items() if v}


class _Schemas:
    """components.schemas, filled as messages are referenced."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = descriptor.full_name
        if name not in self.components:
            self.components[name] = {}  # placeholder: messages may refer to themselves
            properties = {f.name: self.field(f) for f in descriptor.fields}
            schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
            if text := _comments().get(name):
                schema["description"] = text
            self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        if message is not None and message.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self.single(message.fields_by_name["value"])}
        schema = {"type": "array", "items": self.single(field)} if field.is_repeated else self.single(field)
        if text := _comments().get(field.full_name):
            schema = (
                {**schema, "description": text} if "$ref" not in schema else {"allOf": [schema], "description": text}
            )
        return schema

    def single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None
            return self.message(field.message_type)
        if field.type == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "The gRPC status name, e.g. NOT_FOUND."},
                    "message": {"type": "string", "description": "What was wrong, for a person to read."},
                },
            }
        },
    }


def _parameter(field: FieldDescriptor, where: str, schemas: _Schemas) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": field.name, "in": where, "required": where == "path"}
    schema = schemas.field(field)
    if where == "path":
        schema = {**schema, "minLength": 1}
    parameter["schema"] = schema
    if field.is_repeated:
        parameter["explode"] = True
        parameter["style"] = "form"
    return parameter


def _query_fields(message: Descriptor, exclude: set[str]) -> list[FieldDescriptor]:
    """Fields a query string can set: scalars, enums and repeated scalars (not messages)."""
    return [f for f in message.fields if f.name not in exclude and f.type != FieldDescriptor.TYPE_MESSAGE]


def _operation(method: BoundMethod, rule: tuple[str, str, str, str], index: int, schemas: _Schemas) -> dict[str, Any]:
    _, path, body, response_body = rule
    descriptor: MethodDescriptor = method.descriptor
    request = descriptor.input_type
    path_names = re.findall(r"\{(\w+)\}", path)
    parameters = [_parameter(request.fields_by_name[n], "path", schemas) for n in path_names]
    operation: dict[str, Any] = {
        "operationId": descriptor.name if index == 0 else f"{descriptor.name}{index + 1}",
        "tags": [descriptor.containing_service.name],
        "summary": descriptor.name,
        "x-required-role": method.role.label,
    }
    if text := _comments().get(descriptor.full_name):
        operation["description"] = f"{text}\n\nNeeds a key with the `{method.role.label}` role."
    else:
        operation["description"] = f"Needs a key with the `{method.role.label}` role."
    if method.streaming is Streaming.CLIENT:
        parameters += [_parameter(f, "query", schemas) for f in _query_fields(request, {*path_names, body})]
        operation["requestBody"] = {
            "required": True,
            "description": "The file, streamed.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    elif body not in ("*", ""):
        parameters += [_parameter(f, "query", schemas) for f in _query_fields(request, {*path_names, body})]
        binary = {"schema": {"type": "string", "format": "binary"}}
        operation["requestBody"] = {
            "required": True,
            "description": "The body, as it is (gzip with Content-Encoding: gzip).",
            "content": {"application/x-protobuf": binary, "application/json": binary},
        }
    elif body == "*":
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": schemas.message(request)}},
        }
    else:
        parameters += [_parameter(f, "query", schemas) for f in _query_fields(request, set(path_names))]
    if method.streaming is Streaming.UNARY:
        parameters.append(_GRPC_TIMEOUT)
    operation["parameters"] = parameters
    operation["responses"] = {"200": _success(method, response_body, schemas), **_errors(method.role)}
    return operation


def _success(method: BoundMethod, response_body: str, schemas: _Schemas) -> dict[str, Any]:
    response = method.descriptor.output_type
    if method.streaming is not Streaming.SERVER:
        return {"description": "OK", "content": {"application/json": {"schema": schemas.message(response)}}}
    if not response_body:
        line = schemas.message(response)
        return {
            "description": "One JSON message per line.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}, "x-line-schema": line}},
        }
    options = method.descriptor.GetOptions()
    extension: Any = http_pb2.response_media_types
    media_types = list(options.Extensions[extension]) or ["application/octet-stream"]
    return {
        "description": "The file, streamed.",
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
    }


def _errors(role: Role) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    names: dict[int, list[str]] = {}
    for code in Code:
        if code is Code.INTERNAL or (code is Code.PERMISSION_DENIED and role is Role.READ):
            continue
        names.setdefault(code.http, []).append(code.name)
    return {
        str(status): {"description": " or ".join(codes), "content": {"application/json": {"schema": error}}}
        for status, codes in sorted(names.items())
    }


def openapi_document(services: list[BoundService], title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes ``build_http_app`` serves for these services."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for service in services:
        for method in service.methods:
            for index, rule in enumerate(http_rules(method.descriptor)):
                paths.setdefault(rule[1], {})[rule[0].lower()] = _operation(method, rule, index, schemas)
    components = {
        "schemas": {**schemas.components, "Error": _error_schema()},
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Scorekeeper API key (`sk_…`): `Authorization: Bearer <key>`.",
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Every operation is also served over gRPC (proto/scorekeeper/v1). Errors answer "
            '`{"error": {"code", "message"}}`; an id of another project answers as an unknown id (404).',
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"apiKey": []}],
        "paths": dict(sorted(paths.items())),
        "components": components,
    }
