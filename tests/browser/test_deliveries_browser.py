"""The console's deliveries in a real browser, phone-sized: a store manager sees per group what reached it
(mass message confirmed by the owner, waiting for staff, expired) and the mass-message rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models import Community, GroupDelivery
from tests.browser.support import screenshot
from tests.factories import TEST_PASSWORD, StaffFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_store_manager_sees_what_reached_each_wecom_group(live_server, browser_page, tmp_path, settings):
    from playwright.sync_api import expect

    settings.LANGUAGE_CODE = "zh-hans"
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    other = StoreFactory(code="B001", name="望京店", brand=store.brand)
    manager = StaffFactory(username="mgr", role="store_manager", brand=store.brand)
    manager.stores.add(store)
    StaffFactory(
        username="clerk9", role="clerk", brand=store.brand, display_name="小李", wecom_userid="xiaoli"
    )
    connector = Connector.objects.create(brand=store.brand, kind=ChannelKind.WECOM, name="企微")
    now = timezone.now()

    def group(s, name, chat):
        return Community.objects.create(
            brand=store.brand,
            store=s,
            name=name,
            channel="wecom",
            connector=connector,
            external_id=chat,
            channel_owner="xiaoli",
            hard_cap=500,
        )

    ours, theirs = group(store, "宝妈群1", "wr1"), group(other, "望京群1", "wr2")
    S, P, K = GroupDelivery.Status, GroupDelivery.Path, GroupDelivery.Kind
    rows = [
        (ours, K.CAMPAIGN, P.OWNER_CONFIRM, S.CONFIRMED, "msgA", now - timedelta(minutes=5), ""),
        (ours, K.RELAY, P.STAFF, S.WAITING_STAFF, "", None, ""),
        (ours, K.CARD, P.OWNER_CONFIRM, S.EXPIRED, "msgB", None, "群主未及时确认群发，已取消。"),
        (theirs, K.CAMPAIGN, P.OWNER_CONFIRM, S.CONFIRMED, "msgA", now, ""),
    ]
    for i, (g, kind, path, status, msgid, delivered, reason) in enumerate(rows):
        GroupDelivery.objects.create(
            community=g,
            kind=kind,
            path=path,
            status=status,
            mass_msgid=msgid,
            owner_userid="xiaoli" if msgid else "",
            delivered_at=delivered,
            reason=reason,
            content={"text": "周末秒杀"},
            idempotency_key=f"k{i}",
        )

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/")
    page.fill("input[name=username]", "mgr")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")
    page.goto(live_server.url + "/deliveries/")
    expect(page.locator("h1")).to_have_text("投递记录")
    recent = page.locator("#recent-deliveries tbody tr")
    expect(recent).to_have_count(3)  # not the other store's group
    expect(page.locator("#recent-deliveries")).not_to_contain_text("望京群1")
    expect(page.locator("#mass-messages")).to_contain_text("小李")  # the owner by name, not a userid
    screenshot(page, tmp_path, "deliveries-phone")
    page.goto(live_server.url + f"/groups/{ours.pk}/")
    section = page.locator("#deliveries")
    expect(section).to_contain_text("群主 小李 于")
    expect(section).to_contain_text("等待店员从侧边栏发送")
    expect(section).to_contain_text("群主未及时确认群发，已取消")
    section.scroll_into_view_if_needed()
    screenshot(page, tmp_path, "group-deliveries-phone")
