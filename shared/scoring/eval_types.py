"""The kinds of metric evaluation (``ai``, ``heuristic``, ``human``, ``code``): one registry line each.

Each says how its config is checked when a metric version is made, which part of its config may
name a secret variable, and whether a reviewer scores it. The scorer keeps its own registry of
who computes each (services/scorer/scorers.py); an eval type missing from either is an error at
the edge or in the scorer, never a fall-through to another type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from shared.scoring import heuristics, judge_prompts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalType:
    name: str
    # The config of a metric version, validated and normalised; ValueError naming the field.
    parse: Callable[[dict[str, Any]], dict[str, Any]]
    # A reviewer gives the score (it waits as pending until one does).
    by_reviewer: bool = False
    # The client's own code gives the score, sent with the record it ingests (IngestRecords'
    # scores): only runs whose records a client ingests can use it.
    by_client: bool = False
    # The environment variable its config names for a secret, if any.
    secret_env: Callable[[dict[str, Any]], str] = lambda config: ""
    # Whether scoring reads a record's expected values: a record without them (a logged production
    # call, as a rule) cannot pass a heuristic and leaves a judge nothing to compare with.
    reads_expected: Callable[[dict[str, Any]], bool] = lambda config: False

    @property
    def takes_feedback(self) -> bool:
        """Scored outside the platform (by a person or the client's code): feedback on logged calls
        (SendFeedback) is given on it."""
        return self.by_reviewer or self.by_client


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


def _ai_reads_expected(config: dict[str, Any]) -> bool:
    # A stored version's config may hold label_field (its label for precision / recall) beside the judge's.
    return judge_prompts.parse_config({k: v for k, v in config.items() if k != "label_field"}).reads_expected


EVAL_TYPES: dict[str, EvalType] = {
    "ai": EvalType(
        "ai",
        _ai,
        secret_env=lambda config: str(config.get("api_key_env") or ""),
        reads_expected=_ai_reads_expected,
    ),
    "heuristic": EvalType(
        "heuristic",
        _heuristic,
        reads_expected=lambda config: heuristics.reads_expected(config["kind"], config.get("params") or {}),
    ),
    "human": EvalType("human", lambda config: {}, by_reviewer=True),
    "code": EvalType("code", lambda config: {}, by_client=True),
}


# The eval types feedback on logged calls is given on, in the registry's order.
FEEDBACK_EVAL_TYPES = tuple(name for name, kind in EVAL_TYPES.items() if kind.takes_feedback)


def scored_by_platform(name: str, eval_type: str) -> str:
    """Why a metric takes no feedback, as refusals say it: 'polite' is a heuristic metric, which the
    platform scores."""
    article = "an" if eval_type[:1] in "aeiou" else "a"
    return f"{name!r} is {article} {eval_type} metric, which the platform scores"


def refuse_client_scored(versions: Iterable[Any], why: str) -> None:
    """ValueError naming the metrics (rows with name and eval_type) that the client's own code
    scores, where nothing could score them (``why``)."""
    names = [v["name"] for v in versions if eval_type(v["eval_type"]).by_client]
    if names:
        listed = ", ".join(repr(n) for n in names)
        which = f"metric {listed} is" if len(names) == 1 else f"metrics {listed} are"
        raise ValueError(
            f"{which} scored by your own code (eval type code), sent with the records the SDK uploads: {why}"
        )


def reads_expected(name: str, config: dict[str, Any]) -> bool:
    """Whether a stored metric version of eval type ``name`` reads a record's expected values."""
    try:
        return eval_type(name).reads_expected(config)
    except ValueError:  # a version stored under older rules: still listed, this left unsaid
        log.warning("metric config not readable by today's rules", extra={"eval_type": name})
        return False


def eval_type(name: str) -> EvalType:
    """ValueError naming the choices for an unknown eval type."""
    found = EVAL_TYPES.get(name)
    if found is None:
        raise ValueError(f"eval_type must be one of {', '.join(sorted(EVAL_TYPES))}, got {name!r}")
    return found
