"""Coupons in real browsers (phone viewport 390×844): a member opens the coupon wallet and a coupon's QR page,
checks out with the suggested coupon; a clerk redeems the member's other coupon at the counter by typing its
short code on ``/pickup/``, with the sale amount, the discount and a confirmation."""

from __future__ import annotations

import re
import uuid

import pytest

from siyu.catalog.models import StoreListing
from siyu.catalog.services import publication, stock
from siyu.loyalty.models import Coupon
from siyu.loyalty.services import coupons
from siyu.orders.models import Order
from tests.browser.support import redeem_coupon_at_counter, screenshot, sign_in_member, sign_in_staff
from tests.factories import (
    MemberFactory,
    StaffFactory,
    StoreFactory,
    give_coupon,
    make_coupon_template,
    make_product,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wallet_checkout_with_a_coupon_and_counter_by_short_code(live_server, browser_two_pages, tmp_path):
    from playwright.sync_api import expect

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="clerk1", role="clerk", stores=[store])
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))  # 39.00, member price 35.00
    publication.publish(hq, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store, sku__product=product)
    stock.set_stock(hq, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")
    online = give_coupon(make_coupon_template(store.brand, name="新人立减10元", amount_fen=1000), member)
    counter_coupon = give_coupon(
        make_coupon_template(
            store.brand, name="满100减20", kind="threshold", amount_fen=2000, threshold_fen=10000
        ),
        member,
    )
    phone, counter = browser_two_pages
    sign_in_member(phone, live_server, member)

    # The wallet: both coupons with their rules; the counter coupon's page shows its QR and short code.
    phone.goto(f"{live_server.url}/h5/coupons/")
    expect(phone.locator(f"[data-testid=coupon-{online.pk}]")).to_contain_text("新人立减10元")
    expect(phone.locator(f"[data-testid=coupon-{counter_coupon.pk}]")).to_contain_text("100.00")
    screenshot(phone, tmp_path, "coupon-wallet")
    phone.click(f"[data-testid=coupon-{counter_coupon.pk}]")
    qr = phone.locator("[data-testid=coupon-qr] img")
    expect(qr).to_be_visible()
    phone.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=coupon-qr] img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    short = phone.locator("[data-testid=coupon-code]").inner_text().strip()
    assert short == coupons.display_code(counter_coupon)
    screenshot(phone, tmp_path, "coupon-qr")

    # Checkout: the 10-yuan coupon is suggested (the 满100 one does not apply to 35.00) and used.
    phone.goto(f"{live_server.url}/h5/mall/p/{listing.pk}/")
    phone.click("form[action$='/mall/cart/add/'] button[type=submit]")
    expect(phone.locator("#mall-toast")).to_be_visible()
    phone.goto(f"{live_server.url}/h5/mall/cart/")
    pick = phone.locator("[data-testid=coupon-pick]")
    expect(pick).to_contain_text("新人立减10元")
    expect(pick.locator(f"input[value='{online.pk}']")).to_be_checked()
    screenshot(phone, tmp_path, "checkout-coupon-suggested")
    phone.select_option("select[name=pickup_window]", "1:10")
    phone.click("form[action$='/mall/checkout/'] button[type=submit]")
    phone.wait_for_url(re.compile(r"/h5/orders/\d+/$"))
    order = Order.objects.get(member=member)
    assert order.total_fen == 3500 - 1000
    expect(phone.locator("body")).to_contain_text("新人立减10元")
    screenshot(phone, tmp_path, "order-with-coupon")
    online.refresh_from_db()
    assert online.status == "used" and online.order_id == order.pk

    # The clerk types the other coupon's short code as heard, the sale amount, and confirms.
    sign_in_staff(counter, live_server, "clerk1")
    redeem_coupon_at_counter(counter, live_server, short, "128", "108.00")
    screenshot(counter, tmp_path, "counter-coupon-done")
    counter_coupon.refresh_from_db()
    assert counter_coupon.status == "used" and counter_coupon.discount_fen == 2000
    assert Coupon.objects.filter(member=member, status="used").count() == 2

    # The same code again is refused.
    counter.fill("#pickup-code", short)
    counter.click("#pickup-form button[type=submit]")
    expect(counter.locator("[data-pickup-step=refused]")).to_be_visible()
