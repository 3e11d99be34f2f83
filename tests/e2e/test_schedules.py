"""Scheduled runs on the real processes: a schedule fires when its time comes (moved into the past
in the database, as the clock would), once per due time — a firing taken over finds its run —,
runs the system's production version with the source `schedule`; run now; a firing that cannot
make a run says why and moves on; paused ones do not fire; bad input refused clearly; keys of
another project or of the read role refused; the console's page."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from scorekeeper_sdk import (
    AlreadyExists,
    AsyncScorekeeper,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from scorekeeper_sdk.models import Schedule
from shared.devstack import scenario
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

TESTCASES = 6


async def _due(stack: Stack, schedule_id: str, at: datetime | None = None) -> datetime:
    """The schedule's next due time moved to ``at`` (a second ago by default), as time passing
    would; returns it."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        moved: datetime = await conn.fetchval(
            "UPDATE schedules SET next_run_at = coalesce($2, now() - interval '1 second') WHERE id = $1"
            " RETURNING next_run_at",
            uuid.UUID(schedule_id),
            at,
        )
        return moved
    finally:
        await conn.close()


async def _fired(sk: AsyncScorekeeper, project_id: str, name: str, after: str, timeout_s: float = 30) -> Schedule:
    """The schedule once it has fired after ``after`` (its last_fired_at)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {s.name: s for s in await sk.list_schedules(project_id)}[name]
        if found.last_fired_at and found.last_fired_at != after:
            return found
        assert time.monotonic() < deadline, f"schedule {name!r} did not fire"
        await asyncio.sleep(0.2)


async def admin_run(stack: Stack, ids: scenario.DemoIds) -> str:
    """A run of the project no schedule kicked off."""
    async with stack.client() as admin:
        run = await admin.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])
    return run.id


async def _runs(sk: AsyncScorekeeper, project_id: str) -> list[str]:
    return [r.id async for r in sk.list_runs(project_id, sources=["schedule"])]


async def test_a_schedule_fires_once_per_due_time_with_the_production_version(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"sched {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "sched", "write")).secret
    async with stack.sdk(key) as sk:
        # A system without versions has no production version to run.
        empty = await sk.create_system(ids.project_id, "not built yet")
        with pytest.raises(FailedPrecondition, match="system 'not built yet' has no production version"):
            await sk.create_schedule(
                ids.project_id, "nightly", "0 2 * * *", ids.testset_id, ids.metric_ids, system_id=empty.id
            )
        system = next(s.system for s in await sk.list_systems(ids.project_id) if s.system.id != empty.id)
        await sk.set_production_version(system.id, ids.system_version_id)
        made = await sk.create_schedule(
            ids.project_id,
            "nightly",
            "0 2 * * *",
            ids.testset_id,
            ids.metric_ids,
            system_id=system.id,
            tags=["nightly"],
        )
        now = datetime.now(UTC)
        tomorrow_2am = (now + timedelta(days=1 if now.hour >= 2 else 0)).replace(
            hour=2, minute=0, second=0, microsecond=0
        )
        assert datetime.fromisoformat(made.next_run_at) == tomorrow_2am
        assert (made.cron, made.system_id, made.system_version_id, made.last_run_id) == ("0 2 * * *", system.id, "", "")

        # Its time comes: one run, of the production version, source schedule, with its tags.
        due_at = await _due(stack, made.id)
        fired = await _fired(sk, ids.project_id, "nightly", "")
        assert fired.last_error == "" and fired.last_run_id
        assert datetime.fromisoformat(fired.next_run_at) == tomorrow_2am
        run = await sk.wait_for_run(fired.last_run_id, timeout_s=60)
        assert (run.status, run.source, run.tags, run.records) == ("completed", "schedule", ["nightly"], TESTCASES)
        assert run.system_version_id == ids.system_version_id
        assert run.notes == "Scheduled run 'nightly' (0 2 * * * UTC)"
        assert (run.created_by, run.created_by_key_prefix) == ("schedule 'nightly'", "")
        assert (run.schedule_id, run.schedule_name) == (made.id, "nightly")

        # The same due time fired again (a replica taking over after a crash): the same run, no other.
        await _due(stack, made.id, due_at)
        again = await _fired(sk, ids.project_id, "nightly", fired.last_fired_at)
        assert again.last_run_id == fired.last_run_id
        assert await _runs(sk, ids.project_id) == [fired.last_run_id]

        # Run now: another run; the due time stays.
        now_run = await sk.run_schedule_now(made.id)
        assert now_run.source == "schedule" and now_run.id != fired.last_run_id
        assert (now_run.created_by, now_run.created_by_key_prefix) == ("sched", key[:15])  # who pressed it
        listed = (await sk.list_schedules(ids.project_id))[0]
        assert listed.last_run_id == now_run.id and listed.next_run_at == fired.next_run_at
        assert (await sk.wait_for_run(now_run.id, timeout_s=60)).status == "completed"
        # Its runs, listed and charted together: the firing's and the Run now's, no other run.
        other = await sk.create_run(ids.project_id, ids.testset_id, ids.system_version_id, ids.metric_ids[:1])
        of_schedule = [r.id async for r in sk.list_runs(ids.project_id, schedule_id=made.id)]
        assert of_schedule == [now_run.id, fired.last_run_id] and other.id not in of_schedule
        (series,) = await sk.run_history(ids.project_id, ids.metric_ids[:1], schedule_id=made.id)
        assert [p.run_id for p in series.points] == [fired.last_run_id, now_run.id]
        with pytest.raises(InvalidArgument, match="schedule_id"):
            await anext(sk.list_runs(ids.project_id, schedule_id="nightly"))

        # A firing that cannot make a run says why, and moves on to its next due time.
        await sk.archive_metric(ids.metric_ids[0])
        await _due(stack, made.id)
        failed = await _fired(sk, ids.project_id, "nightly", listed.last_fired_at)
        assert failed.last_run_id == "" and "is archived: unarchive it to score with it" in failed.last_error
        assert datetime.fromisoformat(failed.next_run_at) == tomorrow_2am
        await sk.unarchive_metric(ids.metric_ids[0])
        assert len(await _runs(sk, ids.project_id)) == 2

        # Paused: its time passes and nothing fires; resumed, it waits for its next due time.
        paused = await sk.update_schedule(made.id, paused=True)
        assert paused.paused_at and paused.next_run_at == ""
        await _due(stack, made.id)
        await asyncio.sleep(2.5)
        assert (await sk.list_schedules(ids.project_id))[0].last_fired_at == failed.last_fired_at
        resumed = await sk.update_schedule(made.id, paused=False, cron="30 * * * *", name="half past")
        assert (resumed.name, resumed.cron, resumed.paused_at) == ("half past", "30 * * * *", "")
        assert datetime.fromisoformat(resumed.next_run_at).minute == 30
        assert datetime.fromisoformat(resumed.next_run_at) > datetime.now(UTC)
        assert len(await _runs(sk, ids.project_id)) == 2

        # In a time zone: 02:00 in Kolkata (+05:30, no summer time) is 20:30 UTC the day before.
        zoned = await sk.update_schedule(made.id, cron="0 2 * * *", timezone="Asia/Kolkata")
        assert (zoned.cron, zoned.timezone) == ("0 2 * * *", "Asia/Kolkata")
        due = datetime.fromisoformat(zoned.next_run_at)
        assert (due.hour, due.minute) == (20, 30) and timedelta(0) < due - datetime.now(UTC) <= timedelta(days=1)
        zoned_run = await sk.run_schedule_now(made.id)
        assert zoned_run.notes == "Scheduled run 'half past' (0 2 * * * Asia/Kolkata)"
        assert (await sk.get_run(fired.last_run_id)).schedule_name == "half past"  # its name now

        assert (await sk.delete_schedule(made.id)).name == "half past"
        assert await sk.list_schedules(ids.project_id) == []
        with pytest.raises(NotFound, match=f"schedule {made.id} does not exist"):
            await sk.run_schedule_now(made.id)
        # Its runs stay, naming it by its id alone, and are still listed by it.
        assert len(await _runs(sk, ids.project_id)) == 3
        kept = await sk.get_run(zoned_run.id)
        assert (kept.schedule_id, kept.schedule_name) == (made.id, "")
        assert [r.id async for r in sk.list_runs(ids.project_id, schedule_id=made.id)] == [
            zoned_run.id,
            now_run.id,
            fired.last_run_id,
        ]


async def test_bad_schedules_and_other_keys_are_refused(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(
            admin, stack.demo_system_url, TESTCASES, name=f"sched rules {uuid.uuid4().hex[:6]}"
        )
        other = await scenario.prepare(admin, stack.demo_system_url, 2, name=f"sched other {uuid.uuid4().hex[:6]}")
        reader = (await admin.create_api_key(ids.project_id, "reader", "read")).secret
        stranger = (await admin.create_api_key(other.project_id, "stranger", "write")).secret
    async with stack.sdk() as sk:
        args = (ids.project_id, "s", "0 * * * *", ids.testset_id, ids.metric_ids)
        version: dict[str, Any] = {"system_version_id": ids.system_version_id}
        for cron, message in [
            ("0 2 * *", "cron must have 5 fields (minute hour day-of-month month day-of-week), got 4: '0 2 * *'"),
            ("0 2 * * * *", "cron must have 5 fields"),
            ("61 * * * *", "cron '61 * * * *' is not a cron expression"),
        ]:
            with pytest.raises(InvalidArgument, match=re.escape(message)):
                await sk.create_schedule(ids.project_id, "s", cron, ids.testset_id, ids.metric_ids, **version)
        with pytest.raises(InvalidArgument, match="timezone 'Mars/Olympus' is not an IANA time zone"):
            await sk.create_schedule(*args, **version, timezone="Mars/Olympus")
        with pytest.raises(InvalidArgument, match="name exactly one of system_version_id"):
            await sk.create_schedule(*args)
        system = (await sk.list_systems(ids.project_id))[0].system
        with pytest.raises(InvalidArgument, match="name exactly one of system_version_id"):
            await sk.create_schedule(*args, system_id=system.id, **version)
        with pytest.raises(InvalidArgument, match="name at least one metric"):
            await sk.create_schedule(ids.project_id, "s", "0 * * * *", ids.testset_id, **version)
        with pytest.raises(InvalidArgument, match=re.escape("trials must be within 1..100, got 1000")):
            await sk.create_schedule(*args, trials=1000, **version)
        # The instance admin key passes the guard for any project: the schedule's own checks refuse.
        with pytest.raises(NotFound, match=f"testset {other.testset_id} does not exist in project {ids.project_id}"):
            await sk.create_schedule(ids.project_id, "s", "0 * * * *", other.testset_id, ids.metric_ids, **version)
        with pytest.raises(NotFound, match=f"system version {other.system_version_id} does not exist in project"):
            await sk.create_schedule(*args, system_version_id=other.system_version_id)
        with pytest.raises(NotFound, match=re.escape(f"metric(s) {other.metric_ids[0]} do not exist in project")):
            await sk.create_schedule(ids.project_id, "s", "0 * * * *", ids.testset_id, other.metric_ids[:1], **version)
        assert await sk.list_schedules(ids.project_id) == []
        made = await sk.create_schedule(*args, **version, paused=True)
        assert made.paused_at and made.next_run_at == ""
        with pytest.raises(AlreadyExists, match="the project already has a schedule named 's'"):
            await sk.create_schedule(*args, **version)
        with pytest.raises(InvalidArgument, match="cron must have 5 fields"):
            await sk.update_schedule(made.id, cron="daily")
        with pytest.raises(InvalidArgument, match=re.escape("timezone '../../etc/localtime' is not")):
            await sk.update_schedule(made.id, timezone="../../etc/localtime")
        other_one = await sk.create_schedule(
            ids.project_id, "t", "0 * * * *", ids.testset_id, ids.metric_ids, **version
        )
        with pytest.raises(AlreadyExists, match="the project already has a schedule named 's'"):
            await sk.update_schedule(other_one.id, name="s")
        assert [s.name for s in await sk.list_schedules(ids.project_id)] == ["s", "t"]
        await sk.delete_schedule(other_one.id)
    async with stack.sdk(reader) as sk:
        assert [s.name for s in await sk.list_schedules(ids.project_id)] == ["s"]
        with pytest.raises(PermissionDenied):
            await sk.run_schedule_now(made.id)
    async with stack.sdk(stranger) as sk:
        with pytest.raises(NotFound, match=f"schedule {made.id} does not exist"):
            await sk.update_schedule(made.id, paused=False)
        with pytest.raises(NotFound, match=f"schedule {made.id} does not exist"):
            await sk.delete_schedule(made.id)
        with pytest.raises(NotFound, match=f"schedule {made.id} does not exist"):
            await anext(sk.list_runs(other.project_id, schedule_id=made.id))


async def test_the_console_makes_runs_now_pauses_and_deletes_schedules(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"sched page {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "pages", "write")).secret
        reader = (await admin.create_api_key(ids.project_id, "reader", "read")).secret
    base = f"/projects/{ids.project_id}/schedules"
    async with stack.sdk(key) as sk:
        system = (await sk.list_systems(ids.project_id))[0].system
        metrics = {m.id: m.name for m in await sk.list_metrics(ids.project_id)}
    async with chromium() as browser:
        context, page = await signed_in(browser, stack.console_url, key)
        await page.goto(f"/projects/{ids.project_id}/runs")
        await page.locator("#schedules-link").click()
        await page.wait_for_url(f"**{base}")
        assert "No schedules yet" in await page.locator("#schedules-table").inner_text()
        form = page.locator("#new-schedule-form")
        await form.locator("input[name=name]").fill("nightly")
        await form.locator("input[name=cron]").fill("0 2 * *")
        await form.locator("select[name=testset_id]").select_option(ids.testset_id)
        await form.locator("select[name=system]").select_option(f"system:{system.id}")
        await form.locator(f"input[name=metric_id][value='{ids.metric_ids[0]}']").check()
        await form.locator("input[name=tags]").fill("nightly")
        await form.locator("button[type=submit]").click()
        await page.wait_for_load_state()
        assert "cron must have 5 fields" in await page.locator("#schedule-error").inner_text()
        assert await form.locator("select[name=system]").input_value() == f"system:{system.id}"
        await form.locator("input[name=cron]").fill("0 2 * * *")
        await form.locator("input[name=timezone]").fill("Europe/Berlin")
        await form.locator("button[type=submit]").click()
        await page.wait_for_url("**done=*")
        assert await page.locator("#done").inner_text() == "Created nightly."
        (made,) = await sk_schedules(stack, key, ids.project_id)
        assert (made.cron, made.timezone, made.system_id, made.metric_ids, made.tags) == (
            "0 2 * * *",
            "Europe/Berlin",
            system.id,
            [ids.metric_ids[0]],
            ["nightly"],
        )
        row = page.locator(f"tr[data-schedule='{made.id}']")
        assert await row.locator(".timezone").inner_text() == "Europe/Berlin"
        due = datetime.fromisoformat(made.next_run_at)  # 02:00 in Berlin: 01:00 UTC in winter, 00:00 in summer
        assert await row.locator(".next-due").inner_text() == f"next {due:%Y-%m-%d} 02:00 ({due:%Y-%m-%d %H}:00 UTC)"
        text = await row.inner_text()
        assert "next " in text and "production version" in text and metrics[ids.metric_ids[0]] in text
        await screenshot(page, "schedules")
        # Its runs, before it made any: the list says whose runs it would show.
        await page.goto(f"/projects/{ids.project_id}/runs?schedule={made.id}")
        assert (await page.locator("#schedule-runs").inner_text()).startswith("The runs of the schedule nightly ·")
        await page.goto(base)
        # Changed on its page: refused as typed (kept to fix), then saved.
        await row.locator("a.schedule-name").click()
        await page.wait_for_url(f"**{base}/{made.id}")
        edit = page.locator("#edit-schedule-form")
        assert await edit.locator("input[name=timezone]").input_value() == "Europe/Berlin"
        assert await edit.locator("select[name=system]").input_value() == f"system:{system.id}"
        await edit.locator("input[name=cron]").fill("30 3 * *")
        await edit.locator("input[name=timezone]").fill("Asia/Tokyo")
        await edit.locator(f"input[name=metric_id][value='{ids.metric_ids[1]}']").check()
        await edit.locator("input[name=tags]").fill("nightly, edited")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_load_state()
        assert "Nothing was saved: cron must have 5 fields" in await page.locator("#schedule-error").inner_text()
        assert await edit.locator("input[name=timezone]").input_value() == "Asia/Tokyo"
        await edit.locator("input[name=cron]").fill("30 3 * * *")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_url("**done=*")
        assert await page.locator("#done").inner_text() == "Saved nightly."
        (edited,) = await sk_schedules(stack, key, ids.project_id)
        assert (edited.cron, edited.timezone, edited.metric_ids, edited.tags, edited.system_id) == (
            "30 3 * * *",
            "Asia/Tokyo",
            ids.metric_ids[:2],
            ["nightly", "edited"],
            system.id,
        )
        # Run now: to the run's page; the list then links the run.
        await row.locator("button", has_text="Run now").click()
        await page.wait_for_url(f"**/projects/{ids.project_id}/runs/*")
        run_id = page.url.rsplit("/", 1)[1]
        assert "Schedule" in await page.locator("main").inner_text()
        await page.goto(base)
        assert run_id[:8] in await row.inner_text()
        assert await row.locator("a.schedule-runs").get_attribute("href") == (
            f"/projects/{ids.project_id}/runs?schedule={made.id}"
        )
        await row.locator("button", has_text="Pause").click()
        await page.wait_for_url("**done=*")
        assert await page.locator("#done").inner_text() == "Paused nightly."
        assert "paused" in await row.inner_text()
        # Its own page has the same buttons, and their answers come back to it.
        await page.goto(f"{base}/{made.id}")
        await page.locator(".schedule-actions button", has_text="Resume").click()
        await page.wait_for_url(f"**{base}/{made.id}?done=*")
        assert await page.locator("#done").inner_text() == "Resumed nightly."
        assert "next " in await page.locator("#schedule-when").inner_text()
        await screenshot(page, "schedule-page")
        await page.locator(".schedule-actions button", has_text="Run now").click()
        await page.wait_for_url(f"**/projects/{ids.project_id}/runs/*")
        second_id = page.url.rsplit("/", 1)[1]
        assert second_id != run_id
        # The run names its schedule; its runs are listed (and charted) together.
        assert await page.locator("#run-schedule").inner_text() == "of the schedule nightly · its runs"
        other = await admin_run(stack, ids)
        await page.goto(f"{base}/{made.id}")
        await page.locator("#schedule-runs-link").click()
        await page.wait_for_url(f"**/projects/{ids.project_id}/runs?schedule={made.id}")
        assert (await page.locator("#schedule-runs").inner_text()).startswith("The runs of the schedule nightly")
        listed = await page.locator("#runs-table tbody tr[data-run]").evaluate_all(
            "rows => rows.map(r => r.dataset.run)"
        )
        assert listed == [second_id, run_id] and other not in listed
        await screenshot(page, "schedule-runs")
        await context.close()
        # A read key sees the schedules and nothing that changes them.
        context, page = await signed_in(browser, stack.console_url, reader)
        await page.goto(base)
        assert await page.locator("#new-schedule-form").count() == 0
        assert await page.locator("#schedules-table button").count() == 0
        assert "nightly" in await page.locator("#schedules-table").inner_text()
        await page.goto(f"{base}/{made.id}")
        assert await page.locator(".schedule-actions").count() == 0
        await context.close()
        context, page = await signed_in(browser, stack.console_url, key)
        await page.goto(base)
        await page.locator("summary", has_text="Delete").click()
        await page.locator("button", has_text="Delete nightly").click()
        await page.wait_for_url("**done=*")
        assert await page.locator("#done").inner_text() == "Deleted nightly: the runs it made stay."
        assert await sk_schedules(stack, key, ids.project_id) == []
        await context.close()


async def sk_schedules(stack: Stack, key: str, project_id: str) -> list[Schedule]:
    async with stack.sdk(key) as sk:
        return await sk.list_schedules(project_id)


async def test_what_a_schedule_runs_is_changed_and_its_next_run_runs_it(stack: Stack) -> None:
    async with stack.client() as admin:
        ids = await scenario.prepare(admin, stack.demo_system_url, TESTCASES, name=f"sched edit {uuid.uuid4().hex[:6]}")
        other = await scenario.prepare(admin, stack.demo_system_url, 2, name=f"sched edit other {uuid.uuid4().hex[:6]}")
        key = (await admin.create_api_key(ids.project_id, "editor", "write")).secret
    async with stack.sdk(key) as sk:
        made = await sk.create_schedule(
            ids.project_id,
            "nightly",
            "0 2 * * *",
            ids.testset_id,
            ids.metric_ids[:1],
            system_version_id=ids.system_version_id,
            tags=["old"],
        )
        questions = [{"question": f"q{i}", "answer": "a"} for i in range(3)]
        smaller = await sk.create_testset(
            ids.project_id, "three questions", questions, inputs=["question"], expected=["answer"]
        )
        system = (await sk.list_systems(ids.project_id))[0].system
        await sk.set_production_version(system.id, ids.system_version_id)
        changed = await sk.update_schedule(
            made.id,
            testset_id=smaller.id,
            system_id=system.id,
            metric_ids=ids.metric_ids[1:3],
            trials=2,
            tags=["nightly", "main"],
        )
        assert (
            changed.testset_id,
            changed.system_id,
            changed.system_version_id,
            changed.metric_ids,
            changed.trials,
            changed.tags,
        ) == (smaller.id, system.id, "", ids.metric_ids[1:3], 2, ["nightly", "main"])
        assert (changed.cron, changed.next_run_at) == (made.cron, made.next_run_at)  # when it fires: unchanged
        run = await sk.wait_for_run((await sk.run_schedule_now(made.id)).id, timeout_s=60)
        assert (run.testset_id, run.system_version_id, run.trials, run.tags, run.records) == (
            smaller.id,
            ids.system_version_id,
            2,
            ["nightly", "main"],
            6,
        )
        assert [m.metric_id for m in run.metrics] == ids.metric_ids[1:3]
        assert (await sk.update_schedule(made.id, tags=[])).tags == []

        # Refused, and nothing changed: what the schedule runs is checked as when it was made.
        refusals: list[tuple[dict[str, Any], type[Exception], str]] = [
            (
                {"system_id": system.id, "system_version_id": ids.system_version_id},
                InvalidArgument,
                "name exactly one of system_version_id",
            ),
            ({"metric_ids": [], "metric_group_id": ""}, InvalidArgument, "name at least one metric"),
            ({"trials": 101}, InvalidArgument, "trials must be within 1..100, got 101"),
            ({"testset_id": other.testset_id}, NotFound, f"testset {other.testset_id} does not exist"),
            ({"metric_ids": other.metric_ids[:1]}, NotFound, f"metric {other.metric_ids[0]} does not exist"),
            ({"tags": ["x" * 101]}, InvalidArgument, "tags must be 1..100 characters"),
        ]
        for kwargs, error, message in refusals:
            with pytest.raises(error, match=re.escape(message)):
                await sk.update_schedule(made.id, **kwargs)
        await sk.archive_metric(ids.metric_ids[0])
        with pytest.raises(FailedPrecondition, match="is archived: unarchive it to score with it"):
            await sk.update_schedule(made.id, metric_ids=ids.metric_ids[:1])
        (kept,) = await sk.list_schedules(ids.project_id)
        assert (kept.testset_id, kept.system_id, kept.metric_ids, kept.trials, kept.tags) == (
            smaller.id,
            system.id,
            ids.metric_ids[1:3],
            2,
            [],
        )
