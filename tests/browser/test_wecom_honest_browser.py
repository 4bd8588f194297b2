"""A WeCom group in the console on a phone: the hygiene report proposes no removal and says why, the group
page says what its activity chart counts and points moderation to WeCom's anti-harassment rules, and the
group's rules form is disabled with the explanation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models import CommunityMembership
from siyu.communities.services.joining import join_community
from tests.browser.support import screenshot
from tests.factories import TEST_PASSWORD, MemberFactory, StaffFactory, StoreFactory, make_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wecom_group_pages_on_a_phone(live_server, browser_page, tmp_path, settings):
    from playwright.sync_api import expect

    settings.LANGUAGE_CODE = "zh-hans"
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    StaffFactory(brand=store.brand, username="manager", role="store_manager", stores=[store])
    connector = Connector.objects.create(brand=store.brand, kind=ChannelKind.WECOM, name="corp", config={})
    group = make_group(store, channel=ChannelKind.WECOM, connector=connector, external_id="wrOgQhDgAAAA")
    for i in range(4):
        member = MemberFactory(brand=store.brand, home_store=store, name=f"会员{i}", nickname=f"小{i}")
        membership = join_community(group, member, scene="channel")
        CommunityMembership.objects.filter(pk=membership.pk).update(
            joined_at=timezone.now() - timedelta(days=60)
        )

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("main form button[type=submit]")

    page.goto(f"{live_server.url}/groups/{group.pk}/hygiene/")
    expect(page.locator("#hygiene-signals")).to_contain_text("入群、下单、打开链接")
    expect(page.locator("#no-removal-reason")).to_contain_text("不会因为缺少数据而建议移除任何人")
    expect(page.locator("input[name=member]")).to_have_count(0)
    screenshot(page, tmp_path, "wecom-hygiene-phone")

    page.goto(f"{live_server.url}/groups/{group.pk}/")
    expect(page.get_by_text("统计：入群、下单、打开链接。")).to_be_visible()
    expect(page.locator("#wecom-moderation")).to_contain_text("防骚扰规则")
    screenshot(page, tmp_path, "wecom-group-phone")

    page.goto(f"{live_server.url}/groups/{group.pk}/policy/")
    expect(page.locator("#wecom-moderation")).to_be_visible()
    expect(page.locator("fieldset[disabled]")).to_have_count(1)
    expect(page.locator("button[value=save]")).to_have_count(0)
    screenshot(page, tmp_path, "wecom-rules-phone")
