"""Run rows → protobuf messages (the orchestrator's view of a run; reads have their own)."""

from __future__ import annotations

import asyncpg
from scorekeeper.v1 import runs_pb2 as pb

from shared.edge.convert import dict_to_struct, timestamp


def run_pb(row: asyncpg.Record) -> pb.Run:
    return pb.Run(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        testset_id=str(row["testset_id"]),
        testset_version=row["testset_version"],
        system_version_id=str(row["system_version_id"] or ""),
        metric_version_ids=[str(m) for m in row["metric_version_ids"]],
        source=row["source"],
        status=row["status"],
        trials=row["trials"],
        expected_records=row["expected_records"],
        notes=row["notes"],
        created_at=timestamp(row["created_at"]),
        archived_at=timestamp(row["archived_at"]),
        subset=dict_to_struct(row["subset"] or {}),
        tags=row["tags"],
        created_by=row["created_by"],
        created_by_key_prefix=row["created_by_key_prefix"],
    )
