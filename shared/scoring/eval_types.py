"""The kinds of metric evaluation (``ai``, ``heuristic``, ``human``): one registry line each.

Each says how its config is checked when a metric version is made, which part of its config may
name a secret variable, and whether a reviewer scores it. The scorer keeps its own registry of
who computes each (services/scorer/scorers.py); an eval type missing from either is an error at
the edge or in the scorer, never a fall-through to another type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.scoring import heuristics, judge_prompts


@dataclass(frozen=True)
class EvalType:
    name: str
    # The config of a metric version, validated and normalised; ValueError naming the field.
    parse: Callable[[dict[str, Any]], dict[str, Any]]
    # A reviewer gives the score (it waits as pending until one does).
    by_reviewer: bool = False
    # The environment variable its config names for a secret, if any.
    secret_env: Callable[[dict[str, Any]], str] = lambda config: ""


def _heuristic(config: dict[str, Any]) -> dict[str, Any]:
    kind, params = config.get("kind", ""), config.get("params") or {}
    if not kind:
        raise ValueError("heuristic.kind is required for a heuristic metric")
    try:
        heuristics.validate_params(kind, params)
    except ValueError as exc:
        raise ValueError(f"heuristic: {exc}") from exc
    return {"kind": kind, "params": params}


def _ai(config: dict[str, Any]) -> dict[str, Any]:
    return judge_prompts.parse_config(config).model_dump()


EVAL_TYPES: dict[str, EvalType] = {
    "ai": EvalType("ai", _ai, secret_env=lambda config: str(config.get("api_key_env") or "")),
    "heuristic": EvalType("heuristic", _heuristic),
    "human": EvalType("human", lambda config: {}, by_reviewer=True),
}


def eval_type(name: str) -> EvalType:
    """ValueError naming the choices for an unknown eval type."""
    found = EVAL_TYPES.get(name)
    if found is None:
        raise ValueError(f"eval_type must be one of {', '.join(sorted(EVAL_TYPES))}, got {name!r}")
    return found
