"""Validation and derivation for catalog writes: pure functions, ValueError names the field."""

from __future__ import annotations

from typing import Any

from shared.scoring import heuristics
from shared.scoring.metric import EVAL_TYPES, OUTPUT_TYPES
from shared.system_config import parse_http_config

RUN_SOURCES = ("api", "kickoff", "playground", "monitor", "ci")
MAX_TRIALS = 100


def require_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name:
        raise ValueError(f"{field} must not be empty")
    if len(name) > 200:
        raise ValueError(f"{field} must be at most 200 characters")
    return name


def validate_metric(
    eval_type: str, output_type: str, threshold: float | None, kind: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Check a metric definition; returns the config stored on its version."""
    if eval_type not in EVAL_TYPES:
        raise ValueError(f"eval_type must be one of {', '.join(EVAL_TYPES)}, got {eval_type!r}")
    if eval_type != "heuristic":
        raise ValueError(f"eval_type {eval_type!r} is not available yet; use 'heuristic'")
    if output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
    if threshold is not None:
        if output_type == "boolean":
            raise ValueError("passing_threshold does not apply to boolean metrics")
        if output_type == "int" and not 1 <= threshold <= 5:
            raise ValueError(f"passing_threshold of an int metric must be within 1..5, got {threshold}")
        if output_type == "float" and not 0 <= threshold <= 1:
            raise ValueError(f"passing_threshold of a float metric must be within 0..1, got {threshold}")
    if not kind:
        raise ValueError("heuristic.kind is required for a heuristic metric")
    try:
        heuristics.validate_params(kind, params)
    except ValueError as exc:
        raise ValueError(f"heuristic: {exc}") from exc
    return {"kind": kind, "params": params}


def validate_system_version(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind != "http":
        if kind in ("llm", "sdk"):
            raise ValueError(f"kind {kind!r} is not available yet; use 'http'")
        raise ValueError(f"kind must be one of http, llm, sdk, got {kind!r}")
    return parse_http_config(config).model_dump()


def validate_run(source: str, trials: int, max_concurrency: int) -> tuple[str, int]:
    source = source or "api"
    if source not in RUN_SOURCES:
        raise ValueError(f"source must be one of {', '.join(RUN_SOURCES)}, got {source!r}")
    trials = trials or 1
    if not 1 <= trials <= MAX_TRIALS:
        raise ValueError(f"trials must be within 1..{MAX_TRIALS}, got {trials}")
    if max_concurrency < 0:
        raise ValueError(f"max_concurrency must not be negative, got {max_concurrency}")
    return source, trials
