"""The audit log is written ahead of the change, on the real processes: an import whose
orchestrator is SIGKILLed mid-stream stays in the log as a call with no answer (and nothing was
imported); a call whose event cannot be written is refused before it changes anything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from scorekeeper_sdk import AsyncScorekeeper, ScorekeeperError, Unavailable
from scorekeeper_sdk.models import AuditEvent
from shared.devstack.stack import Stack
from tests.support.browser import chromium, signed_in
from tests.support.cli import scorekeeper

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]


async def _events(sk: AsyncScorekeeper, project_id: str, action: str) -> list[AuditEvent]:
    return [e async for e in sk.list_audit_events(project_id, actions=[action])]


async def test_a_call_killed_mid_change_stays_in_the_log_with_no_answer(stack: Stack) -> None:
    async with stack.sdk() as admin:
        project = await admin.create_project("killed mid-import")
        key = await admin.create_api_key(project.id, "importer", "write")
        testset = await admin.create_testset(project.id, "questions", [{"question": "kept"}], inputs=["question"])
    sent = asyncio.Event()

    async def rows() -> AsyncIterator[bytes]:
        """Some rows, then a stream that never ends: the orchestrator is killed meanwhile."""
        yield b"question\n"
        for i in range(100):
            yield f"question {i}\n".encode()
        sent.set()
        await asyncio.sleep(3600)

    async with stack.sdk(key.secret) as importer:
        importing = asyncio.create_task(importer.import_testcases(testset.id, rows(), "csv"))
        await sent.wait()
        # Written before the import ran: while it runs, the log already has it, with no answer yet.
        deadline = time.monotonic() + 30
        async with stack.sdk() as admin:
            while not (running := await _events(admin, project.id, "ImportTestcases")):
                assert time.monotonic() < deadline, "the import's event was not written before it answered"
                await asyncio.sleep(0.1)
            assert [(e.outcome, e.key_name) for e in running] == [("NO_ANSWER", "importer")]
            victim = next(p for p in stack.processes if p.name == "run-orchestrator" and p.running())
            victim.kill()
            with pytest.raises(ScorekeeperError):
                await asyncio.wait_for(importing, 30)
            await stack.restart(victim)
            (event,) = await _events(admin, project.id, "ImportTestcases")
            assert (event.outcome, event.error, event.key_name, event.edge) == ("NO_ANSWER", "", "importer", "grpc")
            assert [t.ids for t in event.targets if t.field == "testset_id"] == [[testset.id]]
            # Nothing of it was imported: the testset is as it was.
            after = await admin.get_testset(testset.id)
            assert after.version == 1 and after.testcase_count == 1
            # Shown for what it is, and among the calls that did not succeed.
            (failed,) = [e async for e in admin.list_audit_events(project.id, failed_only=True)]
            assert failed.id == event.id
    listed = scorekeeper(stack, "--project", project.id, "audit", "--action", "ImportTestcases")
    assert listed.returncode == 0, listed.stderr
    # (the rest of the sentence wraps in its table cell)
    assert "no answer: still running" in listed.stdout, listed.stdout
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/audit")
        row = page.locator("#audit-table tr[data-outcome=NO_ANSWER]")
        assert " ".join((await row.inner_text()).split()).endswith(
            "no answer still running, or its service stopped before it answered:"
            " what it asked may or may not have been done"
        )


async def test_a_change_whose_event_cannot_be_written_is_refused_and_not_made(stack: Stack) -> None:
    async with stack.sdk() as admin:
        project = await admin.create_project("audit log unwritable")
        db = await asyncpg.connect(stack.database_url)
        try:
            # Every new event is refused by the database (existing ones stay).
            await db.execute("ALTER TABLE audit_events ADD CONSTRAINT no_new_events CHECK (false) NOT VALID")
            try:
                with pytest.raises(Unavailable) as refused:
                    await admin.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
                assert "the audit log cannot be written just now: nothing was changed; try again" in str(refused.value)
                assert await admin.list_metrics(project.id) == []
                # Reads are not audited: they go on.
                assert (await admin.get_project(project.id)).name == "audit log unwritable"
            finally:
                await db.execute("ALTER TABLE audit_events DROP CONSTRAINT no_new_events")
        finally:
            await db.close()
        made = await admin.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
        (event,) = await _events(admin, project.id, "CreateMetric")
        assert (event.outcome, [t.ids for t in event.targets if t.field == "created"]) == ("OK", [[made.id]])


async def test_a_call_whose_caller_went_away_says_so(stack: Stack) -> None:
    async with stack.sdk() as admin:
        project = await admin.create_project("import abandoned")
        testset = await admin.create_testset(project.id, "questions", [{"question": "kept"}], inputs=["question"])
        sent = asyncio.Event()

        async def rows() -> AsyncIterator[bytes]:
            yield b"question\n"
            yield b"a question\n"
            sent.set()
            await asyncio.sleep(3600)

        importing = asyncio.create_task(admin.import_testcases(testset.id, rows(), "csv"))
        await sent.wait()
        deadline = time.monotonic() + 30
        while not await _events(admin, project.id, "ImportTestcases"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        importing.cancel()  # the caller goes away
        with pytest.raises(asyncio.CancelledError):
            await importing
        while (event := (await _events(admin, project.id, "ImportTestcases"))[0]).error == "":
            assert time.monotonic() < deadline, event
            await asyncio.sleep(0.1)
        assert (event.outcome, event.error) == ("NO_ANSWER", "the caller went away before the answer")
        assert (await admin.get_testset(testset.id)).version == 1
