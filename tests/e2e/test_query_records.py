"""ListRecords and GetRecord on the real processes: every filter, sort and pagination path, over
gRPC and HTTP, checked against the plan in tests/support/query_seed.py."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import asyncpg
import grpc
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb
from services.query import export as paged_exports
from services.query.api import QueryApi
from shared.db.pool import create_pool
from shared.devstack.stack import Stack
from shared.edge.convert import struct_to_dict
from tests.support import query_seed
from tests.support.query_records import expected_where, listed, plan, record_keys, value
from tests.support.query_seed import PLANS, Seeded

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

MALFORMED_TOKEN = "page_token is malformed; pass back the next_page_token of a previous response"


@pytest.fixture(scope="module")
async def seeded(stack: Stack) -> Seeded:
    async with stack.client() as client:
        return await query_seed.seed(client, stack.database_url)


async def test_score_conditions_combine_with_and(client: Client, seeded: Seeded) -> None:
    keys = await record_keys(client, seeded)
    project = seeded.project_id

    async def got(*conditions: str, **filters: Any) -> set[tuple[str, int]]:
        return {keys[r.id] for r in await listed(client, project_id=project, where=list(conditions), **filters)}

    def failed(p: query_seed.RunPlan, i: int) -> bool:
        return p.answers[i] is not None and query_seed.passed("exact", p, i) is False

    assert await got("exact:failed") == expected_where(failed)
    assert len(expected_where(failed)) == 7
    assert await got("exact:passed") == expected_where(
        lambda p, i: p.answers[i] is not None and query_seed.passed("exact", p, i) is True
    )
    errored = expected_where(lambda p, i: p.answers[i] is not None and query_seed.passed("cheap", p, i) is None)
    assert await got("cheap:errored") == errored and len(errored) == 7
    both = expected_where(lambda p, i: failed(p, i) and (value("overlap", p, i) or 0) > 0.5)
    assert both == {("cand", 3), ("mon", 4)}
    assert await got("exact:failed", "overlap:gt:0.5") == both
    # The metric by id and the structured form give the same answer.
    structured = [
        qpb.ScoreCondition(metric=seeded.metrics["exact"], op=qpb.ScoreCondition.FAILED),
        qpb.ScoreCondition(metric="overlap", op=qpb.ScoreCondition.GT, value=0.5),
    ]
    assert {keys[r.id] for r in await listed(client, project_id=project, score_conditions=structured)} == both
    assert await got("overlap:eq:1") == expected_where(lambda p, i: value("overlap", p, i) == 1.0)
    assert await got("overlap:lt:0.5") == expected_where(
        lambda p, i: (v := value("overlap", p, i)) is not None and v < 0.5
    )
    # Within one run.
    assert await got("exact:failed", run_ids=[seeded.runs["cand"]]) == {("cand", 1), ("cand", 3)}
    cand = {keys[r.id] for r in await listed(client, run_id=seeded.runs["cand"], where=["exact:failed"])}
    assert cand == {("cand", 1), ("cand", 3)}


async def test_text_search_with_other_filters(client: Client, seeded: Seeded) -> None:
    keys = await record_keys(client, seeded)
    project = seeded.project_id

    async def got(search: str, *conditions: str) -> set[tuple[str, int]]:
        return {keys[r.id] for r in await listed(client, project_id=project, search=search, where=list(conditions))}

    assert await got("Hamlet") == {("base", 4), ("cand", 4), ("mon", 4)}  # inputs
    assert await got("shakespeare") == {("base", 4), ("cand", 4), ("mon", 4)}  # expected (and outputs)
    assert await got("Kyoto") == {("cand", 1)}  # outputs only
    assert await got("gold") == {("base", 3), ("cand", 3), ("mon", 3)}
    assert await got("capital Japan") == {("base", 1), ("cand", 1), ("mon", 1)}  # every word
    assert await got('"capital of France"') == {("base", 0), ("cand", 0), ("mon", 0)}  # a phrase
    assert await got("Kyoto or Lyon") == {("cand", 1), ("mon", 0)}
    assert await got("capital -Japan") == {("base", 0), ("cand", 0), ("mon", 0)}
    assert await got("100") == {("base", 5), ("cand", 5), ("mon", 5)}  # numbers are words too
    assert await got("Hamlet", "exact:passed") == {("base", 4), ("cand", 4)}
    assert await got("Hamlet", "overlap:lt:0.9") == {("mon", 4)}
    assert await got("nowhere") == set()


async def test_plain_filters(client: Client, seeded: Seeded) -> None:
    keys = await record_keys(client, seeded)
    project = seeded.project_id

    async def got(**filters: Any) -> set[tuple[str, int]]:
        return {keys[r.id] for r in await listed(client, project_id=project, **filters)}

    assert len(await got()) == 20
    assert await got(statuses=["errored"]) == {("cand", 5)}
    assert await got(statuses=["completed"]) == set(keys.values()) - {("cand", 5)}
    assert await got(tags=["regressed"]) == {("cand", 1), ("cand", 3)}
    assert await got(tags=["regressed", "=cmd|' /C calc'!A0"]) == {("cand", 1)}
    first = seeded.testcases["capitals"][0]
    assert await got(testcase_id=first) == {("base", 0), ("cand", 0), ("mon", 0)}
    runs = [seeded.runs["base"], seeded.runs["other"]]
    assert await got(run_ids=runs) == {(n, i) for n, i in keys.values() if n in ("base", "other")}
    assert await got(run_ids=runs, statuses=["completed"], where=["exact:failed"]) == {("base", 2), ("other", 1)}


async def test_sorts_and_pages_agree(client: Client, seeded: Seeded, stack: Stack) -> None:
    keys = await record_keys(client, seeded)
    project = seeded.project_id
    latency = {(p.name, i): p.latencies[i] for p in PLANS for i in range(len(p.answers))}
    by_latency = [keys[r.id] for r in await listed(client, project_id=project, order_by="latency_ms desc")]
    assert by_latency == sorted(latency, key=lambda k: -latency[k])
    ascending = [keys[r.id] for r in await listed(client, project_id=project, order_by="latency_ms")]
    assert ascending == sorted(latency, key=lambda k: latency[k])

    # By a metric's value, highest first, ties by id (descending), records without a value last.
    records = await listed(client, project_id=project, order_by="score.overlap desc")
    overlap = {r.id: value("overlap", plan(keys[r.id][0]), keys[r.id][1]) for r in records}
    with_value = sorted((rid for rid, v in overlap.items() if v is not None), key=lambda rid: (overlap[rid], rid))
    without = sorted((rid for rid, v in overlap.items() if v is None), reverse=True)
    assert [r.id for r in records] == [*reversed(with_value), *without]
    assert without == [next(rid for rid, k in keys.items() if k == ("cand", 5))]
    records = await listed(client, project_id=project, order_by=f"score.{seeded.metrics['overlap']} asc")
    assert [r.id for r in records] == [*with_value, *sorted(without)]

    conn = await asyncpg.connect(stack.database_url)
    try:
        in_db = await conn.fetch(
            "SELECT r.id FROM records r JOIN runs ru ON ru.id = r.run_id WHERE ru.project_id = $1"
            " ORDER BY r.created_at DESC, r.id DESC",
            uuid.UUID(project),
        )
    finally:
        await conn.close()
    assert [r.id for r in await listed(client, project_id=project)] == [str(r["id"]) for r in in_db]
    assert [r.id for r in await listed(client, project_id=project, order_by="created_at")] == [
        str(r["id"]) for r in reversed(in_db)
    ]
    # A search with score conditions by created_at is read "matches first" (services/query/records/):
    # the same rows, in the same order, as the database's own ordering of the records they are.
    both: dict[str, Any] = {"search": "capital", "where": ["exact:failed", "overlap:lt:0.9"]}
    matching = {r.id for r in await listed(client, project_id=project, order_by="latency_ms", **both)}
    assert {keys[rid] for rid in matching} == {("cand", 1), ("mon", 0)}
    for order_by, newest_first in (("", True), ("created_at", False)):
        found = await listed(client, project_id=project, order_by=order_by, **both)
        ordered = [str(r["id"]) for r in (in_db if newest_first else reversed(in_db))]
        assert [r.id for r in found] == [rid for rid in ordered if rid in matching]

    searched = {"search": "capital", "where": ["exact:failed"]}
    for order_by in ("", "created_at", "latency_ms desc", "score.overlap", "score.exact desc"):
        for filters in ({}, {"where": ["exact:failed"]}, {"search": "capital"}, searched):
            whole = [r.id for r in await listed(client, project_id=project, order_by=order_by, **filters)]
            paged = [r.id for r in await listed(client, page_size=2, project_id=project, order_by=order_by, **filters)]
            assert paged == whole, (order_by, filters)
            assert len(set(whole)) == len(whole)


async def test_get_record_has_every_score_with_its_metric_version(client: Client, seeded: Seeded) -> None:
    keys = await record_keys(client, seeded)
    record_id = next(rid for rid, k in keys.items() if k == ("cand", 3))
    record = await client.get_record(record_id)
    cand = plan("cand")
    assert (record.id, record.run_id, record.status) == (record_id, seeded.runs["cand"], "completed")
    assert record.testcase_id == seeded.testcases["capitals"][3]
    assert dict(record.inputs) == {"question": "What is the chemical symbol for gold?"}
    assert dict(record.expected) == {"answer": "Au"}
    assert dict(record.outputs) == {"response": "Au gold"}
    assert (record.latency_ms, record.prompt_tokens, record.completion_tokens, record.cost_usd) == (45, 10, 5, 0.002)
    assert list(record.tags) == ["regressed"]
    scores = {s.metric_name: s for s in record.scores}
    assert set(scores) == {"exact", "overlap", "cheap"}
    for name, s in scores.items():
        assert (s.metric_id, s.metric_version, s.current, s.status) == (seeded.metrics[name], 1, True, "completed")
        assert s.reasoning
        assert s.passed == query_seed.passed(name, cand, 3)
    assert scores["overlap"].value.number_value == pytest.approx(query_seed.score("overlap", cand, 3)[1])
    assert scores["exact"].value.bool_value is False

    errored = await client.get_record(next(rid for rid, k in keys.items() if k == ("cand", 5)))
    assert (errored.status, errored.error, list(errored.scores)) == ("errored", query_seed.FORMULA_ERROR, [])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.get_record(str(uuid.uuid4()))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_http_serves_the_same_records(stack: Stack, client: Client, seeded: Seeded) -> None:
    project = seeded.project_id
    keys = await record_keys(client, seeded)
    grpc_ids = [
        r.id
        for r in await listed(
            client, project_id=project, where=["exact:failed"], search="capital", order_by="latency_ms desc"
        )
    ]
    assert [keys[r] for r in grpc_ids] == [("cand", 1), ("mon", 0)]  # Kyoto (25 ms), Lyon (11 ms)
    async with stack.http(stack.query_http) as http:
        seen: list[str] = []
        token = ""
        while True:
            params: dict[str, Any] = {
                "where": "exact:failed",
                "search": "capital",
                "order_by": "latency_ms desc",
                "page_size": 1,
                "page_token": token,
            }
            page = await http.get(f"/v1/projects/{project}/records", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [r["id"] for r in body["records"]]
            token = body["next_page_token"]
            if not token:
                break
        assert seen == grpc_ids
        # Several conditions in the query string, AND-ed; the run-scoped route takes the same filters.
        both = await http.get(
            f"/v1/projects/{project}/records", params=[("where", "exact:failed"), ("where", "overlap:gt:0.5")]
        )
        assert len(both.json()["records"]) == 2
        cand = await http.get(f"/v1/runs/{seeded.runs['cand']}/records", params={"statuses": "errored"})
        (errored,) = cand.json()["records"]
        assert (errored["status"], errored["error"]) == ("errored", query_seed.FORMULA_ERROR)
        record = (await http.get(f"/v1/records/{errored['id']}")).json()
        assert record["id"] == errored["id"] and record["scores"] == []
        missing = await http.get(f"/v1/records/{uuid.uuid4()}")
        assert missing.status_code == 404


def bad_requests(seeded: Seeded) -> list[tuple[dict[str, Any], str]]:
    project = seeded.project_id
    return [
        ({"where": ["nosuch:passed"]}, f"score condition: unknown metric 'nosuch' in project {project}"),
        (
            {"where": ["exact:between:1"]},
            "score condition 'exact:between:1' is malformed; write <metric>:passed, <metric>:failed,"
            " <metric>:errored, <metric>:unstable, or <metric>:lt|gt|eq:<number>",
        ),
        (
            {"usage": ["latency_ms:between:5"]},
            "usage condition 'latency_ms:between:5' is malformed; write <measure>:gt:<number> or"
            " <measure>:lt:<number>, the measure one of latency_ms, tokens, cost_usd",
        ),
        ({"usage": ["cost_usd:gt:inf"]}, "usage condition 'cost_usd:gt:inf': the value must be a finite number"),
        ({"where": ["overlap:lt:high"]}, "score condition 'overlap:lt:high': 'high' is not a number"),
        ({"page_token": "garbage!"}, MALFORMED_TOKEN),
        ({"order_by": "score.nosuch"}, f"order_by: unknown metric 'nosuch' in project {project}"),
        (
            {"order_by": "size desc"},
            "order_by 'size desc' is not supported; use created_at, latency_ms, tokens, cost_usd or score.<metric>,"
            " then asc or desc",
        ),
        ({"statuses": ["weird"]}, "statuses must be any of pending, completed, errored; got 'weird'"),
        ({"search": "!!!"}, "search '!!!' holds no word to look for"),
        ({"page_size": 5000}, "page_size must be within 1..1000, got 5000"),
        ({"run_ids": ["nope"]}, "run_ids 'nope' is not a valid id"),
        ({"run_ids": [str(uuid.UUID(int=7))]}, f"run_ids: run {uuid.UUID(int=7)} is not in project {project}"),
    ]


async def test_bad_filters_are_invalid_argument_naming_the_problem(client: Client, seeded: Seeded) -> None:
    for filters, message in bad_requests(seeded):
        request = qpb.ListRecordsRequest(project_id=seeded.project_id, **filters)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.query.ListRecords(request, timeout=10)
        assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message), filters
    bad_op = qpb.ScoreCondition(metric="exact")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.ListRecords(
            qpb.ListRecordsRequest(project_id=seeded.project_id, score_conditions=[bad_op]), timeout=10
        )
    assert info.value.details() == (
        "score condition {metric: 'exact', op: OP_UNSPECIFIED} needs an op: PASSED, FAILED, ERRORED, UNSTABLE, LT,"
        " GT or EQ"
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.ListRecords(qpb.ListRecordsRequest(), timeout=10)
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "run_id or project_id is required",
    )
    # A token is bound to its order.
    page = await client.query.ListRecords(
        qpb.ListRecordsRequest(project_id=seeded.project_id, page_size=1, order_by="latency_ms"), timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.query.ListRecords(
            qpb.ListRecordsRequest(project_id=seeded.project_id, page_token=page.next_page_token), timeout=10
        )
    assert info.value.details() == (
        "page_token was issued for other filters or another order; pass the same filters and order as its first page"
    )
    for request, code in (
        (qpb.ListRecordsRequest(project_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND),
        (qpb.ListRecordsRequest(run_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.query.ListRecords(request, timeout=10)
        assert info.value.code() == code


async def test_bad_filters_over_http_are_400_naming_the_problem(stack: Stack, seeded: Seeded) -> None:
    async with stack.http(stack.query_http) as http:
        for filters, message in bad_requests(seeded):
            response = await http.get(f"/v1/projects/{seeded.project_id}/records", params=filters)
            assert response.status_code == 400, filters
            assert response.json() == {"error": {"code": "INVALID_ARGUMENT", "message": message}}
        unknown = await http.get(f"/v1/projects/{seeded.project_id}/records", params={"colour": "red"})
        assert unknown.json()["error"]["message"] == "unknown query parameter 'colour'"


async def _exported(http: Any, project: str, **params: Any) -> Any:
    response = await http.get(f"/v1/projects/{project}/records:export", params=params)
    assert response.status_code == 200, response.text
    return response


async def test_a_records_export_holds_what_the_list_holds(
    stack: Stack, client: Client, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = seeded.project_id
    failed = [r.id for r in await listed(client, project_id=project, where=["exact:failed"])]
    async with stack.http(stack.query_http) as http:
        response = await _exported(http, project, where="exact:failed")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        names = sorted(m[0] for m in query_seed.METRICS)
        assert list(rows[0])[:3] == ["record_id", "run_id", "testcase_id"]
        assert list(rows[0])[-3 * len(names) :] == [c for n in names for c in (n, f"{n} passed", f"{n} reasoning")]
        assert [r["record_id"] for r in rows] == failed and len(failed) == 7
        assert {r["exact passed"] for r in rows} == {"false"}
        one = await client.get_record(failed[0])
        assert (rows[0]["run_id"], json.loads(rows[0]["inputs"])) == (one.run_id, struct_to_dict(one.inputs))

        lines = (await _exported(http, project, search="capital", order_by="latency_ms", limit=3, format="jsonl")).text
        firsts = [r.id for r in await listed(client, project_id=project, search="capital", order_by="latency_ms")][:3]
        assert [json.loads(line)["id"] for line in lines.splitlines()] == firsts
        assert set(json.loads(lines.splitlines()[0])["scores"]) <= set(names)

        for params, message in (
            ({"where": "nope:failed"}, f"score condition: unknown metric 'nope' in project {project}"),
            ({"format": "xlsx"}, "format must be csv or jsonl, got 'xlsx'"),
            ({"limit": -1}, "limit must not be negative"),
        ):
            refused = await http.get(f"/v1/projects/{project}/records:export", params=params)
            assert (refused.status_code, refused.json()["error"]["message"]) == (400, message)

    # Page after page (here of 4 records): every record once, in the list's order.
    monkeypatch.setattr(paged_exports, "EXPORT_PAGE", 4)
    async with create_pool(stack.database_url) as pool:
        request = qpb.ExportRecordsRequest(project_id=project, order_by="latency_ms desc", format="jsonl")
        chunks = [c async for c in QueryApi(pool, "http://q").export_records(request)]
    assert len(chunks) > 3  # the content type, then one chunk per page
    exported = [json.loads(line)["id"] for c in chunks for line in c.data.decode().splitlines()]
    assert exported == [r.id for r in await listed(client, project_id=project, order_by="latency_ms desc")]
