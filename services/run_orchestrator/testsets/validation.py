"""Validation and derivation of testsets and testcases: pure functions, ValueError names the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_TESTCASES_PER_REQUEST = 10_000


@dataclass(frozen=True)
class FieldMapping:
    inputs: tuple[str, ...]
    expected: tuple[str, ...]
    metadata: tuple[str, ...]

    def as_json(self) -> dict[str, list[str]]:
        return {"inputs": list(self.inputs), "expected": list(self.expected), "metadata": list(self.metadata)}


def parse_mapping(inputs: list[str], expected: list[str], metadata: list[str]) -> FieldMapping:
    if not inputs:
        raise ValueError("field_mapping.inputs must name at least one field")
    seen: dict[str, str] = {}
    for group, names in (("inputs", inputs), ("expected", expected), ("metadata", metadata)):
        for name in names:
            if not name:
                raise ValueError(f"field_mapping.{group} has an empty field name")
            if name in seen:
                raise ValueError(
                    f"field {name!r} is mapped twice (field_mapping.{seen[name]} and field_mapping.{group})"
                )
            seen[name] = group
    return FieldMapping(tuple(inputs), tuple(expected), tuple(metadata))


def schema_validator(schema: dict[str, Any] | None) -> Draft202012Validator | None:
    if not schema:
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"json_schema is not a valid JSON Schema: {exc.message}") from exc
    return Draft202012Validator(schema)


@dataclass(frozen=True)
class TestcaseRow:
    data: dict[str, Any]
    inputs: dict[str, Any]
    expected: dict[str, Any]
    metadata: dict[str, Any]
    validation_errors: list[dict[str, str]]


def derive_testcase(data: dict[str, Any], mapping: FieldMapping, validator: Draft202012Validator | None) -> TestcaseRow:
    """Split a testcase's data through the mapping; unmapped fields count as metadata.

    A testcase that violates the schema, or lacks one of the mapping's input fields (the system
    would be called without it), is kept, with its errors (JSON Pointer + message).
    """
    mapped = set(mapping.inputs) | set(mapping.expected)
    errors: list[dict[str, str]] = []
    required_by_schema: set[str] = set()
    if validator is not None:
        # Document order: list indexes compare as numbers (/a/2 before /a/10).
        in_order = sorted(
            validator.iter_errors(data),
            key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in e.absolute_path],
        )
        for err in in_order:
            errors.append({"path": _pointer(err.absolute_path), "message": err.message})
            if err.validator == "required" and not err.absolute_path:
                required_by_schema.update(str(name) for name in err.validator_value if name not in data)
    for name in mapping.inputs:
        if name not in data and name not in required_by_schema:
            errors.append({"path": _pointer([name]), "message": f"{name!r} is missing: an input of this testset"})
    return TestcaseRow(
        data=data,
        inputs={k: data[k] for k in mapping.inputs if k in data},
        expected={k: data[k] for k in mapping.expected if k in data},
        metadata={k: v for k, v in data.items() if k not in mapped},
        validation_errors=errors,
    )


def _pointer(path: Any) -> str:
    """A JSON Pointer (RFC 6901) to a place in a testcase's data."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def mapping_from_json(value: dict[str, list[str]]) -> FieldMapping:
    """A mapping as stored (it was validated when it was written)."""
    return FieldMapping(tuple(value["inputs"]), tuple(value.get("expected", ())), tuple(value.get("metadata", ())))


def same_derivation(row: TestcaseRow, stored: Any) -> bool:
    """Whether a re-derived testcase equals its stored revision (then it needs no new revision)."""
    return (row.inputs, row.expected, row.metadata, row.validation_errors) == (
        stored["inputs"],
        stored["expected"],
        stored["metadata"],
        stored["validation_errors"],
    )
