"""Pass/fail checks of the output's text: equality, substrings, prefix, regular expression, length."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Literal, Self

import regex as _regex
from pydantic import Field, field_validator, model_validator

from shared.scoring.heuristics.base import (
    HeuristicError,
    OutputParams,
    TextParams,
    Verdict,
    count,
    exactly_one_source,
    expected_name,
    expected_text,
    expected_texts,
    normalise,
    output_text,
    show,
    show_all,
)
from shared.scoring.record import ScoringInput


class ExactMatchParams(TextParams):
    """Output equals the expected value, after the chosen normalisation."""

    def reads_expected(self) -> bool:
        return True

    # Key of the record's expected values to compare with; default: the only expected field.
    expected_field: str | None = None
    # Strip both ends and fold inner runs of whitespace to one space.
    strip_whitespace: bool = True


class ContainsParams(TextParams):
    """Output contains a fixed string (``value``) or the string of an expected field."""

    value: str | None = Field(default=None, min_length=1)
    expected_field: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        exactly_one_source(self.value is not None, self.expected_field, "a fixed string")
        return self

    def reads_expected(self) -> bool:
        return self.value is None


class StartsWithParams(ContainsParams):
    """Output starts with a fixed string or the string of an expected field."""

    # Ignore the output's leading whitespace ("\n\nYes, ..." starts with "Yes").
    strip_whitespace: bool = True


class ContainsManyParams(TextParams):
    """Strings to look for: ``values``, an expected field (a list, or one string), or both."""

    values: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    expected_field: str | None = None

    @model_validator(mode="after")
    def _some_source(self) -> Self:
        if self.values is None and self.expected_field is None:
            raise ValueError("give 'values' (fixed strings), 'expected_field', or both")
        return self

    def reads_expected(self) -> bool:
        return self.expected_field is not None


class RegexParams(OutputParams):
    """Output matches a Python regular expression (searched anywhere, or the whole output)."""

    pattern: str = Field(min_length=1)
    ignore_case: bool = False
    mode: Literal["search", "fullmatch"] = "search"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)  # the syntax users know, with its messages
            _regex.compile(pattern)  # the engine that runs it (re's syntax, with time limits)
        except (re.error, _regex.error) as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


class LengthBetweenParams(OutputParams):
    """Output length in characters (code points after NFC) or words (whitespace-separated)."""

    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    unit: Literal["chars", "words"] = "chars"

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min_length is None and self.max_length is None:
            raise ValueError("give 'min_length', 'max_length', or both")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is greater than max_length ({self.max_length})")
        return self


def _finder(p: TextParams, text: str) -> Callable[[str], bool]:
    """``needle in text`` under the params' case and unicode options."""
    haystack = normalise(text, case_sensitive=p.case_sensitive, unicode_normalize=p.unicode_normalize)
    return lambda needle: (
        normalise(needle, case_sensitive=p.case_sensitive, unicode_normalize=p.unicode_normalize) in haystack
    )


def exact_match(p: ExactMatchParams, record: ScoringInput) -> Verdict:
    got, want = output_text(record, p.output_field), expected_text(record, p.expected_field)

    def norm(s: str) -> str:
        return normalise(
            s,
            case_sensitive=p.case_sensitive,
            unicode_normalize=p.unicode_normalize,
            fold_whitespace=p.strip_whitespace,
        )

    passed = norm(got) == norm(want)
    if passed and got != want:
        return Verdict(True, f"expected {show(want)}, got {show(got)} — match after normalisation")
    if passed:
        return Verdict(True, f"exact match: {show(got)}")
    return Verdict(False, f"expected {show(want)}, got {show(got)}")


def contains(p: ContainsParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    needle = p.value if p.value is not None else expected_text(record, p.expected_field)
    if _finder(p, got)(needle):
        return Verdict(True, f"output contains {show(needle)}")
    return Verdict(False, f"output {show(got)} does not contain {show(needle)}")


def _needles(p: ContainsManyParams, record: ScoringInput) -> list[str]:
    needles = list(p.values or [])
    if p.expected_field is not None:
        from_expected = expected_texts(record, p.expected_field)
        if not from_expected and not needles:
            name = expected_name(record, p.expected_field)
            raise HeuristicError(f"the expected field {name!r} is an empty list: nothing to look for")
        needles += from_expected
    return needles


def contains_all(p: ContainsManyParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    needles = _needles(p, record)
    found = _finder(p, got)
    missing = [n for n in needles if not found(n)]
    if not missing:
        return Verdict(True, f"output contains all of {show_all(needles)}")
    return Verdict(False, f"output {show(got)} is missing {show_all(missing)} ({len(missing)} of {len(needles)})")


def contains_any(p: ContainsManyParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    needles = _needles(p, record)
    found = _finder(p, got)
    present = [n for n in needles if found(n)]
    if present:
        return Verdict(True, f"output contains {show_all(present)} ({len(present)} of {len(needles)})")
    return Verdict(False, f"output {show(got)} contains none of {show_all(needles)}")


def not_contains(p: ContainsManyParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    needles = _needles(p, record)
    found = _finder(p, got)
    present = [n for n in needles if found(n)]
    if not present:
        return Verdict(True, f"output contains none of {show_all(needles)}")
    return Verdict(False, f"output {show(got)} contains forbidden {show_all(present)}")


def starts_with(p: StartsWithParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    prefix = p.value if p.value is not None else expected_text(record, p.expected_field)
    text = got.lstrip() if p.strip_whitespace else got
    norm_text, norm_prefix = (
        normalise(s, case_sensitive=p.case_sensitive, unicode_normalize=p.unicode_normalize) for s in (text, prefix)
    )
    if norm_text.startswith(norm_prefix):
        return Verdict(True, f"output starts with {show(prefix)}")
    return Verdict(False, f"output {show(got)} does not start with {show(prefix)}")


# A backtracking pattern can take exponential time on some outputs ("(a|aa)+$"): a match gets
# this long, then the score errors naming the pattern.
REGEX_TIMEOUT_S = 1.0


def regex(p: RegexParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    compiled = _regex.compile(p.pattern, _regex.IGNORECASE if p.ignore_case else 0)
    try:
        if p.mode == "fullmatch":
            matched = compiled.fullmatch(got, timeout=REGEX_TIMEOUT_S)
        else:
            matched = compiled.search(got, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        raise HeuristicError(
            f"the pattern /{p.pattern}/ took longer than {REGEX_TIMEOUT_S:g} s on this output "
            f"({len(got):,} characters); a pattern that backtracks this much needs rewriting"
        ) from None
    verb = "matches" if p.mode == "fullmatch" else "has a match for"
    if matched:
        return Verdict(True, f"output {show(got)} {verb} /{p.pattern}/")
    return Verdict(
        False,
        f"output {show(got)} does not {'match' if p.mode == 'fullmatch' else 'contain a match for'} /{p.pattern}/",
    )


def length_between(p: LengthBetweenParams, record: ScoringInput) -> Verdict:
    got = output_text(record, p.output_field)
    if p.unit == "words":
        n, unit = len(got.split()), "word"
    else:
        n, unit = len(unicodedata.normalize("NFC", got)), "character"
    lo, hi = p.min_length, p.max_length
    if lo is not None and n < lo:
        return Verdict(False, f"output {show(got)} has {count(n, unit)}, fewer than the minimum {lo:,}")
    if hi is not None and n > hi:
        return Verdict(False, f"output {show(got)} has {count(n, unit)}, more than the maximum {hi:,}")
    return Verdict(True, f"output has {count(n, unit)} (allowed: {_allowed(lo, hi)})")


def _allowed(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo:,} to {hi:,}"
    return f"at least {lo:,}" if lo is not None else f"at most {hi:,}"
