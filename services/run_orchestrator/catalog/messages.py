"""Catalog rows → protobuf messages, and each eval type's config ⇄ its message in catalog.proto."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf import json_format
from google.protobuf.message import Message
from scorekeeper.v1 import catalog_pb2 as pb

from shared.edge.convert import dict_to_struct, struct_to_dict, timestamp
from shared.scoring.eval_types import reads_expected


@dataclass(frozen=True)
class ConfigMessage:
    """Where an eval type's config travels in the API: a field of Metric and of the create /
    update requests, and the conversions both ways."""

    field: str
    to_message: Callable[[dict[str, Any]], Message]
    from_message: Callable[[Any], dict[str, Any]]


def _ai_from(message: pb.AiConfig) -> dict[str, Any]:
    # Only the fields the request set; the judge config's defaults fill the rest.
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _ai_to(config: dict[str, Any]) -> pb.AiConfig:
    return json_format.ParseDict(
        {k: v for k, v in config.items() if k != "label_field" and v is not None}, pb.AiConfig()
    )


# One line per eval type that has a config message (a human metric has none).
CONFIG_MESSAGES: dict[str, ConfigMessage] = {
    "heuristic": ConfigMessage(
        "heuristic",
        lambda config: pb.HeuristicConfig(kind=config["kind"], params=dict_to_struct(config["params"])),
        lambda message: {"kind": message.kind, "params": struct_to_dict(message.params)},
    ),
    "ai": ConfigMessage("ai", _ai_to, _ai_from),
}


def config_from_request(eval_type: str, request: pb.CreateMetricRequest | pb.UpdateMetricRequest) -> dict[str, Any]:
    found = CONFIG_MESSAGES.get(eval_type)
    return found.from_message(getattr(request, found.field)) if found is not None else {}


def project_pb(row: asyncpg.Record, call_retention_limit: int = 0) -> pb.Project:
    """``call_retention_limit``: the instance's SCOREKEEPER_CALL_RETENTION_MAX_DAYS."""
    return pb.Project(
        id=str(row["id"]),
        name=row["name"],
        description=row["description"],
        created_at=timestamp(row["created_at"]),
        call_retention_days=row["call_retention_days"],
        call_retention_limit_days=call_retention_limit,
    )


def metric_pb(row: asyncpg.Record) -> pb.Metric:
    config = row["config"]
    metric = pb.Metric(
        id=str(row["metric_id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        eval_type=row["eval_type"],
        output_type=row["output_type"],
        guidelines=row["guidelines"],
        passing_threshold=row["passing_threshold"],
        version_id=str(row["version_id"]),
        version=row["version"],
        created_at=timestamp(row["created_at"]),
        archived_at=timestamp(row["archived_at"]),
    )
    found = CONFIG_MESSAGES.get(row["eval_type"])
    if found is not None:
        getattr(metric, found.field).CopyFrom(found.to_message(config))
    metric.expected_label_field = config.get("label_field", "")
    metric.reads_expected = reads_expected(row["eval_type"], config)
    return metric


def system_pb(row: asyncpg.Record) -> pb.System:
    return pb.System(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        production_version_id=str(row["production_version_id"] or ""),
        created_at=timestamp(row["created_at"]),
    )


def version_pb(row: asyncpg.Record) -> pb.SystemVersion:
    return pb.SystemVersion(
        id=str(row["id"]),
        system_id=str(row["system_id"]),
        name=row["name"],
        kind=row["kind"],
        config=dict_to_struct(row["config"]),
        created_at=timestamp(row["created_at"]),
    )


def group_pb(row: asyncpg.Record) -> pb.MetricGroup:
    return pb.MetricGroup(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        metric_ids=[str(m) for m in row["metric_ids"]],
        created_at=timestamp(row["created_at"]),
    )
