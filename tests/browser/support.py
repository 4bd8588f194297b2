"""Helpers for the browser tests: screenshots and a member signed in without the SMS round trip."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore

from siyu.members.models import Member
from siyu.members.services.signin import SESSION_KEY


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
