"""ListRecords across a project ordered by a metric's value, on real PostgreSQL.

Such a page walks the metric's versions in value order (scores_by_value, 0009) and then reads the
records without a value by id (services/query/records/plans/scores_first.py). Every page must be the
plain ordering of the records by the value of the version their run pins: highest (lowest) first,
ties by id, the records without a value last, whatever the page size and the filters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from scorekeeper.v1 import query_pb2 as pb

from services.query.api import QueryApi
from services.query.records import choose

pytestmark = [pytest.mark.postgres]


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    project: str
    status: str
    word: str
    value: float | None  # of the similarity version its run pins, when completed with a number
    exact_failed: bool


@dataclass
class Project:
    id: uuid.UUID
    rows: list[Row]


async def seed(db: asyncpg.Pool) -> Project:
    """One project: "similarity" in two versions and "exact"; run A pins similarity v1, B and C
    pin v2. Scores of the version a run does not pin (with extreme values) must not count, nor
    must another project's run that points at v2."""
    project, other, testset = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute("INSERT INTO projects (id, name) VALUES ($1, 'p'), ($2, 'q')", project, other)
    await db.execute(
        "INSERT INTO testsets (id, project_id, name, field_mapping) VALUES ($1, $2, 't', '{}')", testset, project
    )
    cases = [uuid.uuid4() for _ in range(8)]
    for case in cases:
        await db.execute("INSERT INTO testcases (id, testset_id) VALUES ($1, $2)", case, testset)
    similarity, exact = uuid.uuid4(), uuid.uuid4()
    sim_v1, sim_v2, exact_v1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO metrics (id, project_id, name) VALUES ($1, $3, 'similarity'), ($2, $3, 'exact')",
        similarity,
        exact,
        project,
    )
    for version_id, metric, version, output in (
        (sim_v1, similarity, 1, "float"),
        (sim_v2, similarity, 2, "float"),
        (exact_v1, exact, 1, "boolean"),
    ):
        await db.execute(
            "INSERT INTO metric_versions (id, metric_id, version, eval_type, output_type, config)"
            " VALUES ($1, $2, $3, 'heuristic', $4, '{}')",
            version_id,
            metric,
            version,
            output,
        )
    runs = {"A": (project, [sim_v1, exact_v1]), "B": (project, [sim_v2, exact_v1]), "C": (project, [sim_v2])}
    runs["Q"] = (other, [sim_v2])
    run_ids = {name: uuid.uuid4() for name in runs}
    for name, (owned_by, pinned) in runs.items():
        await db.execute(
            "INSERT INTO runs (id, project_id, testset_id, testset_version, metric_version_ids, source, status,"
            " trials, expected_records) VALUES ($1, $2, $3, 1, $4, 'api', 'completed', 1, 8)",
            run_ids[name],
            owned_by,
            testset,
            pinned,
        )

    # (run, similarity: value | "errored" | "pending" | "text" | None (no score), exact failed?)
    plan: list[tuple[str, Any, bool | None]] = [
        ("A", 0.9, False), ("A", 0.5, True), ("A", 0.5, False), ("A", "errored", True),
        ("A", None, None), ("A", 0.1, True), ("A", 0.5, None), ("A", "text", False),
        ("B", 0.5, True), ("B", 1.0, False), ("B", 0.0, True), ("B", "pending", True),
        ("B", 0.7, None), ("B", None, True), ("B", 0.5, False), ("B", 0.3, True),
        ("C", 0.6, None), ("C", 0.5, None), ("C", None, None), ("C", 0.2, None),
        ("Q", 0.8, None), ("Q", 0.4, None),
    ]  # fmt: skip
    rows = []
    for n, (run, sim, failed) in enumerate(plan):
        rid = uuid.uuid4()
        status = "errored" if n % 7 == 3 else "completed"
        word = "alpha" if n % 2 == 0 else "beta"
        await db.execute(
            "INSERT INTO records (id, run_id, testcase_id, trial, inputs, expected, outputs, status, created_at)"
            " VALUES ($1, $2, $3, 0, $4, '{}', '{}', $5, now() - $6 * interval '1 minute')",
            rid,
            run_ids[run],
            cases[n % 8],
            {"q": f"{word} question {n}"},
            status,
            n,
        )
        pinned_sim = sim_v1 if run == "A" else sim_v2
        number = sim if isinstance(sim, float) else None
        if sim is not None:
            score_status = sim if sim in ("errored", "pending") else "completed"
            raw = number if number is not None else ("yes" if sim == "text" else None)
            await score(db, rid, run_ids[run], pinned_sim, score_status, raw, number, None)
        # A score of the version the run does not pin, far off every real value.
        unpinned = sim_v2 if run == "A" else sim_v1
        await score(db, rid, run_ids[run], unpinned, "completed", 9.9 if n % 2 else -9.9, 9.9 if n % 2 else -9.9, None)
        if failed is not None:
            await score(db, rid, run_ids[run], exact_v1, "completed", not failed, float(not failed), not failed)
        rows.append(Row(rid, "q" if run == "Q" else "p", status, word, number, failed is True))
    await db.execute("ANALYZE records; ANALYZE scores")
    return Project(project, [r for r in rows if r.project == "p"])


async def score(
    db: asyncpg.Pool,
    record: uuid.UUID,
    run: uuid.UUID,
    version: uuid.UUID,
    status: str,
    value: Any,
    number: float | None,
    passed: bool | None,
) -> None:
    await db.execute(
        "INSERT INTO scores (id, record_id, run_id, metric_version_id, status, value, value_num, passed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        uuid.uuid4(),
        record,
        run,
        version,
        status,
        value,
        number,
        passed,
    )


def expected(rows: list[Row], descending: bool) -> list[uuid.UUID]:
    valued = sorted((r for r in rows if r.value is not None), key=lambda r: (r.value, r.id), reverse=descending)
    without = sorted((r.id for r in rows if r.value is None), reverse=descending)
    return [r.id for r in valued] + without


async def pages(api: QueryApi, project: uuid.UUID, size: int, **asked: Any) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    token = ""
    for _ in range(100):  # a token that never ends the list fails, not hangs
        request = pb.ListRecordsRequest(project_id=str(project), page_size=size, page_token=token, **asked)
        page = await api.list_records(request)
        seen += [uuid.UUID(r.id) for r in page.records]
        token = page.next_page_token
        if not token:
            return seen
    raise AssertionError(f"still paging after 100 pages of {size}: {len(seen)} rows, {len(set(seen))} distinct")


FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({}, lambda r: True),
    ({"statuses": ["completed"]}, lambda r: r.status == "completed"),
    ({"where": ["exact:failed"]}, lambda r: r.exact_failed),
    ({"search": "alpha"}, lambda r: r.word == "alpha"),
    ({"search": "beta", "where": ["exact:failed"], "statuses": ["completed"]},
     lambda r: r.word == "beta" and r.exact_failed and r.status == "completed"),
]  # fmt: skip


@pytest.mark.parametrize("descending", [True, False])
async def test_pages_by_value_are_the_plain_order_of_pinned_values(
    db: asyncpg.Pool, descending: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = await seed(db)
    api = QueryApi(db, "http://q")
    order_by = "score.similarity" + (" desc" if descending else " asc")
    for asked, keep in FILTERS:
        want = expected([r for r in project.rows if keep(r)], descending)
        # A search is walked in value order when it is expected to match many records, and its
        # matches are sorted when few: the same pages either way.
        for threshold in (choose.MATCHES_FIRST_MAX, -1):
            monkeypatch.setattr(choose, "MATCHES_FIRST_MAX", threshold)
            for size in (1, 2, 3, 5, 100):
                assert await pages(api, project.id, size, order_by=order_by, **asked) == want, (asked, size, threshold)


async def test_a_page_by_value_counts_only_the_pinned_version_and_the_project(db: asyncpg.Pool) -> None:
    project = await seed(db)
    api = QueryApi(db, "http://q")
    page = await api.list_records(
        pb.ListRecordsRequest(project_id=str(project.id), order_by="score.similarity desc", page_size=4)
    )
    # 1.0 (B), 0.9 (A), 0.7 (B), 0.6 (C): never an unpinned 9.9, nor project q's 0.8.
    values = {r.id: r.value for r in project.rows}
    assert [values[uuid.UUID(r.id)] for r in page.records] == [1.0, 0.9, 0.7, 0.6]
    shown = {s.metric_version: s.current for s in page.records[0].scores if s.metric_name == "similarity"}
    assert shown == {1: False, 2: True}
    # 14 records of the project with a similarity value, then the 6 without: 20 in all.
    every = await pages(api, project.id, 7, order_by="score.similarity desc")
    assert len(every) == len(project.rows) == 20
    assert sum(values[rid] is None for rid in every[-6:]) == 6
