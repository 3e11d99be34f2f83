"""Helpers of the end-to-end tests of ListRecords over the seeded project (tests/support/query_seed.py)."""

from __future__ import annotations

from typing import Any

from scorekeeper_sdk import Client
from scorekeeper_sdk.client import qpb
from services.query.api import QueryApi
from tests.support import query_seed
from tests.support.query_seed import PLANS, Seeded


async def record_keys(client: Client, seeded: Seeded) -> dict[str, tuple[str, int]]:
    """record id → (plan name, testcase index)."""
    keys = {}
    for plan in PLANS:
        index = {t: i for i, t in enumerate(seeded.testcases[plan.testset])}
        async for r in client.records(seeded.runs[plan.name]):
            keys[r.id] = (plan.name, index[r.testcase_id])
    return keys


def plan(name: str) -> query_seed.RunPlan:
    return next(p for p in PLANS if p.name == name)


def expected_where(predicate: Any) -> set[tuple[str, int]]:
    return {(p.name, i) for p in PLANS for i in range(len(p.answers)) if predicate(p, i)}


def value(metric: str, p: query_seed.RunPlan, i: int) -> float | None:
    if p.answers[i] is None:
        return None
    status, number = query_seed.score(metric, p, i)
    return number if status == "completed" else None


async def listed(client: Client, page_size: int = 1000, **filters: Any) -> list[qpb.RecordView]:
    return [r async for r in client.list_records(page_size=page_size, **filters)]


async def pages(api: QueryApi, project: str, asked: dict[str, Any], order_by: str, size: int) -> list[str]:
    """Every page of a ListRecords, in-process (the service's code, with any patches), as record ids."""
    seen: list[str] = []
    token = ""
    while True:
        request = qpb.ListRecordsRequest(
            project_id=project, order_by=order_by, page_size=size, page_token=token, **asked
        )
        page = await api.list_records(request)
        seen += [r.id for r in page.records]
        token = page.next_page_token
        if not token:
            return seen
