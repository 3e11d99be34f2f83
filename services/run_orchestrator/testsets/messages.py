"""Testset rows → protobuf messages, and the page size of the testset lists."""

from __future__ import annotations

from typing import Any, Protocol

from scorekeeper.v1 import testsets_pb2 as pb

from shared.edge.convert import dict_to_struct, timestamp
from shared.edge.errors import invalid


class Row(Protocol):
    """A database row (asyncpg.Record) or a dict with the same keys."""

    def __getitem__(self, key: str, /) -> Any: ...


def testset_pb(row: Row) -> pb.Testset:
    mapping = row["field_mapping"]
    return pb.Testset(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        name=row["name"],
        description=row["description"],
        field_mapping=pb.FieldMapping(
            inputs=mapping["inputs"], expected=mapping.get("expected", []), metadata=mapping.get("metadata", [])
        ),
        json_schema=dict_to_struct(row["json_schema"]),
        version=row["version"],
        testcase_count=row["testcase_count"],
        invalid_testcase_count=row["invalid_testcase_count"],
        latest_version=row["latest_version"],
        created_at=timestamp(row["created_at"]),
    )


def testcase_pb(testset_id: str, row: Row) -> pb.Testcase:
    return pb.Testcase(
        id=str(row["testcase_id"]),
        testset_id=testset_id,
        position=row["position"],
        data=dict_to_struct(row["data"]),
        inputs=dict_to_struct(row["inputs"]),
        expected=dict_to_struct(row["expected"]),
        metadata=dict_to_struct(row["metadata"]),
        validation_errors=[pb.ValidationError(path=e["path"], message=e["message"]) for e in row["validation_errors"]],
        since_version=row["from_version"],
    )


def change_pb(testset_id: str, row: Row) -> pb.TestcaseChange:
    """A row of TestsetRepository.changes: its ``before`` / ``after`` are revision rows as JSON."""
    change = pb.TestcaseChange(change=row["change"], testcase_id=str(row["testcase_id"]))
    if row["before"] is not None:
        change.before.CopyFrom(testcase_pb(testset_id, row["before"]))
    if row["after"] is not None:
        change.after.CopyFrom(testcase_pb(testset_id, row["after"]))
    return change


def version_pb(row: Row) -> pb.TestsetVersion:
    return pb.TestsetVersion(
        version=row["version"],
        change=row["change"],
        testcase_count=row["testcase_count"],
        invalid_testcase_count=row["invalid_testcase_count"],
        created_at=timestamp(row["created_at"]),
    )


def page_size(requested: int, default: int, maximum: int) -> int:
    if requested < 0:
        raise invalid("page_size must not be negative")
    return min(requested or default, maximum)
