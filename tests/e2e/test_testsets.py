"""Testsets end to end on the real processes: versions pinned by runs, edits, import and export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import tpb
from shared.devstack.stack import Stack
from shared.edge.convert import struct_to_dict

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["question", "answer"],
    "properties": {
        "question": {"type": "string"},
        "answer": {"type": "string"},
        "difficulty": {"type": "integer"},
        "score": {"type": "number"},
        "hard": {"type": "boolean"},
        "tags": {"type": "array"},
        "context": {"type": "object"},
    },
}


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.http(stack.orchestrator_http, timeout=60) as client:
        yield client


@pytest.fixture
async def project_id(client: Client) -> str:
    return (await client.create_project(f"testsets-{uuid.uuid4().hex[:6]}")).id


async def _testset(client: Client, project_id: str, cases: list[dict[str, Any]], **kw: Any) -> str:
    kw.setdefault("json_schema", SCHEMA)
    testset = await client.create_testset(project_id, "qa", cases, inputs=["question"], expected=["answer"], **kw)
    return testset.id


async def _data(client: Client, testset_id: str, version: int = 0) -> list[dict[str, Any]]:
    return [struct_to_dict(t.data) async for t in client.testcases(testset_id, version)]


async def _rows(stack: Stack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return str(response.json()["error"]["message"])


async def test_every_change_makes_a_version_and_old_versions_stay(client: Client, project_id: str) -> None:
    tid = await _testset(client, project_id, [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)])
    v1 = [t async for t in client.testcases(tid)]
    added = await client.add_testcases(tid, [{"question": "q3", "answer": "a3"}])
    assert (added.testset.version, added.testset.testcase_count, len(added.testcase_ids)) == (2, 4, 1)
    updated = await client.update_testcase(tid, v1[1].id, {"question": "q1 changed", "answer": "a1"})
    assert updated.testcase.id == v1[1].id  # update keeps the id
    assert (updated.testcase.position, updated.testcase.since_version, updated.testset.version) == (1, 3, 3)
    deleted = await client.delete_testcases(tid, [v1[0].id, v1[2].id])
    assert (deleted.version, deleted.testcase_count) == (4, 2)
    assert await _data(client, tid) == [{"question": "q1 changed", "answer": "a1"}, {"question": "q3", "answer": "a3"}]
    assert [t.id async for t in client.testcases(tid)] == [v1[1].id, added.testcase_ids[0]]
    assert await _data(client, tid, 1) == [{"question": f"q{i}", "answer": f"a{i}"} for i in range(3)]
    assert [t.id async for t in client.testcases(tid, 1)] == [t.id for t in v1]
    assert len(await _data(client, tid, 2)) == 4
    versions = [(v.version, v.change, v.testcase_count) async for v in client.list_testset_versions(tid)]
    assert versions == [
        (4, "testcases_deleted", 2),
        (3, "testcase_updated", 4),
        (2, "testcases_added", 4),
        (1, "created", 3),
    ]
    old = await client.get_testset(tid, 1)
    assert (old.version, old.latest_version, old.testcase_count) == (1, 4, 3)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.get_testset(tid, 9)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert exc.value.details() == f"testset {tid} has no version 9"


async def test_delete_and_update_of_unknown_testcases_write_nothing(client: Client, project_id: str) -> None:
    tid = await _testset(client, project_id, [{"question": "q", "answer": "a"}])
    (known,) = [t.id async for t in client.testcases(tid)]
    unknown = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.delete_testcases(tid, [known, unknown])
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert exc.value.details() == f"testcases not in testset {tid}: {unknown}"
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.update_testcase(tid, unknown, {"question": "x"})
    assert exc.value.details() == f"testcase {unknown} is not in testset {tid}"
    testset = await client.get_testset(tid)
    assert (testset.version, testset.testcase_count) == (1, 1)


async def test_schema_change_revalidates_into_a_new_version(client: Client, project_id: str) -> None:
    cases = [{"question": "q0", "answer": "a0", "difficulty": 2}, {"question": "q1", "answer": 7}]
    tid = await _testset(client, project_id, cases)
    first = [t async for t in client.testcases(tid)]
    assert list(first[0].validation_errors) == []
    assert [(e.path, e.message) for e in first[1].validation_errors] == [("/answer", "7 is not of type 'string'")]
    strict = {**SCHEMA, "required": ["question", "answer", "difficulty"]}
    strict["properties"] = {**SCHEMA["properties"], "answer": {"type": ["string", "integer"]}}
    changed = await client.update_testset(tid, json_schema=strict)
    assert (changed.version, changed.invalid_testcase_count) == (2, 1)
    now = [t async for t in client.testcases(tid)]
    assert [t.id for t in now] == [t.id for t in first]
    assert [(e.path, e.message) for e in now[1].validation_errors] == [("", "'difficulty' is a required property")]
    assert list(now[0].validation_errors) == []
    assert now[0].since_version == 1  # unchanged testcases keep their revision
    invalid = [t.id async for t in client.testcases(tid, invalid_only=True)]
    assert invalid == [first[1].id]
    removed = await client.update_testset(tid, remove_json_schema=True)
    assert (removed.version, removed.invalid_testcase_count, dict(removed.json_schema)) == (3, 0, {})
    remapped = await client.update_testset(tid, inputs=["question", "difficulty"], expected=["answer"])
    assert remapped.version == 4
    assert [dict(t.inputs) async for t in client.testcases(tid)] == [
        {"question": "q0", "difficulty": 2},
        {"question": "q1"},
    ]
    v1 = [t async for t in client.testcases(tid, 1)]
    assert [[(e.path, e.message) for e in t.validation_errors] for t in v1] == [
        [],
        [("/answer", "7 is not of type 'string'")],
    ]
    renamed = await client.update_testset(tid, name="renamed", description="d")
    assert (renamed.name, renamed.description, renamed.version) == ("renamed", "d", 4)


def _summary(changes: tpb.CompareTestsetVersionsResponse) -> tuple[int, ...]:
    return (
        changes.from_version,
        changes.to_version,
        changes.added,
        changes.removed,
        changes.changed,
        changes.unchanged,
    )


def _listed(changes: tpb.CompareTestsetVersionsResponse) -> list[tuple[str, Any, Any]]:
    """(change, question before, question after) of each change on the page."""
    return [
        (
            c.change,
            c.before.data["question"] if c.HasField("before") else None,
            c.after.data["question"] if c.HasField("after") else None,
        )
        for c in changes.changes
    ]


async def test_two_versions_compared_name_what_was_added_removed_and_changed(
    client: Client, project_id: str, http: httpx.AsyncClient
) -> None:
    tid = await _testset(client, project_id, [{"question": f"q{i}", "answer": f"a{i}"} for i in range(4)])
    v1 = [t.id async for t in client.testcases(tid)]
    await client.add_testcases(tid, [{"question": "q4", "answer": "a4"}])  # v2
    await client.update_testcase(tid, v1[1], {"question": "q1 reworded", "answer": "a1"})  # v3
    await client.delete_testcases(tid, [v1[0], v1[2]])  # v4
    await client.update_testcase(tid, v1[3], {"question": "q3", "answer": "wrong"})  # v5
    await client.update_testcase(tid, v1[3], {"question": "q3", "answer": "a3"})  # v6: as in v4 again

    changes = await client.compare_testset_versions(tid, 1, 4)
    assert _summary(changes) == (1, 4, 1, 2, 1, 1)
    assert _listed(changes) == [
        ("removed", "q0", None),
        ("changed", "q1", "q1 reworded"),
        ("removed", "q2", None),
        ("added", None, "q4"),
    ]
    assert [c.testcase_id for c in changes.changes][:3] == v1[:3]
    assert (changes.changes[1].before.since_version, changes.changes[1].after.since_version) == (1, 3)
    assert dict(changes.changes[1].after.inputs) == {"question": "q1 reworded"}
    assert (changes.schema_changed, changes.mapping_changed, changes.next_page_token) == (False, False, "")

    latest = await client.compare_testset_versions(tid)  # the latest version and the one before it
    assert _summary(latest) == (5, 6, 0, 0, 1, 2)
    assert [(c.before.data["answer"], c.after.data["answer"]) for c in latest.changes] == [("wrong", "a3")]
    # A testcase changed and changed back is the same across the two versions around it.
    assert _summary(await client.compare_testset_versions(tid, 4, 6)) == (4, 6, 0, 0, 0, 3)
    assert _summary(await client.compare_testset_versions(tid, 2)) == (2, 6, 0, 2, 1, 2)

    strict = {**SCHEMA, "properties": {**SCHEMA["properties"], "answer": {"type": "string", "maxLength": 2}}}
    await client.update_testset(tid, json_schema=strict)  # v7: "q1 reworded"'s answer still fits; none breaks
    await client.update_testset(tid, inputs=["question", "answer"])  # v8: every testcase's inputs change
    remapped = await client.compare_testset_versions(tid, 6, 8)
    assert _summary(remapped) == (6, 8, 0, 0, 3, 0)
    assert (remapped.schema_changed, remapped.mapping_changed) == (True, True)
    assert dict(remapped.changes[0].before.inputs) == {"question": "q1 reworded"}
    assert dict(remapped.changes[0].after.inputs) == {"question": "q1 reworded", "answer": "a1"}

    # Over HTTP, a page at a time; the token keeps the versions of the first page.
    first = await http.get(f"/v1/testsets/{tid}/versions:compare", params={"from_version": 1, "page_size": 2})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["from_version"], body["to_version"], body["added"], body["removed"], body["changed"]) == (
        1,
        8,
        1,
        2,
        2,
    )
    await client.add_testcases(tid, [{"question": "late", "answer": "a"}])  # v9, between pages
    seen = [c["testcase_id"] for c in body["changes"]]
    token = body["next_page_token"]
    while token:
        page = await http.get(
            f"/v1/testsets/{tid}/versions:compare", params={"from_version": 1, "page_size": 2, "page_token": token}
        )
        assert page.json()["to_version"] == 8
        seen += [c["testcase_id"] for c in page.json()["changes"]]
        token = page.json()["next_page_token"]
    assert seen == [*v1, changes.changes[3].testcase_id]  # q3 too: its inputs were remapped

    refused = {
        (3, 3): (400, "from_version (3) must be before to_version (3)"),
        (4, 2): (400, "from_version (4) must be before to_version (2)"),
        (0, 1): (400, f"version 1 is the first version of testset {tid}: there is nothing before it"),
        (1, 12): (404, f"testset {tid} has no version 12"),
        (-1, 2): (400, "from_version and to_version must not be negative"),
    }
    for (before, after), (status, message) in refused.items():
        response = await http.get(
            f"/v1/testsets/{tid}/versions:compare", params={"from_version": before, "to_version": after}
        )
        assert (response.status_code, response.json()["error"]["message"]) == (status, message)
    unknown = uuid.uuid4()
    response = await http.get(f"/v1/testsets/{unknown}/versions:compare")
    assert (response.status_code, response.json()["error"]["message"]) == (404, f"testset {unknown} does not exist")
    _error(await http.get(f"/v1/testsets/{tid}/versions:compare", params={"page_token": "x"}), 400, "INVALID_ARGUMENT")


async def test_list_testsets_and_testcases_pages_never_repeat_or_skip(
    client: Client, project_id: str, http: httpx.AsyncClient
) -> None:
    ids = [await _testset(client, project_id, [{"question": "q", "answer": "a"}]) for _ in range(7)]
    listed = [t.id async for t in client.list_testsets(project_id, page_size=3)]
    assert listed == list(reversed(ids))
    await client.delete_testset(ids[0])
    assert [t.id async for t in client.list_testsets(project_id, page_size=2)] == list(reversed(ids[1:]))
    _error(await http.get(f"/v1/testsets/{ids[0]}"), 404, "NOT_FOUND")

    tid = await _testset(client, project_id, [{"question": f"q{i}", "answer": "a"} for i in range(25)])
    first = (await http.get(f"/v1/testsets/{tid}/testcases", params={"page_size": 10})).json()
    # A change between pages does not leak into the pages of the version being read.
    await client.add_testcases(tid, [{"question": "late", "answer": "a"}])
    seen = [t["data"]["question"] for t in first["testcases"]]
    token = first["next_page_token"]
    while token:
        page = (await http.get(f"/v1/testsets/{tid}/testcases", params={"page_size": 10, "page_token": token})).json()
        assert page["version"] == 1
        seen += [t["data"]["question"] for t in page["testcases"]]
        token = page["next_page_token"]
    assert seen == [f"q{i}" for i in range(25)]
    assert len(await _data(client, tid)) == 26
    _error(await http.get(f"/v1/testsets/{tid}/testcases", params={"page_token": "nope"}), 400, "INVALID_ARGUMENT")


async def test_testcases_are_searched_by_their_words(client: Client, project_id: str, http: httpx.AsyncClient) -> None:
    cases = [
        {"question": f"What is the capital of {country}?", "answer": capital, "difficulty": n % 3}
        for n, (country, capital) in enumerate(
            [("France", "Paris"), ("Peru", "Lima"), ("Japan", "Tokyo"), ("Chile", "Santiago")] * 6
        )
    ] + [{"question": "Ünïcödé ✓ São Paulo?", "answer": "not a capital"}]
    tid = await _testset(client, project_id, cases, metadata=["difficulty"])

    async def found(search: str, **params: Any) -> list[str]:
        return [struct_to_dict(t.data)["question"] async for t in client.testcases(tid, search=search, **params)]

    assert await found("peru") == ["What is the capital of Peru?"] * 6  # any case, every page
    assert await found("lima peru", page_size=4) == ["What is the capital of Peru?"] * 6
    assert await found("tokyo") == ["What is the capital of Japan?"] * 6  # an expected value
    assert len(await found("capital -france -peru")) == 13  # the 12 others and the São Paulo one
    assert await found('"not a capital"') == ["Ünïcödé ✓ São Paulo?"]
    assert await found("são") == ["Ünïcödé ✓ São Paulo?"]
    either = [q for c in cases if any(w in (q := str(c["question"])) for w in ("Chile", "Japan"))]
    assert await found("chile or japan") == either
    assert await found("2") == [c["question"] for c in cases if c.get("difficulty") == 2]  # metadata numbers
    assert await found("madrid") == []
    assert await found("question") == []  # the field names are not words of a testcase

    # A page token belongs to its search; a search without a word is refused, naming it.
    first = (await http.get(f"/v1/testsets/{tid}/testcases", params={"page_size": 2, "search": "peru"})).json()
    assert len(first["testcases"]) == 2 and first["next_page_token"]
    moved = {"page_size": 2, "search": "japan", "page_token": first["next_page_token"]}
    _error(await http.get(f"/v1/testsets/{tid}/testcases", params=moved), 400, "INVALID_ARGUMENT")
    refused = await http.get(f"/v1/testsets/{tid}/testcases", params={"search": "?!"})
    assert _error(refused, 400, "INVALID_ARGUMENT") == "search '?!' holds no word to look for"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await found("x" * 501)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "search is longer than 500 characters"


CASES: list[dict[str, Any]] = [
    {"question": "What is 2 + 2?", "answer": "4", "difficulty": 1, "score": 0.5, "hard": False},
    {
        "question": 'Say "hi",\nthen bye',
        "answer": "hi, bye",
        "difficulty": 3,
        "tags": ["a", "b"],
        "context": {"k": [1, 2]},
        "hard": True,
    },
    {"question": "Ünïcödé ✓", "answer": "yes", "score": 1.25},
]


def _file(fmt: str, cases: list[dict[str, Any]]) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(c) + "\n" for c in cases).encode()
    if fmt == "json":
        return json.dumps(cases, indent=1).encode()
    names = list(dict.fromkeys(k for c in cases for k in c))
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect=csv.excel_tab if fmt == "tsv" else csv.excel)
    writer.writerow(names)
    for c in cases:
        writer.writerow(["" if k not in c else json.dumps(c[k]) if not isinstance(c[k], str) else c[k] for k in names])
    return buffer.getvalue().encode()


async def _export(http: httpx.AsyncClient, testset_id: str, version: int = 0) -> list[dict[str, str]]:
    response = await http.get(f"/v1/testsets/{testset_id}/testcases:export", params={"version": version})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
async def test_import_round_trips_through_export(
    client: Client, project_id: str, http: httpx.AsyncClient, fmt: str
) -> None:
    tid = await _testset(client, project_id, [{"question": "seed", "answer": "s"}])

    async def body() -> AsyncIterator[bytes]:
        raw = _file(fmt, CASES)
        for i in range(0, len(raw), 7):  # small chunks: rows and characters split across chunks
            yield raw[i : i + 7]

    response = await http.post(
        f"/v1/testsets/{tid}/testcases:import", params={"format": fmt, "replace": "true"}, content=body()
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["imported"], result["testset"]["version"], result["testset"]["testcase_count"]) == (3, 2, 3)
    assert await _data(client, tid) == CASES
    exported = await _export(http, tid)
    assert list(exported[0]) == ["question", "answer", "context", "difficulty", "hard", "score", "tags"]
    assert exported == [
        {"question": "What is 2 + 2?", "answer": "4", "difficulty": "1", "score": "0.5", "hard": "false",
         "tags": "", "context": ""},
        {"question": 'Say "hi",\nthen bye', "answer": "hi, bye", "difficulty": "3", "score": "", "hard": "true",
         "tags": '["a","b"]', "context": '{"k":[1,2]}'},
        {"question": "Ünïcödé ✓", "answer": "yes", "difficulty": "", "score": "1.25", "hard": "", "tags": "",
         "context": ""},
    ]  # fmt: skip
    # The export imports back (CSV via the SDK's gRPC client stream) to the same testcases.
    again = await _testset(client, project_id, [{"question": "seed", "answer": "s"}])
    csv_bytes = b"".join([c async for c in client.export_testcases(tid)])

    async def chunks() -> AsyncIterator[bytes]:
        yield csv_bytes

    imported = await client.import_testcases(again, chunks(), "csv", replace=True)
    assert imported.imported == 3
    assert await _data(client, again) == CASES
    assert await _export(http, tid, 1) == [{"question": "seed", "answer": "s"}]  # the version before the import


NO_QUESTION = "header: no column 'question' (the testset's inputs: question); the file's columns"


@pytest.mark.parametrize(
    ("fmt", "raw", "message"),
    [
        ("csv", b"question,difficulty\nq,1\nq,two\n", "row 2 (line 3), field 'difficulty': 'two' is not an integer"),
        ("csv", b"question,answer\nq,a\nq,a,extra\n", "row 2 (line 3) has 3 cells, the header has 2"),
        ("csv", b'question,answer\nq,"a\n', "line 2: malformed CSV: a quoted field is not closed"),
        ("csv", b"question,hard\nq,maybe\n", "row 1 (line 2), field 'hard': 'maybe' is not a boolean (true or false)"),
        ("csv", b'question,answer,tags\nq,a,"[1,"\n', "row 1 (line 2), field 'tags': '[1,' is not a JSON array"),
        ("jsonl", b'{"question": "q"}\n{"question": \n', "line 2: malformed JSON: Expecting value at column 14"),
        ("jsonl", b'{"question": "q"}\n[1]\n', "line 2: a testcase must be a JSON object, got an array"),
        ("json", b'[{"question": "q"}, 3]', "item 2: a testcase must be a JSON object, got a number"),
        ("json", b'[{"question": "q"}', "the JSON file ends before its array is closed"),
        ("csv", b"question,answer\n", "the file holds no testcases"),
        ("csv", b"q,a\nfoo,bar\n", f"{NO_QUESTION}: q, a"),
        ("tsv", b"answer\tq\nbar\tfoo\n", f"{NO_QUESTION}: answer, q"),
        ("xml", b"<a/>", "format must be one of csv, tsv, json, jsonl, got 'xml'"),
    ],
)  # fmt: skip
async def test_a_bad_import_is_400_naming_row_and_field_and_writes_nothing(
    stack: Stack, client: Client, project_id: str, http: httpx.AsyncClient, fmt: str, raw: bytes, message: str
) -> None:
    tid = await _testset(client, project_id, [{"question": "seed", "answer": "s"}])
    before = await _rows(stack, "SELECT count(*) AS n FROM testcases")
    response = await http.post(f"/v1/testsets/{tid}/testcases:import", params={"format": fmt}, content=raw)
    assert _error(response, 400, "INVALID_ARGUMENT") == message
    assert await _rows(stack, "SELECT count(*) AS n FROM testcases") == before
    testset = await client.get_testset(tid)
    assert (testset.version, testset.testcase_count) == (1, 1)


@pytest.mark.parametrize(
    ("schema", "errors"),
    [
        pytest.param(None, [("/question", "'question' is missing: an input of this testset")], id="no-schema"),
        # The schema already requires it: its message, not a second one.
        pytest.param(SCHEMA, [("", "'question' is a required property")], id="schema-requires-it"),
    ],
)
async def test_a_testcase_without_an_input_field_is_kept_as_invalid(
    client: Client, project_id: str, schema: dict[str, Any] | None, errors: list[tuple[str, str]]
) -> None:
    tid = await _testset(client, project_id, [{"question": "seed", "answer": "s"}], json_schema=schema)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"question": "q1", "answer": "a1"}\n{"answer": "a2", "note": "no question"}\n'

    imported = await client.import_testcases(tid, chunks(), "jsonl")
    assert (imported.imported, imported.testset.testcase_count, imported.testset.invalid_testcase_count) == (2, 3, 1)
    cases = [t async for t in client.testcases(tid)]
    assert [[(e.path, e.message) for e in t.validation_errors] for t in cases] == [[], [], errors]
    assert struct_to_dict(cases[2].inputs) == {}


async def test_import_errors_over_grpc_and_unknown_testset(client: Client, project_id: str) -> None:
    tid = await _testset(client, project_id, [{"question": "seed", "answer": "s"}])

    async def chunks() -> AsyncIterator[bytes]:
        yield b"question,answer,difficulty\n"
        yield b"q,a,1.5\n"

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.import_testcases(tid, chunks(), "csv")
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert exc.value.details() == "row 1 (line 2), field 'difficulty': '1.5' is not an integer"
    unknown = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.import_testcases(unknown, chunks(), "csv")
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_an_import_creates_a_testset_whose_version_1_is_the_file(
    stack: Stack, client: Client, project_id: str, http: httpx.AsyncClient
) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [("format", "csv"), ("name", " capitals ")]
    params += [("description", "from a file")]
    params += [("inputs", "question"), ("expected", "answer"), ("metadata", "source")]
    raw = b"question,answer,source,level\nCapital of France?,Paris,atlas,1\nCapital of Peru?,Lima,atlas,2\n"
    response = await http.post(f"/v1/projects/{project_id}/testsets:import", params=params, content=raw)
    assert response.status_code == 200, response.text
    made = response.json()
    testset = made["testset"]
    assert (made["imported"], testset["version"], testset["latest_version"], testset["testcase_count"]) == (2, 1, 1, 2)
    assert (testset["name"], testset["description"], testset["project_id"]) == ("capitals", "from a file", project_id)
    assert testset["field_mapping"] == {"inputs": ["question"], "expected": ["answer"], "metadata": ["source"]}
    versions = [(v.version, v.change, v.testcase_count) async for v in client.list_testset_versions(testset["id"])]
    assert versions == [(1, "created", 2)]
    cases = [t async for t in client.testcases(testset["id"])]
    assert [struct_to_dict(t.inputs) for t in cases] == [
        {"question": "Capital of France?"},
        {"question": "Capital of Peru?"},
    ]
    assert [struct_to_dict(t.metadata) for t in cases] == [
        {"source": "atlas", "level": "1"},
        {"source": "atlas", "level": "2"},
    ]

    # Over gRPC (the SDK's client stream) as well; a bad row creates no testset at all.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"question": "q1", "answer": "a1"}\n'
        yield b'{"question": "q2", "answer": \n'

    before = [t.id async for t in client.list_testsets(project_id)]
    rows_before = await _rows(stack, "SELECT count(*) AS n FROM testsets")
    first = tpb.ImportTestcasesRequest(project_id=project_id, name="half", format="jsonl", inputs=["question"])
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.testsets.ImportTestcases(_stream(first, chunks()))
    assert (exc.value.code(), exc.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "line 2: malformed JSON: Expecting value at column 30",
    )
    assert [t.id async for t in client.list_testsets(project_id)] == before
    assert await _rows(stack, "SELECT count(*) AS n FROM testsets") == rows_before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("name", "x"), ("inputs", "q")], "format must be one of csv, tsv, json, jsonl, got ''"),
        ([("format", "csv"), ("inputs", "q")], "name must not be empty"),
        ([("format", "csv"), ("name", "x")], "inputs must name at least one field"),
        ([("format", "csv"), ("name", "x"), ("inputs", "q"), ("expected", "q")],
         "field 'q' is mapped twice (inputs and expected)"),
        ([("format", "csv"), ("name", "x"), ("inputs", "q"), ("replace", "true")],
         "replace: a new testset has no testcases to replace"),
    ],
)  # fmt: skip
async def test_a_new_testset_import_refuses_a_bad_first_message(
    client: Client,
    project_id: str,
    http: httpx.AsyncClient,
    params: list[tuple[str, str | int | float | bool | None]],
    message: str,
) -> None:
    response = await http.post(f"/v1/projects/{project_id}/testsets:import", params=params, content=b"q\nhello\n")
    assert _error(response, 400, "INVALID_ARGUMENT") == message
    assert [t async for t in client.list_testsets(project_id)] == []


async def test_an_import_names_one_testset(client: Client, project_id: str, http: httpx.AsyncClient) -> None:
    tid = await _testset(client, project_id, [{"question": "seed", "answer": "s"}])
    both = await http.post(
        f"/v1/testsets/{tid}/testcases:import",
        params={"format": "csv", "project_id": project_id, "name": "x"},
        content=b"question\nq\n",
    )
    assert _error(both, 400, "INVALID_ARGUMENT") == (
        "project_id, name: only for a new testset; an import into testset_id keeps its own"
    )
    first = tpb.ImportTestcasesRequest(format="csv")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.testsets.ImportTestcases(_stream(first, _one(b"question\nq\n")))
    assert (
        exc.value.details() == "name the testset to import into (testset_id), or the project_id and name of a new one"
    )
    unknown = str(uuid.uuid4())
    response = await http.post(
        f"/v1/projects/{unknown}/testsets:import",
        params={"format": "csv", "name": "x", "inputs": "q"},
        content=b"q\n1\n",
    )
    assert _error(response, 404, "NOT_FOUND") == f"project {unknown} does not exist"
    assert (await client.get_testset(tid)).version == 1


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _stream(
    first: tpb.ImportTestcasesRequest, chunks: AsyncIterator[bytes]
) -> AsyncIterator[tpb.ImportTestcasesRequest]:
    yield first
    async for chunk in chunks:
        yield tpb.ImportTestcasesRequest(data=chunk)


async def test_export_escapes_formulas(client: Client, project_id: str, http: httpx.AsyncClient) -> None:
    cases = [
        {"question": '=HYPERLINK("http://x")', "answer": "+1", "note": "-2"},
        {"question": "@SUM(A1)", "answer": "ok"},
        {"question": "\u200b=1", "answer": "\uff1dSUM(A1)", "note": " +1"},
    ]
    tid = await _testset(client, project_id, cases, json_schema=None)
    exported = await _export(http, tid)
    assert exported == [
        {"question": '\'=HYPERLINK("http://x")', "answer": "'+1", "note": "'-2"},
        {"question": "'@SUM(A1)", "answer": "ok", "note": ""},
        {"question": "'\u200b=1", "answer": "'\uff1dSUM(A1)", "note": "' +1"},
    ]
    _error(await http.get(f"/v1/testsets/{uuid.uuid4()}/testcases:export"), 404, "NOT_FOUND")


async def test_a_run_executes_its_pinned_version_after_the_testset_changed(
    stack: Stack, client: Client, project_id: str
) -> None:
    """Runs last in this module: it stops the executor and starts a new one."""
    cases = [{"question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 5)]
    tid = await _testset(client, project_id, cases)
    v1 = [t async for t in client.testcases(tid)]
    system = await client.create_http_system(
        project_id,
        f"demo-{uuid.uuid4().hex[:6]}",
        {
            "url": stack.demo_system_url,
            "body_template": {"question": "{{ inputs.question }}"},
            "response_path": "answer",
        },
    )
    metric = await client.create_heuristic_metric(project_id, "exact", "exact_match", {"expected_field": "answer"})
    executor = next(p for p in stack.processes if p.name == "system-executor")
    executor.terminate()
    run = await client.create_run(project_id, tid, system.id, [metric.id])
    assert (run.testset_version, run.expected_records) == (1, 4)
    await client.update_testcase(tid, v1[0].id, {"question": "changed", "answer": "x"})
    await client.delete_testcases(tid, [v1[1].id])
    await client.add_testcases(tid, [{"question": "new", "answer": "y"}])
    assert (await client.get_testset(tid)).version == 4
    await stack.add_replica("system_executor")
    view = await client.wait_for_run(run.id, timeout_s=60)
    assert (view.status, view.records, view.errored_records) == ("completed", 4, 0)
    records = sorted([(r.testcase_id, dict(r.inputs), dict(r.expected)) async for r in client.records(run.id)])
    assert records == sorted(
        (t.id, {"question": c["question"]}, {"answer": c["answer"]}) for t, c in zip(v1, cases, strict=True)
    )
