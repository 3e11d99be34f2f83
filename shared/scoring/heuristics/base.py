"""What every heuristic shares: its verdict, the base classes of its params, reading a record's
fields, text normalisation, and the short previews that reasoning is made of."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.scoring.record import ScoringInput

# Graded scores are floats: 2 * p * r / (p + r) may land a hair below a threshold it meets exactly.
EPSILON = 1e-9


class HeuristicError(ValueError):
    """A record cannot be scored by this heuristic (e.g. the output field is missing)."""


@dataclass(frozen=True)
class Verdict:
    """A heuristic's judgement of one record.

    ``score`` is the graded value in 0..1 of a graded heuristic (string similarity, token F1, BLEU,
    ROUGE-L; it passed when score >= its ``threshold``), None for a pass/fail heuristic.
    """

    passed: bool
    reasoning: str
    score: float | None = None


class Params(BaseModel):
    """Base of every heuristic's params: an unknown key is an error, parsed params never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def reads_expected(self) -> bool:
        """Whether checking a record reads its expected values (a record without them cannot pass)."""
        return False


class OutputParams(Params):
    """Params of a heuristic that reads the system's answer from one output field."""

    output_field: str = "response"


class TextParams(OutputParams):
    """Params of a heuristic that compares text: case and unicode normalisation options."""

    case_sensitive: bool = True
    # NFC: "é" as one code point and "é" as e + combining accent compare equal.
    unicode_normalize: bool = True


def exactly_one_source(has_value: bool, expected_field: str | None, what: str) -> None:
    if has_value == (expected_field is not None):
        raise ValueError(f"give exactly one of 'value' ({what}) or 'expected_field'")


# --- reading the record -------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """JSON values compare in their JSON spelling: true, null, 1.5, [1, 2]."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def output_value(record: ScoringInput, field: str) -> Any:
    if field not in record.outputs:
        raise HeuristicError(f"the output has no field {field!r}")
    return record.outputs[field]


def output_text(record: ScoringInput, field: str) -> str:
    return as_text(output_value(record, field))


def expected_name(record: ScoringInput, field: str | None) -> str:
    """The expected field to read: the one named, or the testcase's only one."""
    if field is None:
        if len(record.expected) != 1:
            raise HeuristicError(f"set params.expected_field: the testcase has {len(record.expected)} expected fields")
        return next(iter(record.expected))
    if field not in record.expected:
        raise HeuristicError(f"the testcase has no expected field {field!r}")
    return field


def expected_value(record: ScoringInput, field: str | None) -> Any:
    return record.expected[expected_name(record, field)]


def expected_text(record: ScoringInput, field: str | None) -> str:
    return as_text(expected_value(record, field))


def expected_texts(record: ScoringInput, field: str | None) -> list[str]:
    """An expected field holding a list gives several strings (needles, or acceptable references)."""
    value = expected_value(record, field)
    return [as_text(v) for v in value] if isinstance(value, list) else [as_text(value)]


def normalise(text: str, *, case_sensitive: bool, unicode_normalize: bool, fold_whitespace: bool = False) -> str:
    if unicode_normalize:
        text = unicodedata.normalize("NFC", text)
    if fold_whitespace:
        text = " ".join(text.split())
    return text if case_sensitive else text.casefold()


# --- reasoning ----------------------------------------------------------------------------------


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(text: str, limit: int = 80) -> str:
    """A quoted one-line preview: repr escapes newlines, long text is cut."""
    return repr(clip(text, limit))


def show_all(texts: list[str], shown: int = 3) -> str:
    head = ", ".join(show(t, 40) for t in texts[:shown])
    return head if len(texts) <= shown else f"{head} and {len(texts) - shown} more"


def num(x: float, digits: int = 6) -> str:
    """At most ``digits`` significant digits, never in exponent form: 0.000015, 1250, 3.14159."""
    return format(Decimal(f"{x:.{digits}g}"), "f")


def count(n: int, unit: str) -> str:
    return f"{n:,} {unit}" if n == 1 else f"{n:,} {unit}s"
