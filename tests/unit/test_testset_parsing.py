"""Streaming parsers of imported files: exact rows, exact errors with row numbers and fields."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.run_orchestrator.testsets.coercion import ColumnTypes
from services.run_orchestrator.testsets.parsing import BadImport, parse_format, rows

TYPES: ColumnTypes = {"n": ("integer",), "ok": ("boolean",), "tags": ("array",), "x": ("number", "null")}


def _parse(raw: bytes, fmt: str, chunk: int, types: ColumnTypes = TYPES) -> list[dict[str, Any]]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), chunk):
            yield raw[i : i + chunk]

    async def collect() -> list[dict[str, Any]]:
        return [r async for r in rows(chunks(), fmt, types)]

    return asyncio.run(collect())


CHUNKS = [1, 3, 64, 1 << 16]


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("csv", b"q,n,ok\r\na,1,true\r\nb,2,false\r\n", [{"q": "a", "n": 1, "ok": True}, {"q": "b", "n": 2, "ok": False}]),  # noqa: E501
        ("csv", b'q,tags\n"multi\nline, ""quoted""","[1, ""a""]"\n', [{"q": 'multi\nline, "quoted"', "tags": [1, "a"]}]),  # noqa: E501
        ("csv", b"\xef\xbb\xbfq,x\na,\n\nb,null\nc,2.5", [{"q": "a", "x": None}, {"q": "b", "x": None}, {"q": "c", "x": 2.5}]),  # noqa: E501
        ("csv", b"q,n\na,\n", [{"q": "a"}]),
        ("tsv", b"q\tn\nhello, world\t3\n", [{"q": "hello, world", "n": 3}]),
        ("jsonl", b'{"q": "a", "n": "1"}\n\n{"q": "\xc3\xa9"}', [{"q": "a", "n": "1"}, {"q": "\u00e9"}]),
        ("json", b' [ {"q": "a", "n": 10}, {"q": "b", "x": 1.5e2} ] ', [{"q": "a", "n": 10}, {"q": "b", "x": 150.0}]),
        ("json", b"[]", []),
    ],
)  # fmt: skip
def test_rows(fmt: str, raw: bytes, expected: list[dict[str, Any]], chunk: int) -> None:
    assert _parse(raw, fmt, chunk) == expected


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(
    ("fmt", "raw", "message"),
    [
        ("csv", b"q,n\na,1\nb,two\n", "row 2 (line 3), field 'n': 'two' is not an integer"),
        ("csv", b'q,tags\n"a\nb",[]\nc,1\n', "row 2 (line 4), field 'tags': '1' is not a JSON array"),
        ("csv", b"q,n\na,1,2\n", "row 1 (line 2) has 3 cells, the header has 2"),
        ("csv", b"q,n\na\n", "row 1 (line 2) has 1 cells, the header has 2"),
        ("csv", b'q,n\n"a"b,1\n', "line 2: malformed CSV: ',' expected after '\"'"),
        ("csv", b'q,n\na,"1\n', "line 2: malformed CSV: a quoted field is not closed"),
        ("csv", b"q,,n\n", "header: column 2 has no name"),
        ("csv", b"q,q\n", "header: column 'q' appears twice"),
        ("tsv", b"q\tok\na\tmaybe\n", "row 1 (line 2), field 'ok': 'maybe' is not a boolean (true or false)"),
        ("csv", b"q\n\xff\n", "the file is not UTF-8 text (invalid byte near offset 2)"),
        ("jsonl", b'{"q": 1}\n{"q": }\n', "line 2: malformed JSON: Expecting value at column 7"),
        ("jsonl", b'"text"\n', "line 1: a testcase must be a JSON object, got a string"),
        ("json", b'{"q": 1}', "a JSON file must hold one array of testcase objects"),
        ("json", b'[{"q": 1} {"q": 2}]', "item 1: expected ',' or ']' after it, got '{'"),
        ("json", b'[{"q": 1}, {"q": }]', "item 2: malformed JSON: Expecting value at character 7 of the item"),
        ("json", b'[{"q": 1}, null]', "item 2: a testcase must be a JSON object, got null"),
        ("json", b'[{"q": 1},', "the JSON file ends before its array is closed"),
        ("json", b"[] []", "unexpected '[' after the end of the JSON array"),
        ("json", b"", "the file is empty"),
    ],
)  # fmt: skip
def test_bad_rows(fmt: str, raw: bytes, message: str, chunk: int) -> None:
    with pytest.raises(BadImport) as exc:
        _parse(raw, fmt, chunk)
    assert str(exc.value) == message


def test_a_json_number_split_across_chunks_is_read_whole() -> None:
    assert _parse(b'[{"n": 12345}]', "json", 10, {}) == [{"n": 12345}]
    with pytest.raises(BadImport, match=r"^item 1: a testcase must be a JSON object, got a number$"):
        _parse(b"[12345]", "json", 3, {})


@pytest.mark.parametrize(("value", "fmt"), [("csv", "csv"), (" JSONL ", "jsonl"), ("TSV", "tsv"), ("json", "json")])
def test_parse_format(value: str, fmt: str) -> None:
    assert parse_format(value) == fmt


def test_parse_format_rejects() -> None:
    with pytest.raises(ValueError, match=r"^format must be one of csv, tsv, json, jsonl, got 'xls'$"):
        parse_format("xls")
