"""Paying with stored value in real browsers (phone viewport): a member with a balance buys in the mall
with 余额支付 (paid at once, no cashier), then opens the payment code; the clerk types the 18 digits and an
amount on the counter page and gets a receipt; the same code a second time is refused."""

from __future__ import annotations

import re
import uuid

import pytest

from siyu.catalog.models import StoreListing
from siyu.catalog.services import publication, stock
from siyu.loyalty.services import stored_value as sv
from siyu.orders.models import Order, OrderStatus
from tests.browser.support import screenshot, sign_in_member, sign_in_staff
from tests.factories import (
    MemberFactory,
    StaffFactory,
    StoreFactory,
    make_product,
    recharge_rule,
    sv_recharge,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_pays_with_balance_online_and_at_the_counter(
    live_server, browser_two_pages, settings, tmp_path
):
    from playwright.sync_api import expect

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="clerk1", role="clerk", stores=[store])
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))  # 39.00, member price 35.00
    publication.publish(hq, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store, sku__product=product)
    stock.set_stock(hq, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")
    recharge_rule(store.brand, 10_000, bonus_fen=1_000)
    sv_recharge(member, 10_000, store=store)  # ¥100 + ¥10 bonus

    phone, counter = browser_two_pages
    sign_in_member(phone, live_server, member)

    # Checkout with 余额支付: paid at once, straight to the order with its pickup code.
    phone.goto(f"{live_server.url}/h5/mall/p/{listing.pk}/")
    phone.click("form[action$='/mall/cart/add/'] button[type=submit]")
    expect(phone.locator("#mall-toast")).to_be_visible()
    phone.goto(f"{live_server.url}/h5/mall/cart/")
    pick = phone.locator("[data-testid=balance-pick]")
    expect(pick).to_contain_text("110.00")
    pick.locator("input[value=balance]").check()
    phone.select_option("select[name=pickup_window]", "1:10")
    phone.click("form[action$='/mall/checkout/'] button[type=submit]")
    order = Order.objects.get(member=member)
    phone.wait_for_url(f"**/h5/orders/{order.pk}/")
    expect(phone.locator("[data-testid=short-code]")).to_be_visible()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.payment_method == "balance"
    assert sv.balance_of(member) == sv.SvBalance(6_500, 1_000)
    screenshot(phone, tmp_path, "order-paid-with-balance")

    # The payment code: a QR and 18 digits.
    phone.goto(f"{live_server.url}/h5/balance/pay-code/")
    expect(phone.locator("#sv-paycode img")).to_be_visible()
    digits = phone.locator("[data-testid=pay-code-digits]").inner_text().strip()
    assert re.fullmatch(r"66\d{2}( \d{4}){3} \d{2}", digits), digits
    screenshot(phone, tmp_path, "pay-code")

    # The clerk types it and the amount.
    sign_in_staff(counter, live_server, "clerk1")
    counter.goto(f"{live_server.url}/stored-value/pay/")
    counter.fill("#pay-code", digits)
    counter.fill("#pay-amount", "70")
    counter.click("#balance-pay-form button[type=submit]")
    receipt = counter.locator("[data-testid=balance-receipt]")
    expect(receipt).to_contain_text("70.00")
    screenshot(counter, tmp_path, "counter-receipt")
    assert sv.balance_of(member) == sv.SvBalance(0, 500)

    # The same code again is refused.
    counter.fill("#pay-code", digits)
    counter.fill("#pay-amount", "1")
    counter.click("#balance-pay-form button[type=submit]")
    expect(counter.locator("[data-testid=balance-error]")).to_be_visible()
    assert sv.balance_of(member) == sv.SvBalance(0, 500)
