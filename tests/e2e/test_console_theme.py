"""The console's colour theme on the real processes: a system that prefers dark gets dark pages
until the visitor chooses otherwise in the top bar's menu; the choice is kept from page to page and
back to "as your system"; a theme that is none, and a way back off the site, are refused."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from scorekeeper_sdk import AsyncScorekeeper, RecordIn
from shared.devstack.stack import Stack
from tests.support.browser import VIEWPORT, chromium, screenshot, signed_in
from tests.support.sdk_projects import qa_project

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.nats]
SHARED_STACK = True  # one stack with the other modules that set it (tests/e2e/conftest.py)

ROWS = [{"question": "Capital of Japan?", "answer": "Tokyo"}, {"question": "Capital of France?", "answer": "Paris"}]


async def lightness(page: Page) -> float:
    """How light the page's background is: 0 black .. 1 white (the mean of its red, green, blue)."""
    colour = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(c) for c in re.findall(r"\d+", colour)[:3])
    return (red + green + blue) / 3 / 255


async def choose(page: Page, theme: str) -> None:
    await page.locator("#theme-menu summary").click()
    await page.locator(f"#theme-menu a[data-theme-choice='{theme}']").click()
    await page.wait_for_load_state()


async def test_the_theme_follows_the_system_until_the_visitor_chooses_one(stack: Stack, sk: AsyncScorekeeper) -> None:
    qa = await qa_project(sk, "theme", ROWS)
    run = await qa.run(sk)
    await sk.ingest_records(
        run.id, [RecordIn(case, outputs={"response": "Tokyo"}, latency_ms=50.0) for case in qa.cases.values()]
    )
    await sk.wait_for_run(run.id, timeout_s=60)
    run_page = f"/projects/{qa.project.id}/runs/{run.id}?status=completed"
    async with chromium() as browser:
        # A system that prefers dark, nothing chosen: dark pages, "as your system" ticked.
        _, page = await signed_in(browser, stack.console_url, stack.admin_key, color_scheme="dark")
        await page.goto(run_page)
        assert await page.locator("html").get_attribute("data-theme") is None
        assert await lightness(page) < 0.15
        await expect(page.locator("#theme-menu a[aria-current]")).to_have_attribute("data-theme-choice", "auto")
        # The admin's thirteen sections and the menu still fit the bar: nothing wider than the window.
        assert await page.evaluate("document.documentElement.scrollWidth") == VIEWPORT["width"]
        await screenshot(page, "theme-dark-run")

        # Light chosen: back on the same page, light, and kept on the next pages.
        await choose(page, "light")
        assert page.url.endswith(run_page)
        assert await page.locator("html").get_attribute("data-theme") == "light"
        assert await lightness(page) > 0.9
        await page.goto(f"/projects/{qa.project.id}/runs")
        assert await page.locator("html").get_attribute("data-theme") == "light"
        await expect(page.locator("#theme-menu a[aria-current]")).to_have_attribute("data-theme-choice", "light")

        # Back to the system's: the choice forgotten, dark again.
        await choose(page, "auto")
        assert await page.locator("html").get_attribute("data-theme") is None
        assert await lightness(page) < 0.15
        assert "theme" not in {c["name"] for c in await page.context.cookies()}

        # A system that prefers light: dark when chosen, the run history charted on it.
        _, light_page = await signed_in(browser, stack.console_url, stack.admin_key)
        await light_page.goto(f"/projects/{qa.project.id}/runs")
        assert await lightness(light_page) > 0.9
        await choose(light_page, "dark")
        assert await light_page.locator("html").get_attribute("data-theme") == "dark"
        assert await lightness(light_page) < 0.15
        await expect(light_page.locator(".chart canvas")).to_have_count(1)
        await screenshot(light_page, "theme-dark-runs")

        # No such theme: said, nothing kept. A way back off the site: the console's own home instead.
        response = await light_page.goto("/theme?to=purple&back=/")
        assert response is not None and response.status == 400
        assert "to must be one of auto, light, dark, got 'purple'" in await light_page.locator("main").inner_text()
        assert {c["name"]: c["value"] for c in await light_page.context.cookies()}["theme"] == "dark"
        for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            answered = await light_page.request.get(f"/theme?to=light&back={elsewhere}", max_redirects=0)
            assert answered.status == 303 and answered.headers["location"] == "/", elsewhere
