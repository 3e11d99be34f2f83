"""Call retention on the real processes: a project that keeps its logged calls for a day loses the
older ones (aged in the database, as time would) within a pass of the orchestrator's task — but not
those a monitor's open window holds, which are still scored when it closes —, while a project that
keeps them for ever keeps them; a call forgotten and logged again is a new call. Under the
instance's limit (SCOREKEEPER_CALL_RETENTION_MAX_DAYS) no project keeps them longer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from scorekeeper_sdk import AsyncScorekeeper, InvalidArgument
from scorekeeper_sdk.api.monitors import CallIn
from shared.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.support.browser import chromium, signed_in
from tests.support.monitors import settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str, template_database: str, bus_url: str
) -> AsyncIterator[Stack]:
    """A stack whose orchestrator looks for calls to delete twice a second, keeping none longer than
    3,000 days."""
    env = {"SCOREKEEPER_RETENTION_TICK_S": "0.5", "SCOREKEEPER_CALL_RETENTION_MAX_DAYS": "3000"}
    async with running_stack(tmp_path_factory, pg_server, template_database, bus_url, env=env) as running:
        yield running


async def _stored(conn: asyncpg.Connection, project_id: str) -> set[str]:
    rows = await conn.fetch("SELECT id FROM logged_calls WHERE project_id = $1", uuid.UUID(project_id))
    return {str(r["id"]) for r in rows}


async def test_calls_older_than_the_project_keeps_them_go_but_an_open_window_s_stay(stack: Stack) -> None:
    async with stack.sdk() as admin:
        with pytest.raises(InvalidArgument, match=r"call_retention_days must be 0 \(kept for ever\) or 1..3,650"):
            await admin.create_project(f"forgets {uuid.uuid4().hex[:6]}", call_retention_days=-1)
        daily = await admin.create_project(f"forgets {uuid.uuid4().hex[:6]}", call_retention_days=1)
        keeper = await admin.create_project(f"keeps {uuid.uuid4().hex[:6]}")
        assert (daily.call_retention_days, keeper.call_retention_days) == (1, 0)
        sk: AsyncScorekeeper = admin
        metric = await sk.create_heuristic_metric(daily.id, "polite", "contains", {"value": "please"})
        monitor = await sk.create_monitor(
            daily.id, "checkout", [metric.id], sample_rate=100, window_calls=5, metadata_filter={"route": "checkout"}
        )
        waiting = [CallIn(outputs={"response": "please"}, metadata={"route": "checkout"}) for _ in range(4)]
        others = [CallIn(outputs={"response": "no"}, metadata={"route": "search"}) for _ in range(6)]
        assert (await sk.log_calls(daily.id, [*waiting, *others])).sampled == 4
        kept_calls = [CallIn(outputs={"response": "x"}) for _ in range(3)]
        await sk.log_calls(keeper.id, kept_calls)
        conn = await asyncpg.connect(stack.database_url)
        try:
            # Two days pass.
            await conn.execute("UPDATE logged_calls SET logged_at = logged_at - interval '2 days'")
            deadline = time.monotonic() + 30
            while await _stored(conn, daily.id) != {c.call_id for c in waiting}:
                assert time.monotonic() < deadline, "the old calls were not deleted"
                await asyncio.sleep(0.2)
            assert await _stored(conn, keeper.id) == {c.call_id for c in kept_calls}
            # The open window still closes with every call it held, scored.
            last = CallIn(outputs={"response": "please"}, metadata={"route": "checkout"})
            await sk.log_calls(daily.id, [last])
            detail = await settled(sk, monitor.id, 1)
            run = await sk.get_run(detail.windows[0].run_id)
            assert (run.records, run.metrics[0].scored, run.metrics[0].pass_rate) == (5, 5, 1.0)
            # A forgotten call logged again is stored again.
            again = await sk.log_calls(daily.id, [others[0]])
            assert (again.stored, again.duplicates) == (1, 0)
        finally:
            await conn.close()


async def test_under_the_instances_limit_no_project_keeps_its_calls_longer(stack: Stack) -> None:
    limit_error = r"call_retention_days must be at most 3,000: this instance keeps logged calls at most 3,000 days"
    async with stack.sdk() as admin:
        with pytest.raises(InvalidArgument, match=limit_error):
            await admin.create_project(f"hoards {uuid.uuid4().hex[:6]}", call_retention_days=3001)
        project = await admin.create_project(f"as allowed {uuid.uuid4().hex[:6]}")
        assert (project.call_retention_days, project.call_retention_limit_days, project.calls_kept_days) == (
            0,
            3000,
            3000,
        )
        with pytest.raises(InvalidArgument, match=limit_error):
            await admin.update_project(project.id, call_retention_days=3650)
        calls = [CallIn(outputs={"response": "x"}) for _ in range(3)]
        await admin.log_calls(project.id, calls)
        conn = await asyncpg.connect(stack.database_url)
        try:
            # Two of them were logged 3,001 days ago: past the instance's limit, though the project says 0.
            await conn.execute(
                "UPDATE logged_calls SET logged_at = logged_at - interval '3001 days' WHERE id = ANY($1::uuid[])",
                [uuid.UUID(c.call_id) for c in calls[:2]],
            )
            deadline = time.monotonic() + 30
            while await _stored(conn, project.id) != {calls[2].call_id}:
                assert time.monotonic() < deadline, "the calls past the instance's limit were not deleted"
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
    async with chromium() as browser:
        context, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/keys")
        await page.locator("#project-settings summary").click()
        help_text = await page.locator("#retention-help").inner_text()
        assert "This instance keeps them at most 3,000 days: 0 keeps them that long." in help_text
        assert await page.locator("#project-form input[name=call_retention_days]").get_attribute("max") == "3000"
        await context.close()
