"""Points red packets on phones: a store manager drops one from the console, a member sees the red card with
its "抢" button in the web chat, grabs, and sees the points; the liability report draws its chart."""

from __future__ import annotations

import pytest

from siyu.communities.models import Community, GroupTemplate
from siyu.communities.services.joining import join_community
from siyu.loyalty.models import RedPacketShare
from siyu.loyalty.services import points
from tests.browser.support import screenshot, sign_in_member
from tests.factories import TEST_PASSWORD, MemberFactory, StaffFactory, StoreFactory, give_budget

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_drops_and_member_grabs_on_phones(live_server, browser_two_pages, settings, tmp_path):
    from playwright.sync_api import expect

    settings.LANGUAGE_CODE = "zh-hans"  # the brand's language: the robot's card says 抢
    settings.SIYU_CHAT_STREAM_SECONDS = 30
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 1
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    StaffFactory(username="manager", role="store_manager", stores=[store])
    template = GroupTemplate.objects.create(brand=store.brand, name="宝妈群", base_name="宝妈群")
    group = Community.objects.create(
        brand=store.brand, store=store, template=template, name="朝阳大悦城店·宝妈群1", sequence=1
    )
    member = MemberFactory(brand=store.brand, home_store=store, nickname="小王爱喝咖啡", mobile="13812341234")
    join_community(group, member, scene="store_qr")
    give_budget(store.brand, 1000)

    staff_page, member_page = browser_two_pages
    staff_page.goto(live_server.url + "/loyalty/red-packets/")
    staff_page.fill("input[name=username]", "manager")
    staff_page.fill("input[name=password]", TEST_PASSWORD)
    staff_page.click("main form button[type=submit]")
    staff_page.wait_for_url("**/loyalty/red-packets/")
    staff_page.select_option("select[name=community]", str(group.pk))
    staff_page.fill("input[name=total]", "88")
    staff_page.fill("input[name=shares]", "8")
    staff_page.fill("input[name=greeting]", "周末快乐，抢积分！")
    screenshot(staff_page, tmp_path, "red-packet-form-phone")
    staff_page.click("#red-packet-form button[type=submit]")
    expect(staff_page.locator("#red-packet-list tbody tr").first).to_contain_text("88")
    screenshot(staff_page, tmp_path, "red-packet-list-phone")

    sign_in_member(member_page, live_server, member)
    member_page.goto(f"{live_server.url}/h5/c/{group.pk}/")
    card = member_page.locator(".chat-card-action").filter(has_text="周末快乐，抢积分！")
    expect(card).to_be_visible()
    expect(card.locator(".chat-card-button")).to_have_text("抢")
    screenshot(member_page, tmp_path, "red-packet-chat-phone")
    card.click()
    member_page.click("#rp-grab")
    expect(member_page.locator("#rp-mine")).to_be_visible()
    share = RedPacketShare.objects.get(grabbed_by=member)
    expect(member_page.locator("#rp-mine")).to_have_text(f"+{share.points}")
    assert points.balance_of(member).balance == share.points
    screenshot(member_page, tmp_path, "red-packet-grabbed-phone")

    staff_page.goto(live_server.url + "/loyalty/reports/liability/")
    expect(staff_page.locator("#liability-chart svg")).to_be_visible()
    expect(staff_page.locator("#liability-points")).to_have_text(str(share.points))
    screenshot(staff_page, tmp_path, "liability-phone")
