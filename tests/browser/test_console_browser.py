"""The console in a real browser: sign in, filter members by tag (htmx), open a profile."""

from __future__ import annotations

import re

import pytest

from siyu.members.models import MemberTag
from siyu.org.models import AuditEntry
from tests.browser.support import screenshot
from tests.factories import TEST_PASSWORD, MemberFactory, StaffFactory, StoreFactory, TagFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_by_tag_and_open_profile(live_server, browser_page, tmp_path):
    from playwright.sync_api import expect

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    StaffFactory(username="hqadmin", role="hq_admin", can_reveal_mobile=True)
    tag = TagFactory(name="咖啡爱好者")
    tagged = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")
    MemberTag.objects.create(member=tagged, tag=tag)
    for i in range(6):
        MemberFactory(brand=store.brand, home_store=store, name=f"其他会员{i}")

    page = browser_page
    page.goto(live_server.url + "/")
    expect(page.locator("input[name=password]")).to_be_visible()
    # Static files are served: Pico's stylesheet styled the page.
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != ""
    assert page.evaluate("typeof htmx") == "object"
    page.fill("input[name=username]", "hqadmin")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    expect(page.locator("#joined-chart svg")).to_be_visible()  # ECharts drew the dashboard chart
    screenshot(page, tmp_path, "dashboard-desktop")

    page.goto(live_server.url + "/members/")
    rows = page.locator("#member-results tbody tr")
    expect(rows).to_have_count(7)
    # Picking a tag refreshes only the results (htmx) and puts the filter in the address bar.
    page.select_option("select[name=tag]", str(tag.pk))
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"[?&]tag={tag.pk}"))
    expect(rows.first).to_contain_text("王小明")
    expect(rows.first).to_contain_text("138****1234")
    screenshot(page, tmp_path, "members-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/members/")
    expect(page.locator(".nav-toggle-label")).to_be_visible()
    expect(page.locator(".mainnav")).to_be_hidden()
    screenshot(page, tmp_path, "members-phone")
    page.click(".nav-toggle-label")
    expect(page.locator(".mainnav")).to_be_visible()
    screenshot(page, tmp_path, "nav-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(live_server.url + f"/members/?tag={tag.pk}")
    page.click("a.member-link")
    expect(page.locator("h1")).to_have_text("王小明")
    expect(page.locator("#tags-box")).to_contain_text("咖啡爱好者")
    expect(page.locator("#mobile-box")).to_contain_text("138****1234")
    assert "13812341234" not in page.content()
    screenshot(page, tmp_path, "member-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, tmp_path, "member-phone")
    # htmx POSTs carry the CSRF token from the body's hx-headers: revealing works and is audited.
    page.click("#mobile-box button")
    expect(page.locator("#mobile-box")).to_contain_text("13812341234")
    assert AuditEntry.objects.filter(action="member.reveal_mobile").count() == 1
