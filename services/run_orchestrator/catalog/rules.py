"""Validation and derivation for catalog writes: pure functions, ValueError names the field."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from shared.outbound.secrets import SecretEnvPolicy
from shared.scoring.eval_types import eval_type
from shared.scoring.metric import OUTPUT_TYPES
from shared.system_kinds import SYSTEM_KINDS, system_kind


def require_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not name:
        raise ValueError(f"{field} must not be empty")
    if len(name) > 200:
        raise ValueError(f"{field} must be at most 200 characters")
    return name


MAX_CALL_RETENTION_DAYS = 3650


def check_call_retention(days: int, limit: int = 0) -> int:
    """Days a project keeps its logged calls: 0 (for ever, or ``limit`` days) or 1..3,650, at most
    the instance's ``limit`` (0: none)."""
    if not 0 <= days <= MAX_CALL_RETENTION_DAYS:
        raise ValueError(
            f"call_retention_days must be 0 (kept for ever) or 1..{MAX_CALL_RETENTION_DAYS:,}, got {days:,}"
        )
    if limit and days > limit:
        raise ValueError(
            f"call_retention_days must be at most {limit:,}: this instance keeps logged calls at most {limit:,} days"
            f" (SCOREKEEPER_CALL_RETENTION_MAX_DAYS; 0 keeps them that long), got {days:,}"
        )
    return days


def effective_call_retention(days: int, limit: int) -> int:
    """The days a project's calls are kept: its own, capped by the instance's limit (0: for ever)."""
    if not limit:
        return days
    return min(days, limit) if days else limit


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
    kind = eval_type(d.eval_type)
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
    config = kind.parse(d.config)
    label_field = d.label_field.strip()
    if label_field:
        if d.output_type != "boolean":
            raise ValueError("expected_label_field applies to boolean metrics only")
        config["label_field"] = label_field
    return replace(d, config=config, label_field=label_field)


def validate_system_version(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    return system_kind(kind).parse(config)


def secret_env_names(kind: str, config: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, variable name) of every environment variable a validated system version config
    (its kind: http, llm, sdk) or metric config (its eval type: ai …) names for a secret."""
    if kind in SYSTEM_KINDS:
        return system_kind(kind).secret_envs(config)
    name = eval_type(kind).secret_env(config)
    return [(f"{kind}.api_key_env", name)] if name else []


def check_secret_envs(policy: SecretEnvPolicy, kind: str, config: dict[str, Any]) -> None:
    """ValueError for a variable the operator does not let configs name."""
    for field, name in secret_env_names(kind, config):
        policy.check(name, field)
