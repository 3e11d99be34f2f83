"""Heuristic metrics: pure functions of a record (its outputs, expected values and execution facts).

Params are validated when a metric is created (``validate_params``) and again when scoring, with
the same pydantic models, so a metric that was accepted can always be scored. A record a heuristic
cannot handle (a missing field, a non-numeric output for numeric_close, ...) raises HeuristicError.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.scoring.heuristics import execution, similarity, structured, text
from shared.scoring.heuristics.base import HeuristicError, Params, Verdict
from shared.scoring.record import ScoringInput

__all__ = ["KINDS", "HeuristicError", "Kind", "Verdict", "evaluate", "prepare", "reads_expected", "validate_params"]


@dataclass(frozen=True)
class Kind:
    """A heuristic: the model of its params and the check it runs on a record; ``prepare`` loads
    what the check needs once per process (a slow import), outside any time bound."""

    params: type[Params]
    check: Callable[[Any, ScoringInput], Verdict]
    prepare: Callable[[], object] | None = None


KINDS: dict[str, Kind] = {
    "exact_match": Kind(text.ExactMatchParams, text.exact_match),
    "contains": Kind(text.ContainsParams, text.contains),
    "contains_all": Kind(text.ContainsManyParams, text.contains_all),
    "contains_any": Kind(text.ContainsManyParams, text.contains_any),
    "not_contains": Kind(text.ContainsManyParams, text.not_contains),
    "starts_with": Kind(text.StartsWithParams, text.starts_with),
    "regex": Kind(text.RegexParams, text.regex),
    "length_between": Kind(text.LengthBetweenParams, text.length_between),
    "json_valid": Kind(structured.JsonValidParams, structured.json_valid),
    "json_schema": Kind(structured.JsonSchemaParams, structured.json_schema),
    "json_path_equals": Kind(structured.JsonPathEqualsParams, structured.json_path_equals),
    "numeric_close": Kind(structured.NumericCloseParams, structured.numeric_close),
    "string_similarity": Kind(similarity.StringSimilarityParams, similarity.string_similarity),
    "token_f1": Kind(similarity.TokenF1Params, similarity.token_f1),
    "bleu": Kind(similarity.BleuParams, similarity.bleu),
    "rouge_l": Kind(similarity.RougeLParams, similarity.rouge_l, prepare=similarity.rouge_scorer),
    "latency_under": Kind(execution.LatencyUnderParams, execution.latency_under),
    "cost_under": Kind(execution.CostUnderParams, execution.cost_under),
}


def validate_params(kind: str, params: dict[str, Any]) -> Params:
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


def reads_expected(kind: str, params: dict[str, Any]) -> bool:
    """Whether the heuristic, with these (valid) params, reads a record's expected values."""
    return _parsed(kind, json.dumps(params, sort_keys=True)).reads_expected()


def prepare(kind: str) -> None:
    """Load what heuristic ``kind`` needs (nothing for most), so that scoring does not pay for it."""
    spec = KINDS.get(kind)
    if spec is not None and spec.prepare is not None:
        spec.prepare()


@functools.lru_cache(maxsize=256)
def _parsed(kind: str, params_json: str) -> Params:
    # A metric scores many records with the same params; checking a JSON schema takes a millisecond.
    return validate_params(kind, json.loads(params_json))


def evaluate(kind: str, params: dict[str, Any], record: ScoringInput) -> Verdict:
    """Judge one record; ValueError for bad params, HeuristicError for a record that cannot be scored."""
    try:
        key = json.dumps(params, sort_keys=True)
    except (TypeError, ValueError):
        parsed = validate_params(kind, params)
    else:
        parsed = _parsed(kind, key)
    return KINDS[kind].check(parsed, record)
