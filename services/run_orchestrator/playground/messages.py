"""Try rows → protobuf messages."""

from __future__ import annotations

import asyncpg
from scorekeeper.v1 import playground_pb2 as pb

from shared.edge.convert import dict_to_struct, timestamp


def try_pb(row: asyncpg.Record, cases: list[asyncpg.Record]) -> pb.Try:
    """The try with its cases: the testset's picked testcases first (``row["testcase_ids"]``, whose
    copies they are), then the typed ones."""
    sources = [str(t) for t in row["testcase_ids"]]
    return pb.Try(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        run_id=str(row["run_id"]),
        status=row["status"],
        system_version_id=str(row["system_version_id"] or ""),
        config=dict_to_struct(row["llm_config"]),
        testset_id=str(row["testset_id"] or ""),
        cases=[
            pb.TryCase(
                testcase_id=str(c["testcase_id"]),
                source_testcase_id=sources[n] if n < len(sources) else "",
                inputs=dict_to_struct(c["inputs"]),
                expected=dict_to_struct(c["expected"]),
                metadata=dict_to_struct(c["metadata"]),
            )
            for n, c in enumerate(cases)
        ],
        metric_version_ids=[str(v) for v in row["metric_version_ids"]],
        metric_ids=[str(m) for m in row["metric_ids"]],
        created_by=row["created_by"],
        created_by_key_prefix=row["created_by_key_prefix"],
        created_at=timestamp(row["created_at"]),
        outputs=row["outputs"],
        errored_outputs=row["errored_outputs"],
    )
