"""The member's points on a phone (390×844): from the home tile to the check-in page, check in, see the
points on 我的积分, exchange points for a coupon in the points mall after confirming, and use that coupon at
checkout; then a clerk redeems the member's other coupon at the counter by its short code (issue 11)."""

from __future__ import annotations

import re
import uuid

import pytest

from siyu.catalog.models import StoreListing
from siyu.catalog.services import publication, stock
from siyu.loyalty.models import Coupon, CouponTemplate, EarnRule, Exchange, MallItem
from siyu.loyalty.services import coupons, points
from siyu.orders.models import Order
from tests.browser.support import redeem_coupon_at_counter, screenshot, sign_in_member, sign_in_staff
from tests.factories import (
    MemberFactory,
    StaffFactory,
    StoreFactory,
    credit_points,
    give_coupon,
    make_coupon_template,
    make_product,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_checks_in_sees_points_and_exchanges_them_for_a_coupon(
    live_server, browser_two_pages, tmp_path, settings
):
    from playwright.sync_api import expect

    settings.LANGUAGE_CODE = "zh-hans"  # the member pages as members see them
    page = browser_two_pages[0]
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    brand = store.brand
    member = MemberFactory(brand=brand, home_store=store, nickname="小林")
    EarnRule.objects.create(
        brand=brand,
        kind=EarnRule.Kind.CHECKIN,
        name="每日签到",
        points=5,
        config={"streak_bonus": {"7": 20}, "makeup_cost": 20, "makeup_days": 7},
    )
    template = CouponTemplate.objects.create(
        brand=brand, name="10元无门槛券", kind=CouponTemplate.Kind.FIXED, amount_fen=1000, valid_days=30
    )
    item = MallItem.objects.create(
        brand=brand,
        kind=MallItem.Kind.COUPON,
        name="10元无门槛券",
        description="全场通用，兑换后30天内有效",
        points=200,
        stock=20,
        member_limit=1,
        coupon_template=template,
    )
    credit_points(member, 300, reason="订单积分")
    hq = StaffFactory(brand=brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=brand, username="clerk1", role="clerk", stores=[store])
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))  # 39.00, member price 35.00
    publication.publish(hq, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store, sku__product=product)
    stock.set_stock(hq, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    sign_in_member(page, live_server, member)

    page.goto(f"{live_server.url}/h5/")
    page.get_by_test_id("link-points").click()
    expect(page.get_by_test_id("points-balance")).to_contain_text("300")
    page.get_by_test_id("tab-checkin").click()
    screenshot(page, tmp_path, "points-checkin-before")
    page.get_by_test_id("checkin-button").click()
    expect(page.locator(".h5-message-success")).to_contain_text("+5")
    expect(page.locator(".pts-day-today")).to_contain_text("✓")
    screenshot(page, tmp_path, "points-checkin-done")

    page.get_by_test_id("tab-points").click()
    expect(page.get_by_test_id("points-balance")).to_contain_text("305")
    expect(page.get_by_test_id("points-history")).to_contain_text("每日签到")
    screenshot(page, tmp_path, "points-home")

    page.get_by_test_id("tab-mall").click()
    expect(page.get_by_test_id("points-mall")).to_contain_text("10元无门槛券")
    screenshot(page, tmp_path, "points-mall")
    page.get_by_text("10元无门槛券").first.click()
    page.get_by_test_id("exchange").click()
    expect(page.get_by_test_id("confirm")).to_contain_text("200")
    screenshot(page, tmp_path, "points-confirm")
    page.get_by_test_id("confirm-exchange").click()
    expect(page.locator(".h5-message-success")).to_contain_text("10元无门槛券")
    screenshot(page, tmp_path, "points-exchanged")

    assert points.balance_of(member).shown == 105
    row = Exchange.objects.get(item=item)
    exchanged = Coupon.objects.get(pk=row.coupon_id, member=member)

    # The exchanged coupon is suggested at checkout and used.
    page.goto(f"{live_server.url}/h5/mall/p/{listing.pk}/")
    page.click("form[action$='/mall/cart/add/'] button[type=submit]")
    expect(page.locator("#mall-toast")).to_be_visible()
    page.goto(f"{live_server.url}/h5/mall/cart/")
    expect(page.locator(f"[data-testid=coupon-pick] input[value='{exchanged.pk}']")).to_be_checked()
    page.select_option("select[name=pickup_window]", "1:10")
    page.click("form[action$='/mall/checkout/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/h5/orders/\d+/$"))
    screenshot(page, tmp_path, "points-order-with-exchanged-coupon")
    order = Order.objects.get(member=member)
    assert order.total_fen == 3500 - 1000
    exchanged.refresh_from_db()
    assert exchanged.status == "used" and exchanged.order_id == order.pk

    # A clerk redeems the member's other coupon at the counter by typing its short code.
    other = give_coupon(make_coupon_template(brand, name="店内满50减5", amount_fen=500), member)
    staff_page = browser_two_pages[1]
    sign_in_staff(staff_page, live_server, "clerk1")
    redeem_coupon_at_counter(staff_page, live_server, coupons.display_code(other), "60", "55.00")
    screenshot(staff_page, tmp_path, "points-counter-coupon-done")
    other.refresh_from_db()
    assert other.status == "used" and other.discount_fen == 500
