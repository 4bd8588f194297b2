"""Page titles read once (issue 9: no "X · X" titles or headings) and the language menu names each language in
its own words ("English", not 英语), in Chinese pages as in English ones."""

from __future__ import annotations

import contextlib
import re

import pytest
from django.test import Client
from django.urls import NoReverseMatch, get_resolver, reverse

from siyu.console import urls as console_urls
from siyu.h5 import urls as h5_urls
from tests.factories import join, make_event_with_sessions, make_group, session_at, take_ticket, two_cups_at
from tests.h5_support import member_client


def _pages(namespace: str, module) -> list[str]:
    out = set()
    for name in get_resolver(module).reverse_dict:
        if isinstance(name, str):
            with contextlib.suppress(NoReverseMatch):  # names that need arguments are skipped
                out.add(reverse(f"{namespace}:{name}"))
    return sorted(out)


def _segments(text: str) -> list[str]:
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip()
    return [s.strip() for s in re.split(r" [·\-–|] ", plain) if s.strip()]


def _check_page(html: str, url: str) -> None:
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title is not None, url
    parts = _segments(title.group(1))
    assert len(parts) == len(set(parts)), (url, parts)
    for h1 in re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S):
        heading = _segments(h1)
        assert len(heading) == len(set(heading)), (url, heading)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_titles_and_headings_do_not_repeat(client, hq_admin, member_a, store_a, settings, language):
    settings.LANGUAGE_CODE = language
    listing = two_cups_at(hq_admin, store_a)[0]
    group = make_group(store_a)
    join(group, member_a)
    client.force_login(hq_admin)
    event = make_event_with_sessions(hq_admin, [store_a])
    ticket = take_ticket(member_a, session_at(event, store_a))
    extra = [f"/groups/{group.pk}/", f"/groups/{group.pk}/hygiene/", f"/groups/{group.pk}/policy/"]
    extra += [f"/events/{event.pk}/", f"/events/{event.pk}/edit/", f"/events/{event.pk}/report/"]
    checked = 0
    for url in _pages("console", console_urls) + extra:
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            _check_page(response.content.decode(), url)
            checked += 1
    member = member_client(member_a)
    h5_extra = [f"/h5/mall/p/{listing.pk}/", f"/h5/c/{group.pk}/", f"/h5/c/{group.pk}/rules/"]
    h5_extra += [f"/h5/events/{event.pk}/", f"/h5/tickets/{ticket.pk}/"]
    for url in _pages("h5", h5_urls) + h5_extra:
        response = member.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            _check_page(response.content.decode(), url)
            checked += 1
    for url in ("/login/", "/h5/login/"):
        _check_page(Client().get(url).content.decode(), url)
    assert checked >= 30


def test_language_menu_names_english_in_english_on_chinese_pages(client, hq_admin, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(hq_admin)
    html = client.get(reverse("console:dashboard")).content.decode()
    menu = re.search(r'<select name="language".*?</select>', html, re.S)
    assert menu is not None
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', menu.group(0))
    assert dict(options) == {"zh-hans": "简体中文", "en": "English"}
    assert "英语" not in menu.group(0)


def test_member_pages_not_found_speak_chinese(db, member_a, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    response = member_client(member_a).get("/h5/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404 and "<title>未找到</title>" in html and "该页面不存在" in html
