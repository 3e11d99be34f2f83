"""What production did, kept as testcases (AddTestcasesFrom): logged calls or records of runs become
testcases of a testset's next version.

A testcase holds the source's inputs, expected values (a record's) and metadata as its fields;
with ``output_as_expected`` its output stands for the testset's one expected field (a reviewed good
answer, or a production call to pin down). Sources whose testcase the testset already holds (the same
fields: JSON equality) or that repeat one another are added once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db.pool import Connection
from shared.edge.convert import parse_uuid
from shared.edge.errors import invalid, not_found
from shared.ids import call_id_of

# The most calls or records one request turns into testcases (AddTestcases' own limit).
MAX_SOURCES = 10_000


@dataclass(frozen=True)
class Source:
    """What a testcase is made of: a record of a run, or a logged production call."""

    kind: str  # record | call
    # Its inputs, expected values (a record's) and metadata, as the testcase's fields.
    fields: dict[str, Any]
    outputs: dict[str, Any]
    # completed | errored (| pending, a record not executed yet): only a completed one has an output to keep.
    status: str


@dataclass(frozen=True)
class Curated:
    """The testcases to add, and what was left out."""

    testcases: list[dict[str, Any]]
    already: int
    no_output: int


def output_field(expected: list[str], testset_name: str) -> str:
    """The expected field an output can stand for: the testset's only one."""
    if len(expected) != 1:
        fields = ", ".join(expected) or "none"
        raise ValueError(
            f"{testset_name!r} has {len(expected)} expected fields ({fields}): the output can stand for one only"
        )
    return expected[0]


def as_testcase(source: Source, field: str | None) -> dict[str, Any]:
    """The testcase's fields: the source's own; with ``field``, its output as that field's value."""
    data = dict(source.fields)
    if field is not None:
        outputs = source.outputs
        data[field] = outputs["response"] if set(outputs) == {"response"} else outputs
    return data


def _key(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def curate(sources: list[Source], field: str | None) -> Curated:
    """Each source's testcase once (the testset's holdings are checked after); with ``field``
    (outputs as expected), those without an output left out."""
    made: dict[str, dict[str, Any]] = {}
    repeats = no_output = 0
    for source in sources:
        if field is not None and source.status != "completed":
            no_output += 1
            continue
        data = as_testcase(source, field)
        key = _key(data)
        if key in made:
            repeats += 1
        else:
            made[key] = data
    return Curated(list(made.values()), repeats, no_output)


def checked_ids(call_ids: list[str], record_ids: list[str]) -> None:
    """Calls or records, 1..MAX_SOURCES of them."""
    if call_ids and record_ids:
        raise invalid("give call_ids or record_ids, not both")
    given = len(call_ids) or len(record_ids)
    if not given:
        raise invalid("give the call_ids or the record_ids to make testcases of")
    if given > MAX_SOURCES:
        raise invalid(f"at most {MAX_SOURCES:,} calls or records per request, got {given:,}")


def _in_order(
    rows: list[asyncpg.Record], named: list[str], ids: list[uuid.UUID], missing: Callable[[str], str]
) -> list[asyncpg.Record]:
    """The rows (by id) in the order they were named; NOT_FOUND (``missing`` of its name) for the
    first that is not among them."""
    found = {r["id"]: r for r in rows}
    for text, id_ in zip(named, ids, strict=True):
        if id_ not in found:
            raise not_found(missing(text))
    return [found[i] for i in ids]


async def calls_as_sources(conn: Connection, project_id: uuid.UUID, call_ids: list[str]) -> list[Source]:
    """The project's logged calls named (by the id they were logged with), in that order;
    NOT_FOUND for the first never logged there."""
    ids = [call_id_of(text) for text in call_ids]
    rows = await conn.fetch(
        "SELECT id, inputs, outputs, metadata, status FROM logged_calls WHERE project_id = $1 AND id = ANY($2::uuid[])",
        project_id,
        ids,
    )
    never = "call {!r} was never logged in this testset's project"
    return [
        Source("call", {**c["metadata"], **c["inputs"]}, c["outputs"], c["status"])
        for c in _in_order(rows, call_ids, ids, lambda text: never.format(text[:200]))
    ]


async def records_as_sources(conn: Connection, project_id: uuid.UUID, record_ids: list[str]) -> list[Source]:
    """The records named (of the project's runs: the edge checked them), in that order."""
    ids = [parse_uuid(text, f"record_ids[{i}]") for i, text in enumerate(record_ids)]
    rows = await conn.fetch(
        "SELECT r.id, r.inputs, r.expected, r.outputs, r.metadata, r.status FROM records r"
        " JOIN runs ru ON ru.id = r.run_id WHERE r.id = ANY($1::uuid[]) AND ru.project_id = $2",
        ids,
        project_id,
    )
    return [
        Source("record", {**r["metadata"], **r["inputs"], **r["expected"]}, r["outputs"], r["status"])
        for r in _in_order(rows, record_ids, ids, lambda text: f"record {text} does not exist")
    ]
