"""Head office on a phone (390×844): puts a coupon in the points mall, adds stock, and sets up a tier after
previewing how many members it would hold."""

from __future__ import annotations

import pytest

from siyu.loyalty.models import MallItem, Tier
from tests.browser.support import screenshot, sign_in_staff
from tests.factories import StaffFactory, StoreFactory, make_coupon_template

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hq_sets_up_the_points_mall_and_a_tier_on_a_phone(live_server, browser_two_pages, tmp_path):
    from playwright.sync_api import expect

    page, _other = browser_two_pages
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    make_coupon_template(store.brand, name="十元无门槛券")
    sign_in_staff(page, live_server, "hqadmin")
    page.goto(live_server.url + "/loyalty/")
    page.click("a[href='/loyalty/mall/']")
    page.click("a[href='/loyalty/mall/new/?kind=coupon']")
    page.fill("input[name=name]", "十元券")
    page.fill("input[name=points]", "100")
    page.fill("input[name=stock]", "5")
    page.select_option("select[name=coupon_template_id]", label="十元无门槛券")
    screenshot(page, tmp_path, "mall-item-form")
    page.click("#mall-item-form button[type=submit]")
    item = MallItem.objects.get()
    row = page.locator(f"[data-testid=mall-item-{item.pk}]")
    expect(row).to_contain_text("十元券")
    row.locator("input[name=amount]").fill("20")
    row.locator("form[action$='/stock/'] button[type=submit]").click()
    expect(page.locator(f"[data-testid=mall-item-{item.pk}]")).to_contain_text("25")
    screenshot(page, tmp_path, "mall-items")
    page.goto(live_server.url + "/loyalty/tiers/new/")
    page.fill("input[name=name]", "金卡")
    page.fill("input[name=threshold]", "1000")
    page.fill("input[name=multiplier_percent]", "150")
    page.click("button[value=preview]")
    expect(page.locator("#tier-preview")).to_contain_text("金卡")
    assert not Tier.objects.exists()
    page.click("button[value=save]")
    expect(page.locator("#tiers")).to_contain_text("1.5×")
    screenshot(page, tmp_path, "tiers")
