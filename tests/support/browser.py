"""Debian's chromium driven by Playwright (its own browser download does not work here), and the
screenshots every console test keeps under .scorekeeper/screenshots/."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(".scorekeeper/screenshots")
VIEWPORT = {"width": 1400, "height": 900}

# What the pages of signed-in profiles did wrong: uncaught script errors and whatever the console's
# Content-Security-Policy refused (an inline handler, a filter htmx evaluates from a string — which
# fail silently for the visitor). tests/e2e/conftest.py fails the test that saw any.
PAGE_PROBLEMS: list[str] = []


def _watch(page: Page) -> None:
    def said(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            PAGE_PROBLEMS.append(f"{page.url}: {message.text}")

    page.on("console", said)
    page.on("pageerror", lambda error: PAGE_PROBLEMS.append(f"{page.url}: {error}"))


def page_problems() -> list[str]:
    """The problems seen since the last call (and forgets them)."""
    seen = PAGE_PROBLEMS[:]
    PAGE_PROBLEMS.clear()
    return seen


def require_chromium() -> None:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is missing: `make test-packages` installs Debian's chromium package (needs root)")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(
    browser: Browser, console_url: str, api_key: str, *, color_scheme: Literal["light", "dark"] = "light"
) -> tuple[BrowserContext, Page]:
    """A fresh browser profile, signed in through the sign-in form; ``color_scheme``: what its system prefers."""
    context = await browser.new_context(
        base_url=console_url,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        accept_downloads=True,
        color_scheme=color_scheme,
    )
    context.on("page", _watch)
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.fill("input[name=api_key]", api_key)
    await page.click("form[action='/sign-in'] button[type=submit]")
    await page.wait_for_load_state()
    return context, page


@asynccontextmanager
async def visitor(browser: Browser, console_url: str, api_key: str) -> AsyncIterator[Page]:
    """A page of a fresh browser profile signed in with ``api_key``; the profile closes after."""
    context, page = await signed_in(browser, console_url, api_key)
    try:
        yield page
    finally:
        await context.close()


async def screenshot(page: Page, name: str) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
