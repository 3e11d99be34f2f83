"""Streaming parsers of imported testcase files: CSV, TSV, JSON (one array of objects) and JSONL.

Each turns an async stream of byte chunks into testcase data (one dict per row) without holding
more than one row (at most MAX_ROW_CHARS) plus one chunk in memory. A row that cannot be read
raises BadImport naming the row and, where it applies, the field.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

from services.run_orchestrator.testsets.coercion import ABSENT, ColumnTypes, coerce_cell

FORMATS = ("csv", "tsv", "json", "jsonl")
MAX_ROW_CHARS = 1 << 20


class BadImport(ValueError):
    """The file cannot be imported; the message names the row (and field)."""


def parse_format(value: str) -> str:
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {value!r}")
    return fmt


def rows(
    chunks: AsyncIterable[bytes], fmt: str, types: ColumnTypes, columns: Sequence[str] = ()
) -> AsyncIterator[dict[str, Any]]:
    """The testcases' data in file order. CSV/TSV cells are coerced to the schema's types;
    JSON values are kept as they are (the schema reports mismatches as validation errors). A
    CSV/TSV header without one of ``columns`` (the testset's inputs) refuses the file: every row
    would lack it."""
    text = _decode(chunks)
    if fmt == "csv":
        return _delimited(_lines(text), csv.excel, types, columns)
    if fmt == "tsv":
        return _delimited(_lines(text), csv.excel_tab, types, columns)
    if fmt == "jsonl":
        return _json_lines(_lines(text))
    if fmt == "json":
        return _json_array(text)
    raise ValueError(f"unknown format {fmt!r}")


async def _decode(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    offset = 0
    try:
        async for chunk in chunks:
            text = decoder.decode(chunk)
            offset += len(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BadImport(f"the file is not UTF-8 text (invalid byte near offset {offset + exc.start})") from None
    if tail:
        yield tail


async def _lines(text: AsyncIterable[str]) -> AsyncIterator[str]:
    """Lines with their line ending; the last one may have none."""
    pending = ""
    count = 0
    async for piece in text:
        pending += piece
        if "\n" not in piece:
            if len(pending) > MAX_ROW_CHARS:
                raise BadImport(f"line {count + 1} is longer than {MAX_ROW_CHARS} characters")
            continue
        *complete, pending = pending.split("\n")
        count += len(complete)
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending


async def _records(lines: AsyncIterable[str], dialect: type[csv.Dialect]) -> AsyncIterator[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank CSV record; a quoted field may span lines."""
    pending = ""
    start = line_no = 0
    async for line in lines:
        line_no += 1
        if not pending:
            start = line_no
        pending += line
        try:
            cells = next(csv.reader([pending], dialect=dialect, strict=True))
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) and len(pending) <= MAX_ROW_CHARS:
                continue  # a quoted field goes on on the next line
            raise BadImport(f"line {start}: malformed {_name(dialect)}: {exc}") from None
        except StopIteration:
            cells = []
        pending = ""
        if cells:  # a blank line is no record
            yield start, cells
    if pending:
        raise BadImport(f"line {start}: malformed {_name(dialect)}: a quoted field is not closed")


def _name(dialect: type[csv.Dialect]) -> str:
    return "TSV" if dialect.delimiter == "\t" else "CSV"


async def _delimited(
    lines: AsyncIterable[str], dialect: type[csv.Dialect], types: ColumnTypes, columns: Sequence[str]
) -> AsyncIterator[dict[str, Any]]:
    records = _records(lines, dialect)
    header: list[str] | None = None
    row = 0
    async for line_no, cells in records:
        if header is None:
            header = _header(cells)
            if missing := [name for name in columns if name not in header]:
                raise BadImport(
                    f"header: no column {', '.join(map(repr, missing))} (the testset's inputs:"
                    f" {', '.join(columns)}); the file's columns: {', '.join(header)}"
                )
            continue
        row += 1
        where = f"row {row} (line {line_no})"
        if len(cells) != len(header):
            raise BadImport(f"{where} has {len(cells)} cells, the header has {len(header)}")
        data: dict[str, Any] = {}
        for name, raw in zip(header, cells, strict=True):
            try:
                value = coerce_cell(raw, types.get(name, ()))
            except ValueError as exc:
                raise BadImport(f"{where}, field {name!r}: {exc}") from None
            if value is not ABSENT:
                data[name] = value
        yield data


def _header(cells: list[str]) -> list[str]:
    seen: set[str] = set()
    for index, name in enumerate(cells, start=1):
        if not name:
            raise BadImport(f"header: column {index} has no name")
        if name in seen:
            raise BadImport(f"header: column {name!r} appears twice")
        seen.add(name)
    return cells


async def _json_lines(lines: AsyncIterable[str]) -> AsyncIterator[dict[str, Any]]:
    line_no = 0
    async for line in lines:
        line_no += 1
        if not line.strip():
            continue
        try:
            value = json.loads(line.rstrip("\r\n"))
        except ValueError as exc:
            raise BadImport(f"line {line_no}: malformed JSON: {_json_problem(exc)}") from None
        yield _object(value, f"line {line_no}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadImport(f"{where}: a testcase must be a JSON object, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), type(value).__name__
    )


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


async def _json_array(text: AsyncIterable[str]) -> AsyncIterator[dict[str, Any]]:
    """Items of one top-level JSON array, decoded one at a time as they arrive."""
    decoder = json.JSONDecoder()
    buffer = ""
    pos = 0
    item = 0
    state = "start"  # start → "[" seen → (item → "," | "]") … → end
    chunks = aiter(text)
    at_end = False

    async def more() -> bool:
        nonlocal buffer, pos, at_end
        if at_end:
            return False
        piece = await anext(chunks, None)
        if piece is None:
            at_end = True
            return False
        buffer = buffer[pos:] + piece
        pos = 0
        return True

    while True:
        while pos < len(buffer) and buffer[pos] in " \t\r\n":
            pos += 1
        if pos >= len(buffer):
            if await more():
                continue
            if state == "end":
                return
            raise BadImport(
                "the file is empty" if state == "start" else "the JSON file ends before its array is closed"
            )
        char = buffer[pos]
        if state == "end":
            raise BadImport(f"unexpected {char!r} after the end of the JSON array")
        if state == "start":
            if char != "[":
                raise BadImport("a JSON file must hold one array of testcase objects")
            pos += 1
            state = "first"
            continue
        if char == "]" and state in ("first", "next"):
            pos += 1
            state = "end"
            continue
        if state == "next":
            if char != ",":
                raise BadImport(f"item {item}: expected ',' or ']' after it, got {char!r}")
            pos += 1
            state = "item"
            continue
        # An item: it is complete once decoding succeeds with something after it in the buffer
        # (a number at the end of a chunk could go on in the next one).
        try:
            value, end = decoder.raw_decode(buffer, pos)
            complete = end < len(buffer) or at_end
        except json.JSONDecodeError as exc:
            if not at_end and len(buffer) - pos <= MAX_ROW_CHARS:
                complete = False
            else:
                raise BadImport(
                    f"item {item + 1}: malformed JSON: {exc.msg} at character {exc.pos - pos + 1} of the item"
                ) from None
        if not complete:
            await more()
            continue
        item += 1
        yield _object(value, f"item {item}")
        pos = end
        state = "next"
