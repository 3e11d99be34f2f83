"""Heuristic metrics: pure functions of a record's outputs and expected values.

Params are validated when a metric is created (``validate_params``) and again when scoring, with
the same pydantic models, so a metric that was accepted can always be scored.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class HeuristicError(ValueError):
    """A record cannot be scored by this heuristic (e.g. the output field is missing)."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasoning: str


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Which key of the record's outputs holds the answer.
    output_field: str = "response"


class ExactMatchParams(_Params):
    # Key of the record's expected values to compare with; default: the only expected field.
    expected_field: str | None = None
    case_sensitive: bool = True
    strip_whitespace: bool = True
    unicode_normalize: bool = True


class ContainsParams(_Params):
    value: str | None = Field(default=None, min_length=1)
    expected_field: str | None = None
    case_sensitive: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> ContainsParams:
        if (self.value is None) == (self.expected_field is None):
            raise ValueError("give exactly one of 'value' (a fixed string) or 'expected_field'")
        return self


class RegexParams(_Params):
    pattern: str = Field(min_length=1)
    ignore_case: bool = False
    mode: Literal["search", "fullmatch"] = "search"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


def _as_text(value: Any) -> str:
    """JSON values compare in their JSON spelling: true, null, 1.5, [1, 2]."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text(outputs: dict[str, Any], field: str) -> str:
    if field not in outputs:
        raise HeuristicError(f"the output has no field {field!r}")
    return _as_text(outputs[field])


def _expected(expected: dict[str, Any], field: str | None) -> str:
    if field is None:
        if len(expected) != 1:
            raise HeuristicError(f"set params.expected_field: the testcase has {len(expected)} expected fields")
        field = next(iter(expected))
    if field not in expected:
        raise HeuristicError(f"the testcase has no expected field {field!r}")
    return _as_text(expected[field])


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def exact_match(p: ExactMatchParams, outputs: dict[str, Any], expected: dict[str, Any]) -> Verdict:
    got, want = _text(outputs, p.output_field), _expected(expected, p.expected_field)

    def norm(s: str) -> str:
        if p.unicode_normalize:
            s = unicodedata.normalize("NFC", s)
        if p.strip_whitespace:
            s = " ".join(s.split())
        return s if p.case_sensitive else s.casefold()

    passed = norm(got) == norm(want)
    if passed and got != want:
        return Verdict(True, f"expected {_show(want)}, got {_show(got)} — match after normalisation")
    if passed:
        return Verdict(True, f"exact match: {_show(got)}")
    return Verdict(False, f"expected {_show(want)}, got {_show(got)}")


def contains(p: ContainsParams, outputs: dict[str, Any], expected: dict[str, Any]) -> Verdict:
    got = _text(outputs, p.output_field)
    needle = p.value if p.value is not None else _expected(expected, p.expected_field)
    haystack, probe = (got, needle) if p.case_sensitive else (got.casefold(), needle.casefold())
    if probe in haystack:
        return Verdict(True, f"output contains {_show(needle)}")
    return Verdict(False, f"output {_show(got)} does not contain {_show(needle)}")


def regex(p: RegexParams, outputs: dict[str, Any], expected: dict[str, Any]) -> Verdict:
    got = _text(outputs, p.output_field)
    compiled = re.compile(p.pattern, re.IGNORECASE if p.ignore_case else 0)
    matched = compiled.fullmatch(got) if p.mode == "fullmatch" else compiled.search(got)
    verb = "matches" if p.mode == "fullmatch" else "has a match for"
    if matched:
        return Verdict(True, f"output {_show(got)} {verb} /{p.pattern}/")
    return Verdict(
        False,
        f"output {_show(got)} does not {'match' if p.mode == 'fullmatch' else 'contain a match for'} /{p.pattern}/",
    )


@dataclass(frozen=True)
class Kind:
    params: type[_Params]
    check: Callable[[Any, dict[str, Any], dict[str, Any]], Verdict]


KINDS: dict[str, Kind] = {
    "exact_match": Kind(ExactMatchParams, exact_match),
    "contains": Kind(ContainsParams, contains),
    "regex": Kind(RegexParams, regex),
}


def validate_params(kind: str, params: dict[str, Any]) -> _Params:
    """Parse a heuristic's params; ValueError with a message naming the field on failure."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValueError(f"unknown heuristic kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"params.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"params: {e['msg']}"
            for e in exc.errors()
        )
        raise ValueError(f"invalid params for {kind}: {problems}") from exc


def evaluate(kind: str, params: dict[str, Any], outputs: dict[str, Any], expected: dict[str, Any]) -> Verdict:
    parsed = validate_params(kind, params)
    return KINDS[kind].check(parsed, outputs, expected)
