"""A monitor's alert judged per slice, on the real processes: the thresholds (and the share of errored
calls, the 95th percentile latency) are judged within each value of the alert's slice fields too, so
one kind of traffic falling below fires though the whole window stays above; a slice with fewer
scored calls than min_slice_calls is not judged; the window keeps its slices below; the CLI and the
console show and change them."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from scorekeeper_sdk import AsyncScorekeeper, CallIn, FeedbackIn, InvalidArgument
from scorekeeper_sdk.views.monitors import WindowErrorSlice, WindowLatencySlice, WindowSlice
from shared.devstack.stack import Stack
from tests.support.browser import chromium, screenshot, signed_in
from tests.support.cli import scorekeeper
from tests.support.monitors import alerts_decided, feedback_project, receiver, settled

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)


def _calls(n: int, lang: str, tier: str, polite: bool) -> list[CallIn]:
    answer = "yes, please" if polite else "no"
    return [CallIn(outputs={"response": answer}, metadata={"lang": lang, "user": {"tier": tier}}) for _ in range(n)]


async def test_a_slice_below_fires_though_the_whole_window_is_above(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("slice alerts")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    # Window 1: 25 of 30 polite (83.3%, above 80%); the French calls 3 of 6 (50%), the free tier 3 of 8
    # (37.5%); the German ones 0 of 2, too few to judge. Window 2: every call polite.
    first = (
        _calls(22, "en", "pro", True)
        + _calls(3, "fr", "free", True)
        + _calls(3, "fr", "free", False)
        + _calls(2, "de", "free", False)
    )
    second = _calls(20, "en", "pro", True) + _calls(10, "fr", "free", True)
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "slices",
            [polite.id],
            sample_rate=100,
            window_calls=30,
            alert_url=hook.url,
            alert_below={polite.id: 0.8},
            alert_recovery=True,
            alert_slice_fields=["metadata.lang", " metadata.user.tier"],
            min_slice_calls=5,
        )
        assert monitor.alert.slice_fields == ["metadata.lang", "metadata.user.tier"]
        assert monitor.alert.min_slice_calls == 5
        for number, calls in enumerate([first, second], 1):
            assert (await sk.log_calls(project.id, calls)).sampled == 30
            await settled(sk, monitor.id, number)
        detail = await alerts_decided(sk, monitor.id, hook, 2)

    by_number = {w.number: w for w in detail.windows}
    assert {n: w.alert_state for n, w in by_number.items()} == {1: "below", 2: "recovered"}
    whole = by_number[1].metrics[0]
    assert (whole.value, whole.scored, whole.below) == (25 / 30, 30, False)
    assert by_number[1].slices_below == [
        WindowSlice("metadata.user.tier", "free", polite.id, "polite", "pass_rate", 0.375, 8, 0.8),
        WindowSlice("metadata.lang", "fr", polite.id, "polite", "pass_rate", 0.5, 6, 0.8),
    ]
    assert by_number[2].slices_below == []
    bodies = {body["window"]["number"]: body for _, body in hook.posts}
    assert sorted(bodies) == [1, 2]
    alert = bodies[1]
    assert alert["type"] == "monitor.alert" and alert["metrics"] == [] and alert["slices_below"] == 2
    slice_of: dict[str, Any] = {"metric_id": polite.id, "name": "polite", "measure": "pass_rate", "below": 0.8}
    assert alert["slices"] == [
        {"field": "metadata.user.tier", "field_value": "free", **slice_of, "value": 0.375, "scored": 8},
        {"field": "metadata.lang", "field_value": "fr", **slice_of, "value": 0.5, "scored": 6},
    ]
    url = f"{stack.console_url}/projects/{project.id}/runs/{by_number[1].run_id}"
    assert alert["text"] == (
        "Monitor 'slices' window 1 (30 calls): polite where metadata.user.tier=free (8 scored) 37.5% passed,"
        f" below 80.0% · polite where metadata.lang=fr (6 scored) 50.0% passed, below 80.0% — {url}"
    )
    assert bodies[2]["type"] == "monitor.recovered" and "slices" not in bodies[2]

    printed = scorekeeper(stack, "--project", project.id, "monitors", "show", "slices")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "when polite < 0.8, and when back at or above" in out
    assert "and within each value of metadata.lang and metadata.user.tier (with at least 5 calls): polite < 0.8" in out
    assert "polite 83.3%, 2 slices below" in out
    assert (
        "window 1's slices below: metadata.user.tier=free: polite 37.5% (8 scored), below 80.0%;"
        " metadata.lang=fr: polite 50.0% (6 scored), below 80.0%" in out
    )
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        said = " ".join((await page.locator("main").inner_text()).split())
        assert (
            "and when it recovers; its metric thresholds are judged within each value of metadata.lang and"
            " metadata.user.tier too (a value with at least 5 calls)" in said
        )
        cells = page.locator("#windows-table tbody tr .window-results")
        assert " ".join((await cells.nth(1).inner_text()).split()) == (
            "polite 83.3% metadata.user.tier=free: polite 37.5% of 8 below 80.0% over windows"
            " metadata.lang=fr: polite 50.0% of 6 below 80.0% over windows"
        )
        await screenshot(page, "monitor-slice-alert")
        # A slice's history over the monitor's windows.
        await cells.nth(1).get_by_role("link", name="over windows").nth(1).click()
        await page.wait_for_url(f"**/runs?monitor={monitor.id}&field=metadata.lang%3Dfr&metric={polite.id}")
        sliced = " ".join((await page.locator("#history-sliced").inner_text()).split())
        assert sliced == "The charts count only the records with metadata.lang=fr · every record"
        points = await page.evaluate("JSON.parse(document.getElementById('history-data').textContent)")
        assert [c["counts"] for c in points["charts"]] == [["3/6 passed", "10/10 passed"]], points
        await screenshot(page, "monitor-slice-over-windows")
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        # A slice opens its calls in the window's run.
        await cells.nth(1).get_by_role("link", name="metadata.lang=fr").click()
        await page.wait_for_url(f"**/runs/{by_number[1].run_id}?field=metadata.lang%3Dfr")
        assert await page.locator("#records-table tbody tr").count() == 6
        # Changed on the Edit form.
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        await page.locator("#edit-monitor summary").click()
        edit = page.locator("#edit-monitor-form")
        assert await edit.locator("input[name=alert_slices]").input_value() == "metadata.lang, metadata.user.tier"
        # The fields its latest window's calls hold are offered.
        hint = " ".join((await edit.locator("#slice-field-hint").inner_text()).split())
        assert hint == "Its latest window's calls hold metadata.lang, metadata.user, metadata.user.tier"
        assert await edit.locator("input[name=min_slice_calls]").input_value() == "5"
        await edit.locator("input[name=alert_slices]").fill("metadata.lang")
        await edit.locator("input[name=min_slice_calls]").fill("3")
        await edit.locator("button[type=submit]").click()
        await page.wait_for_url("**saved=1")
    changed = (await sk.get_monitor(monitor.id)).monitor.alert
    assert (changed.slice_fields, changed.min_slice_calls) == (["metadata.lang"], 3)
    # Another change to the alert keeps its slices; --no-alert-slices drops them.
    kept = scorekeeper(stack, "--project", project.id, "monitors", "update", "slices", "--alert-errors-above", "10%")
    assert kept.returncode == 0, kept.stderr
    changed = (await sk.get_monitor(monitor.id)).monitor.alert
    assert (changed.slice_fields, changed.min_slice_calls, changed.max_error_rate) == (["metadata.lang"], 3, 0.1)
    dropped = scorekeeper(stack, "--project", project.id, "monitors", "update", "slices", "--no-alert-slices")
    assert dropped.returncode == 0, dropped.stderr
    assert (await sk.get_monitor(monitor.id)).monitor.alert.slice_fields == []


async def test_a_slice_whose_calls_error_fires_though_the_window_errs_little(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("slice errors")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})

    def calls(n: int, region: str, errored: bool) -> list[CallIn]:
        status = "errored" if errored else "completed"
        error = "upstream timeout" if errored else ""
        outputs = {} if errored else {"response": "please"}
        return [CallIn(outputs=outputs, metadata={"region": region}, status=status, error=error) for _ in range(n)]

    # 5 of 30 calls errored (16.7%, under the 20% allowed), all 5 of them in the 10 from eu (50%).
    window = calls(5, "eu", True) + calls(5, "eu", False) + calls(20, "us", False)
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "regions",
            [polite.id],
            sample_rate=100,
            window_calls=30,
            alert_url=hook.url,
            alert_max_error_rate=0.2,
            alert_slice_fields=["metadata.region"],
            min_slice_calls=5,
        )
        assert (await sk.log_calls(project.id, window)).sampled == 30
        await settled(sk, monitor.id, 1)
        detail = await alerts_decided(sk, monitor.id, hook, 1)

    (decided,) = detail.windows
    assert (decided.alert_state, decided.errored_calls, decided.slices_below) == ("below", 5, [])
    assert decided.error_slices == [WindowErrorSlice("metadata.region", "eu", 5, 10, 0.5, 0.2)]
    ((_, body),) = hook.posts
    assert body["errors"] == {"errored": 5, "calls": 30, "rate": 5 / 30, "above": 0.2}
    assert body["error_slices"] == [
        {"field": "metadata.region", "field_value": "eu", "errored": 5, "calls": 10, "rate": 0.5, "above": 0.2}
    ]
    url = f"{stack.console_url}/projects/{project.id}/runs/{decided.run_id}"
    assert body["text"] == (
        "Monitor 'regions' window 1 (30 calls): 5 of 10 calls where metadata.region=eu errored (50.0%, above 20.0%)"
        f" — {url}"
    )
    printed = scorekeeper(stack, "--project", project.id, "monitors", "show", "regions")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "and within each value of metadata.region (with at least 5 calls): more than 20% errored" in out
    assert "window 1's slices erring: metadata.region=eu: 5 of 10 calls errored (50.0%), above 20.0%" in out
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        cell = page.locator("#windows-table tbody tr .window-results").first
        assert " ".join((await cell.inner_text()).split()) == (
            "polite 100.0% 5 errored metadata.region=eu: 5 of 10 errored (50.0%, above 20.0%)"
        )
        said = " ".join((await page.locator("main").inner_text()).split())
        assert (
            "when more than 20% of a window's calls errored; its share of errored calls is judged within each value"
            " of metadata.region too (a value with at least 5 calls)" in said
        )
        await screenshot(page, "monitor-error-slice")
        # The slice opens its errored calls in the window's run.
        await cell.get_by_role("link", name="metadata.region=eu").click()
        await page.wait_for_url(f"**/runs/{decided.run_id}?field=metadata.region%3Deu&status=errored")
        assert await page.locator("#records-table tbody tr").count() == 5


async def test_a_slice_whose_calls_are_slow_fires_though_the_window_is_quick(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project = await sk.create_project("slice latency")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})

    def calls(latencies: list[float], region: str) -> list[CallIn]:
        out = {"response": "please"}
        return [CallIn(outputs=out, metadata={"region": region}, latency_ms=ms) for ms in latencies]

    # The whole window's p95 is 715 ms (under 1,500); the 10 calls from eu reach 3,000 ms at their
    # p95; the 2 from ap, slower still, are too few to judge; 2 from us have no latency logged.
    eu = [100.0 * n for n in range(1, 9)] + [3000.0, 3000.0]
    window = calls(eu, "eu") + calls([200.0] * 86, "us") + calls([9000.0, 9000.0], "ap")
    window += [CallIn(outputs={"response": "please"}, metadata={"region": "us"}) for _ in range(2)]
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project.id,
            "latency",
            [polite.id],
            sample_rate=100,
            window_calls=100,
            alert_url=hook.url,
            alert_max_latency_ms=1500,
            alert_slice_fields=["metadata.region"],
            min_slice_calls=5,
        )
        assert (await sk.log_calls(project.id, window)).sampled == 100
        await settled(sk, monitor.id, 1)
        detail = await alerts_decided(sk, monitor.id, hook, 1)

    (decided,) = detail.windows
    assert (decided.latency_p95_ms, decided.latency_above) == (715.0, False)
    assert (decided.alert_state, decided.error_slices, decided.slices_below) == ("below", [], [])
    assert decided.latency_slices == [WindowLatencySlice("metadata.region", "eu", 3000.0, 10, 1500.0)]
    ((_, body),) = hook.posts
    assert body["latency"] == {"p95_ms": decided.latency_p95_ms, "above": 1500.0}
    assert body["latency_slices"] == [
        {"field": "metadata.region", "field_value": "eu", "p95_ms": 3000.0, "calls": 10, "above": 1500.0}
    ]
    url = f"{stack.console_url}/projects/{project.id}/runs/{decided.run_id}"
    assert body["text"] == (
        "Monitor 'latency' window 1 (100 calls): p95 latency 3,000 ms where metadata.region=eu (10 calls),"
        f" above 1,500 ms — {url}"
    )
    printed = scorekeeper(stack, "--project", project.id, "monitors", "show", "latency")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "and within each value of metadata.region (with at least 5 calls): p95 latency above 1,500 ms" in out
    assert "1 slice too slow" in out
    assert "window 1's slices too slow: metadata.region=eu: p95 3,000 ms (10 calls), above 1,500 ms" in out
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        cell = page.locator("#windows-table tbody tr .window-results").first
        assert " ".join((await cell.inner_text()).split()).endswith(
            "metadata.region=eu: p95 3,000 ms of 10 above 1,500 ms"
        )
        said = " ".join((await page.locator("main").inner_text()).split())
        assert (
            "is above 1,500 ms; its calls' 95th percentile latency is judged within each value of metadata.region"
            " too (a value with at least 5 calls)" in said
        )
        await screenshot(page, "monitor-latency-slice")
        # The slice opens its calls above the limit in the window's run, the slowest first; the
        # bound is in the filters' form, to widen or clear.
        await cell.get_by_role("link", name="metadata.region=eu").click()
        await page.wait_for_url(
            f"**/runs/{decided.run_id}?field=metadata.region%3Deu&latency_ms_gt=1500&order=latency_ms+desc"
        )
        rows = page.locator("#records-table tbody tr")
        assert await rows.count() == 2
        assert all("3,000 ms" in text for text in await rows.all_inner_texts())
        above = page.locator("#records").get_by_label("Latency (ms) above")
        assert await above.input_value() == "1500"
        await above.fill("")
        await page.locator("#records button[type=submit]").click()
        await expect(page.locator("#records-table tbody tr")).to_have_count(10)
        assert "100 ms" in await rows.last.inner_text()
        # The window's own p95 (715 ms) opens its calls above it: 800 ms, twice 3,000 and 9,000.
        await page.goto(f"/projects/{project.id}/monitors/{monitor.id}")
        await cell.locator(".window-metric.latency:not(.slice) a").click()
        await page.wait_for_url("**latency_ms_gt=715**")
        await expect(rows).to_have_count(5)
        assert "9,000 ms" in await rows.first.inner_text() and "800 ms" in await rows.last.inner_text()


async def test_a_slice_whose_users_dislike_it_fires_though_the_window_pleases(
    stack: Stack, sk: AsyncScorekeeper
) -> None:
    project_id, metrics = await feedback_project(sk)
    # 31 thumbs given while the window is open: 23 of 24 up on English calls, 2 of 6 on French ones
    # (33.3%), 0 of 1 on the German one (too few to judge); the whole window 25 of 31 (80.6%, above).
    langs = ["en"] * 24 + ["fr"] * 6 + ["de"]
    calls = [CallIn(call_id=f"c{i}", outputs={"response": "please"}, metadata={"lang": x}) for i, x in enumerate(langs)]
    ups = [i >= 1 for i in range(24)] + [True, True, False, False, False, False] + [False]
    with receiver() as hook:
        monitor = await sk.create_monitor(
            project_id,
            "users by language",
            [metrics["polite"]],
            sample_rate=100,
            window_calls=32,
            alert_url=hook.url,
            alert_feedback_below={metrics["thumbs"]: 0.8},
            min_feedback=10,
            alert_slice_fields=["metadata.lang"],
            min_slice_calls=5,
        )
        assert (await sk.log_calls(project_id, calls)).sampled == 31
        verdicts = [FeedbackIn(f"c{i}", "thumbs", up) for i, up in enumerate(ups)]
        assert (await sk.send_feedback_batch(verdicts, project_id=project_id)).stored == 31
        # The 32nd call closes the window after the verdicts were given.
        assert (await sk.log_calls(project_id, [CallIn(outputs={"response": "please"})])).sampled == 1
        await settled(sk, monitor.id, 1)
        detail = await alerts_decided(sk, monitor.id, hook, 1)

    (decided,) = detail.windows
    assert decided.alert_state == "below"
    assert [(m.name, m.value, m.scored, m.below) for m in decided.feedback] == [("thumbs", 25 / 31, 31, False)]
    assert decided.slices_below == [
        WindowSlice("metadata.lang", "fr", metrics["thumbs"], "thumbs", "pass_rate", 2 / 6, 6, 0.8, feedback=True)
    ]
    ((_, body),) = hook.posts
    assert body["slices"] == [
        {
            "field": "metadata.lang",
            "field_value": "fr",
            "metric_id": metrics["thumbs"],
            "name": "thumbs",
            "measure": "pass_rate",
            "value": 2 / 6,
            "below": 0.8,
            "scored": 6,
            "source": "feedback",
            "given": 6,
        }
    ]
    assert body["metrics"] == [] and body["slices_below"] == 1
    assert body["text"] == (
        "Monitor 'users by language' window 1 (32 calls): users' thumbs where metadata.lang=fr (6 given) 33.3%"
        f" passed, below 80.0% — {stack.console_url}/projects/{project_id}/runs/{decided.run_id}"
    )
    printed = scorekeeper(stack, "--project", project_id, "monitors", "show", "users by language")
    assert printed.returncode == 0, printed.stderr
    out = " ".join(printed.stdout.split())
    assert "and within each value of metadata.lang (with at least 5 verdicts): users' feedback thumbs < 0.8" in out
    assert "window 1's slices below: metadata.lang=fr: users' thumbs 33.3% (6 given), below 80.0%" in out
    async with chromium() as browser:
        _, page = await signed_in(browser, stack.console_url, stack.admin_key)
        await page.goto(f"/projects/{project_id}/monitors/{monitor.id}")
        cell = page.locator("#windows-table tbody tr .window-results").first
        assert " ".join((await cell.inner_text()).split()).endswith(
            "metadata.lang=fr: users' thumbs 33.3% of 6 given below 80.0%"
        )
        said = " ".join((await page.locator("main").inner_text()).split())
        assert (
            "; your users' feedback is judged within each value of metadata.lang too (a value with at least 5"
            " verdicts)" in said
        )
        await screenshot(page, "monitor-feedback-slice")
        # The slice opens its calls whose thumbs failed.
        await cell.get_by_role("link", name="metadata.lang=fr").click()
        await page.wait_for_url(f"**/calls?meta=lang%3Dfr&metric={metrics['thumbs']}&state=failed&window=")
        assert await page.locator("#calls-table tbody tr").count() == 4


async def test_bad_slice_fields_are_refused(stack: Stack, sk: AsyncScorekeeper) -> None:
    project = await sk.create_project("slice refusals")
    polite = await sk.create_heuristic_metric(project.id, "polite", "contains", {"value": "please"})
    url = "http://127.0.0.1:9/hook"
    for below, fields, min_calls, message in [
        ({polite.id: 0.8}, ["outputs.response"], 0, "alert.slice_fields[0]: field must be metadata.<key>"),
        ({polite.id: 0.8}, ["metadata.a", "metadata.b", "metadata.c", "metadata.d"], 0, "at most 3 fields, got 4"),
        ({polite.id: 0.8}, ["metadata.lang"], 20_000, "alert.min_slice_calls must be within 1..10,000"),
        (None, ["metadata.lang"], 0, "alert.slice_fields judge the alert.thresholds, alert.feedback_thresholds"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await sk.create_monitor(
                project.id,
                "m",
                [polite.id],
                sample_rate=1,
                window_minutes=5,
                alert_url=url if below is not None else "",  # None: no alert at all
                alert_below=below,
                alert_slice_fields=fields,
                min_slice_calls=min_calls,
            )
        assert message in str(refused.value)
    assert await sk.list_monitors(project.id) == []
    failed = scorekeeper(
        stack,
        "--project",
        project.id,
        "monitors",
        "create",
        "m",
        "--sample-rate",
        "1",
        "--every-minutes",
        "5",
        "--metric",
        "polite",
        "--alert-url",
        url,
        "--alert-below",
        "polite=0.8",
        "--alert-slice",
        'metadata."lang',
    )
    assert failed.returncode == 2
    assert "alert.slice_fields[0]: field must be metadata.<key>" in failed.stderr
    assert "a double quote is not closed" in failed.stderr
