"""Pass/fail checks of structured output: JSON validity, a JSON Schema, a JSONPath value, a number."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import Any, Self

import jsonpath
from jsonpath import JSONPath, JSONPathError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from pydantic import Field, field_validator, model_validator
from referencing.exceptions import Unresolvable

from shared.scoring.heuristics.base import (
    EPSILON,
    HeuristicError,
    OutputParams,
    Verdict,
    as_text,
    clip,
    count,
    exactly_one_source,
    expected_name,
    expected_value,
    num,
    output_value,
    show,
)
from shared.scoring.record import ScoringInput


class JsonValidParams(OutputParams):
    """Output is JSON: a string that parses as JSON (RFC 8259: no NaN), or an already structured value."""


class JsonSchemaParams(OutputParams):
    """Output (parsed as for json_valid) is valid under a JSON Schema (Draft 2020-12).

    ``format`` is an annotation, not an assertion (the 2020-12 default); a ``$ref`` may point inside
    the schema only (nothing is fetched).
    """

    # "schema" would shadow BaseModel.schema(); params still spell it "schema".
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"invalid JSON schema at {exc.json_path}: {clip(exc.message, 200)}") from exc
        return schema


class JsonPathEqualsParams(OutputParams):
    """The value an RFC 9535 JSONPath selects in the output equals ``value`` or an expected field.

    A singular path (names and indexes only, e.g. ``$.items[0].id``) selects one value; any other
    path (wildcards, slices, filters, ``..``) selects the list of the values it matches.
    """

    path: str = Field(min_length=1)
    value: Any = None
    expected_field: str | None = None

    @field_validator("path")
    @classmethod
    def _compiles(cls, path: str) -> str:
        try:
            jsonpath.compile(path, strict=True)
        except JSONPathError as exc:
            # The library marks "unexpected end of query" at index -1.
            where = "" if exc.token is None else f" at position {exc.token.index % (len(path) + 1)}"
            raise ValueError(f"invalid JSONPath: {exc.message}{where}") from exc
        return path

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        exactly_one_source("value" in self.model_fields_set, self.expected_field, "a fixed JSON value")
        return self

    def reads_expected(self) -> bool:
        return "value" not in self.model_fields_set


class NumericCloseParams(OutputParams):
    """Output is a number within max(abs_tol, rel_tol × |expected|) of the expected number."""

    value: float | None = Field(default=None, allow_inf_nan=False)
    expected_field: str | None = None
    abs_tol: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    # Relative to the expected number: 0.05 accepts 95..105 for 100.
    rel_tol: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> Self:
        exactly_one_source(self.value is not None, self.expected_field, "a fixed number")
        if self.abs_tol == 0 and self.rel_tol == 0:
            raise ValueError("give 'abs_tol' or 'rel_tol' greater than 0")
        return self

    def reads_expected(self) -> bool:
        return self.value is None


class _NotJson(Exception):
    """The output is a string that does not parse as JSON: a failed check, not an unscorable record."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_output(record: ScoringInput, field: str) -> Any:
    value = output_value(record, field)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except RecursionError:
        reason = "nested too deeply"
    except ValueError as exc:
        reason = clip(str(exc), 120)
    raise _NotJson(f"output {show(value)} is not valid JSON: {reason}")


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _show_json(value: Any) -> str:
    return clip(json.dumps(value, ensure_ascii=False), 80)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 but true != 1; strings compare after NFC normalisation."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a is None and b is None


def json_valid(p: JsonValidParams, record: ScoringInput) -> Verdict:
    try:
        doc = _json_output(record, p.output_field)
    except _NotJson as exc:
        return Verdict(False, str(exc))
    return Verdict(True, f"output is valid JSON ({_json_type(doc)})")


def json_schema(p: JsonSchemaParams, record: ScoringInput) -> Verdict:
    try:
        doc = _json_output(record, p.output_field)
    except _NotJson as exc:
        return Verdict(False, str(exc))
    try:
        errors = list(Draft202012Validator(p.schema_).iter_errors(doc))
    except Unresolvable as exc:
        raise HeuristicError(f"the JSON schema has a $ref that cannot be resolved: {clip(str(exc), 120)}") from exc
    if not errors:
        return Verdict(True, "output matches the JSON schema")
    first = best_match(errors)
    others = f"; {count(len(errors) - 1, 'other error')}" if len(errors) > 1 else ""
    return Verdict(
        False, f"output does not match the JSON schema at {first.json_path}: {clip(first.message, 120)}{others}"
    )


def json_path_equals(p: JsonPathEqualsParams, record: ScoringInput) -> Verdict:
    compiled = jsonpath.compile(p.path, strict=True)
    try:
        doc = _json_output(record, p.output_field)
    except _NotJson as exc:
        return Verdict(False, str(exc))
    want = p.value if "value" in p.model_fields_set else expected_value(record, p.expected_field)
    try:
        matches = compiled.findall(doc)
    except JSONPathError as exc:
        raise HeuristicError(f"JSONPath {p.path} cannot be applied to the output: {exc.message}") from exc
    got: Any = matches
    if isinstance(compiled, JSONPath) and compiled.singular_query():
        if not matches:
            return Verdict(False, f"{p.path} matches nothing in the output {_show_json(doc)}")
        got = matches[0]
    if json_equal(got, want):
        return Verdict(True, f"{p.path} is {_show_json(got)}, as expected")
    return Verdict(False, f"{p.path} is {_show_json(got)}, expected {_show_json(want)}")


def _number(value: Any, what: str) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise HeuristicError(f"{what} is not a number: {show(as_text(value))}") from None
    if not math.isfinite(x):
        raise HeuristicError(f"{what} is not a finite number: {show(as_text(value))}")
    return x


def numeric_close(p: NumericCloseParams, record: ScoringInput) -> Verdict:
    got = _number(output_value(record, p.output_field), "the output")
    if p.value is not None:
        want = p.value
    else:
        name = expected_name(record, p.expected_field)
        want = _number(record.expected[name], f"the expected field {name!r}")
    tol = max(p.abs_tol, p.rel_tol * abs(want))
    diff = abs(got - want)
    # float subtraction: 3.15 - 3.14 is 0.010000000000000231, which is within 0.01.
    if diff <= tol * (1 + EPSILON):
        return Verdict(True, f"{num(got, 12)} is within ±{num(tol)} of {num(want, 12)} (off by {num(diff)})")
    return Verdict(False, f"{num(got, 12)} is not within ±{num(tol)} of {num(want, 12)} (off by {num(diff)})")
