"""Browser-test fixtures: headless Debian Chromium driven by Playwright's sync API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
def browser_page():
    """A fresh Playwright page (desktop size) in headless Chromium; closed after the test."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def browser_two_pages():
    """Two pages in two independent browser contexts (separate cookies, like two phones), phone-sized,
    in one headless Chromium; closed after the test."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        contexts = [
            browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN") for _ in range(2)
        ]
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(15_000)
        try:
            yield pages[0], pages[1]
        finally:
            for context in contexts:
                context.close()
            browser.close()
