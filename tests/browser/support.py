"""Helpers for the browser tests: screenshots and a member signed in without the SMS round trip."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from siyu.members.models import Member
from siyu.members.services.signin import SESSION_KEY
from tests.factories import TEST_PASSWORD


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    """A full-page screenshot in ``tmp_path``; set SIYU_SCREENSHOT_DIR to keep them for a human to look at."""
    target = Path(os.environ.get("SIYU_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def sign_in_member(page: Any, live_server: Any, member: Member) -> None:
    """Give the page's browser context a session of ``member`` (members sign in by SMS code, tested in
    test_signin; here the session is made directly)."""
    session = SessionStore()
    session[SESSION_KEY] = member.pk
    session.save()
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": live_server.url}]
    )


def sign_in_staff(page: Any, live_server: Any, username: str) -> None:
    """Sign a staff member in on the console's form (password ``TEST_PASSWORD`` of the factories)."""
    page.goto(live_server.url + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    expect(page.locator("input[name=password]")).to_have_count(0)


def redeem_coupon_at_counter(page: Any, live_server: Any, code: str, sale_yuan: str, pays_yuan: str) -> None:
    """On the counter page, type a coupon's short code as heard (spaces, lower case), the sale amount, check
    what the member pays, and confirm."""
    page.goto(live_server.url + "/pickup/")
    page.fill("#pickup-code", code.replace("-", " ").lower())
    page.click("#pickup-form button[type=submit]")
    found = page.locator("[data-pickup-step=coupon]")
    expect(found).to_be_visible()
    page.fill("#coupon-sale", sale_yuan)
    found.locator("button[type=submit]").click()
    quote = page.locator("[data-pickup-step=coupon_quote]")
    expect(quote).to_contain_text(pays_yuan)
    quote.locator("button[type=submit]").click()
    expect(page.locator("[data-pickup-step=coupon_done]")).to_be_visible()
