"""Validation and derivation for catalog writes: pure functions, ValueError names the field."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from shared.outbound.secrets import SecretEnvPolicy
from shared.run_status import SOURCES as RUN_SOURCES
from shared.scoring import heuristics, judge
from shared.scoring.metric import EVAL_TYPES, OUTPUT_TYPES
from shared.system_config import parse_http_config, parse_llm_config

MAX_TRIALS = 100


def require_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name:
        raise ValueError(f"{field} must not be empty")
    if len(name) > 200:
        raise ValueError(f"{field} must be at most 200 characters")
    return name


@dataclass(frozen=True)
class MetricDefinition:
    """The versioned part of a metric: what one metric version scores with."""

    eval_type: str
    output_type: str
    guidelines: str
    passing_threshold: float | None
    # heuristic: {kind, params}; ai: shared.scoring.judge.JudgeConfig; human: {}; any boolean
    # metric may add label_field (the expected field with the true label).
    config: dict[str, Any]
    label_field: str = ""


def validate_metric(d: MetricDefinition) -> MetricDefinition:
    """Check a metric definition; returns it with its config normalised."""
    if d.eval_type not in EVAL_TYPES:
        raise ValueError(f"eval_type must be one of {', '.join(EVAL_TYPES)}, got {d.eval_type!r}")
    if d.output_type not in OUTPUT_TYPES:
        raise ValueError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {d.output_type!r}")
    threshold = d.passing_threshold
    if threshold is not None:
        if d.output_type == "boolean":
            raise ValueError("passing_threshold does not apply to boolean metrics")
        if d.output_type == "int" and not 1 <= threshold <= 5:
            raise ValueError(f"passing_threshold of an int metric must be within 1..5, got {threshold}")
        if d.output_type == "float" and not 0 <= threshold <= 1:
            raise ValueError(f"passing_threshold of a float metric must be within 0..1, got {threshold}")
    if d.eval_type == "heuristic":
        config = _heuristic_config(d.config)
    elif d.eval_type == "ai":
        config = judge.parse_config(d.config).model_dump()
    else:
        config = {}
    label_field = d.label_field.strip()
    if label_field:
        if d.output_type != "boolean":
            raise ValueError("expected_label_field applies to boolean metrics only")
        config["label_field"] = label_field
    return replace(d, config=config, label_field=label_field)


def _heuristic_config(config: dict[str, Any]) -> dict[str, Any]:
    kind, params = config.get("kind", ""), config.get("params") or {}
    if not kind:
        raise ValueError("heuristic.kind is required for a heuristic metric")
    try:
        heuristics.validate_params(kind, params)
    except ValueError as exc:
        raise ValueError(f"heuristic: {exc}") from exc
    return {"kind": kind, "params": params}


def validate_system_version(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    if kind == "http":
        return parse_http_config(config).model_dump()
    if kind == "llm":
        return parse_llm_config(config).model_dump()
    if kind == "sdk":
        return config
    raise ValueError(f"kind must be one of http, llm, sdk, got {kind!r}")


def secret_env_names(kind: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, variable name) of every environment variable a validated system version config
    (kind http / llm) or AI metric config (kind ai) names for a secret."""
    if kind == "http":
        headers = config.get("secret_headers") or {}
        return [(f"config.secret_headers.{name}.env", secret["env"]) for name, secret in headers.items()]
    if kind == "llm" and config.get("api_key_env"):
        return [("config.api_key_env", config["api_key_env"])]
    if kind == "ai" and config.get("api_key_env"):
        return [("ai.api_key_env", config["api_key_env"])]
    return []


def check_secret_envs(policy: SecretEnvPolicy, kind: str, config: dict[str, Any]) -> None:
    """ValueError for a variable the operator does not let configs name."""
    for field, name in secret_env_names(kind, config):
        policy.check(name, field)


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
