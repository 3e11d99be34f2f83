"""The run export escapes formula cells in SQL (PostgreSQL builds the CSV lines); the testset
export escapes them in Python. Both must decide alike, for every kind of leading character."""

from __future__ import annotations

import asyncpg
import pytest

from services.query.export import _text
from shared.spreadsheet import FORMULA_STARTS, escape_formula, invisible_leaders

pytestmark = [pytest.mark.postgres]

VALUES = [
    "plain",
    "",
    "=1+1",
    "+33 1 23",
    "-2",
    "@SUM(A1)",
    "\tx",
    "\r=x",
    " =1",
    "\n\u00a0+1",
    "\u200b=cmd|' /C calc'!A0",
    "\ufeff@SUM(A1)",
    "\u202e-2",
    "\u2066\u2069=1",
    "\uff1dSUM(A1)",
    "\uff0b1",
    "\uff0d1",
    "\uff20x",
    " plain",
    "\u200b",
    "a=b",
    "élan",
]


async def test_the_sql_escape_decides_as_the_python_one(db: asyncpg.Pool) -> None:
    sql = f"SELECT CASE WHEN $2::int IS NULL THEN {_text('$1::text')} END"
    starts, leaders = sorted(FORMULA_STARTS), invisible_leaders()
    for value in VALUES:
        assert await db.fetchval(sql, value, None, starts, leaders) == escape_formula(value), repr(value)
