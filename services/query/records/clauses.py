"""The SQL every plan shares: a record's columns, the tests of its own columns, score conditions,
the value a metric order reads, and the keyset condition. Values are always parameters (Where).

A score condition is an EXISTS on the score of the metric version the record's run pins (runs ru
joined), through the covering index scores_record_version (0008); the search is the GIN-indexed
tsvector records.search (0006). Pages are keyset pages on (sort key, id), so rows arriving
meanwhile never shift a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.query import filters
from services.query.db import Where
from services.query.records.query import Condition, RecordQuery
from shared.edge.search import tsquery
from shared.spans import ANY_STEP, StepCondition

# Every column of a record but its search vector.
RECORD_COLUMNS = (
    "r.id, r.run_id, r.testcase_id, r.trial, r.status, r.inputs, r.expected, r.outputs, r.metadata, r.error,"
    " r.latency_ms, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.created_at, r.tags"
)
# The keys of records_search_keys (0010, 0011): a record's words, adjacent word pairs and time buckets.
SEARCH_KEYS = "record_search_keys(r.search, r.created_at)"
# A usage measure (filters.USAGE_MEASURES) as columns of a row of records or logged_calls, aliased {row}.
_USAGE_COLUMNS = {
    "latency_ms": "{row}.latency_ms",
    "tokens": "({row}.prompt_tokens + {row}.completion_tokens)",
    "cost_usd": "{row}.cost_usd",
}
# The sort key of each order (sv: the value a metric order reads, value_join).
SORT_KEYS = {
    "created_at": "r.created_at",
    **{measure: column.format(row="r") for measure, column in _USAGE_COLUMNS.items()},
    "score": "sv.value_num",
}
# How a search is tested on records r, by default: a match of the indexed vector.
SEARCH_MATCHES = "r.search @@ {}"

_STATE_TESTS = {
    "passed": "s.status = 'completed' AND s.passed",
    "failed": "s.status = 'completed' AND NOT s.passed",
    "errored": "s.status = 'errored'",
}
_VALUE_TESTS = {"lt": "<", "gt": ">", "eq": "="}


def on_records(where: Where, query: RecordQuery, *, project: bool, search: str | None = SEARCH_MATCHES) -> list[str]:
    """The tests of a record's own columns: its run or runs, its project (when ``project``; plans
    that join runs ru for other reasons check it there; a project's pages leave playground tries
    out, and archived runs; a try's own run lists them), testcase, statuses, tags, testcase
    fields, usage (a missing cost meets no test) and steps, and the search as ``search`` says (a format
    taking the tsquery; None: not tested)."""
    tests = []
    if query.run_id is not None:
        tests.append(f"r.run_id = {where.param(query.run_id)}")
    if query.run_ids:
        tests.append(f"r.run_id = ANY({where.param(list(query.run_ids))}::uuid[])")
    if project:
        of_project = where.param(query.project_id)
        tests.append(
            f"r.run_id IN (SELECT id FROM runs WHERE project_id = {of_project} AND NOT playground_try"
            " AND archived_at IS NULL)"
        )
    if query.testcase_id is not None:
        tests.append(f"r.testcase_id = {where.param(query.testcase_id)}")
    if query.statuses:
        tests.append(f"r.status = ANY({where.param(list(query.statuses))}::text[])")
    if query.tags:
        tests.append(f"r.tags @> {where.param(list(query.tags))}::text[]")
    tests += field_tests(where, query.fields)
    tests += usage_tests(where, query.usage, "r")
    tests += step_tests(where, query.steps, query.project_id)
    if query.search is not None and search is not None:
        tests.append(search.format(tsquery(where.param(query.search))))
    return tests


def field_tests(where: Where, fields: Sequence[filters.FieldFilter]) -> list[str]:
    """Records r whose testcase fields hold the values ("metadata.lang=fr"), compared as text."""
    # In coalesce: PostgreSQL keeps no statistics of a field's values and would take `=` to keep 1
    # record in 200, and then prefer reading every record a score condition matches to walking the
    # page's order (0.6 s instead of milliseconds at a million records); of an expression it knows
    # nothing of, it assumes half.
    return [
        f"coalesce(r.{f.root} #>> {where.param(list(f.path))}::text[] = {where.param(f.value)}, false)" for f in fields
    ]


def testcase_tests(where: Where, testcase_ids: Sequence[uuid.UUID]) -> list[str]:
    """Records r of these testcases (none: every one)."""
    return [f"r.testcase_id = ANY({where.param(list(testcase_ids))}::uuid[])"] if testcase_ids else []


def usage_tests(where: Where, usage: Sequence[filters.UsageFilter], row: str) -> list[str]:
    """Rows ``row`` (records or logged_calls) whose usage is above or below the values; a missing
    cost is neither."""
    return [
        f"{_USAGE_COLUMNS[u.measure].format(row=row)} {_VALUE_TESTS[u.op]} {where.param(u.value)}::float8"
        for u in usage
    ]


# What a step condition tests of a step, in a JSON path over a call's steps (shared.spans keeps
# "error" only when it failed; an empty one is no failure either), the milliseconds as $v.
_STEP_TESTS = {"took": "", "failed": '@.error != ""', "gt": "@.duration_ms > $v", "lt": "@.duration_ms < $v"}


def _step_path(step: StepCondition) -> str:
    """The JSON path of the steps meeting the condition: of its name ($n), unless any step ("*")."""
    tests = [t for t in ("" if step.name == ANY_STEP else "@.name == $n", _STEP_TESTS[step.op]) if t]
    return f"$[*] ? ({' && '.join(tests)})" if tests else "$[*]"


def step_holds(where: Where, step: StepCondition, spans: str) -> str:
    """Whether the steps ``spans`` (a jsonb array: record_spans or call_spans) meet the condition."""
    path = where.param(_step_path(step))
    named = where.param({"n": step.name, "v": step.value})
    return f"jsonb_path_exists({spans}, {path}::jsonpath, {named}::jsonb)"


def step_tests(where: Where, steps: Sequence[StepCondition], project_id: uuid.UUID) -> list[str]:
    """Records r whose call took steps that meet the conditions: steps stored with the record
    (record_spans), or, for a monitor's run, with the call it is (call_spans, by testcase_id).
    Scalar subqueries, one probe of each primary key per record: as EXISTS, PostgreSQL would hash
    every record's steps (0.35 s at 100,000) before a page's first row. A rare step costs a walk."""
    tests = []
    for step in steps:
        holds = step_holds(where, step, "x.spans")
        tests.append(
            f"coalesce((SELECT {holds} FROM record_spans x WHERE x.record_id = r.id),"
            f" (SELECT {holds} FROM call_spans x WHERE x.project_id = {where.param(project_id)}"
            " AND x.call_id = r.testcase_id), false)"
        )
    return tests


def score_tests(where: Where, query: RecordQuery, record: str) -> list[str]:
    """The score conditions, on the record whose id is ``record`` (runs ru joined)."""
    return [_score_test(where, c, record) for c in query.conditions]


def _score_test(where: Where, c: Condition, record: str) -> str:
    op = c.asked.op
    if op == "unstable":
        return _unstable(where, c, record)
    test = (
        _STATE_TESTS.get(op)
        or f"s.status = 'completed' AND s.value_num {_VALUE_TESTS[op]} {where.param(c.asked.value)}::float8"
    )
    pinned = _pinned(where, c.version_ids)
    return f"EXISTS (SELECT 1 FROM scores s WHERE s.record_id = {record} AND {pinned} AND {test})"


def _unstable(where: Where, c: Condition, record: str) -> str:
    """The record's testcase passed some of its run's trials and failed others: its records' (the
    record's own included) completed pass / fail scores of the version their run pins disagree."""
    pinned = _pinned(where, c.version_ids)
    return (
        "(SELECT bool_or(s.passed) AND NOT bool_and(s.passed) FROM records o JOIN records t"
        " ON t.run_id = o.run_id AND t.testcase_id = o.testcase_id JOIN scores s ON s.record_id = t.id"
        f" WHERE o.id = {record} AND {pinned} AND s.status = 'completed' AND s.passed IS NOT NULL)"
    )


def value_join(where: Where, versions: Sequence[uuid.UUID]) -> str:
    """The value a record has of the metric a page is ordered by, as ``sv.value_num`` (runs ru
    joined): none when it has no completed score of the version its run pins."""
    return (
        " LEFT JOIN LATERAL (SELECT s.value_num FROM scores s WHERE s.record_id = r.id"
        f" AND {_pinned(where, versions)} AND s.status = 'completed' LIMIT 1) sv ON true"
    )


def _pinned(where: Where, version_ids: Sequence[uuid.UUID]) -> str:
    """The score a condition or an order reads (scores s): the record's score for the metric
    version its run pins (runs ru), among the versions of the metric asked for. One version is
    compared with `=`: an array in the index condition costs each probe time to prepare."""
    if len(version_ids) == 1:
        asked = f"= {where.param(version_ids[0])}"
    else:
        asked = f"= ANY({where.param(list(version_ids))}::uuid[])"
    return f"s.metric_version_id = ANY(ru.metric_version_ids) AND s.metric_version_id {asked}"


def after(where: Where, key: str, order: filters.Order, position: tuple[Any, uuid.UUID]) -> str:
    """The keyset condition: rows strictly after the last row of the previous page (``position``),
    whose sort key is ``key``."""
    value, last_id = position
    op = "<" if order.descending else ">"
    if order.key == "created_at":
        return f"({key}, r.id) {op} ({where.param(value)}, {where.param(last_id)})"
    if not order.nullable:
        return f"({key}, r.id) {op} ({where.param(value)}::float8, {where.param(last_id)})"
    # Records without a value come last in either direction.
    if value is None:
        return f"{key} IS NULL AND r.id {op} {where.param(last_id)}"
    return f"(({key}, r.id) {op} ({where.param(value)}::float8, {where.param(last_id)}) OR {key} IS NULL)"
