"""Recharge slots in a real browser (phone viewport): a member buys a ¥11 slot through the flash-sale page and
pays in the sandbox cashier; the clerk finds the slot on the counter page by the member's mobile, records an
in-store recharge of ¥3,000; the receipt shows the gift and the deposit credited, the member's 我的名额 shows
the slot used and their balance page the ¥3,011 principal and the gift to collect."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.campaigns.services import flash_config
from siyu.loyalty.services import stored_value
from siyu.orders.models import Order
from tests.browser.support import screenshot, sign_in_member, sign_in_staff
from tests.factories import MemberFactory, StaffFactory, StoreFactory, recharge_rule, running_slot_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_buys_a_slot_and_the_clerk_converts_it(live_server, browser_two_pages, settings, tmp_path):
    from playwright.sync_api import expect

    settings.REDIS_URL = ""  # the database backend: the order is written by the purchase itself
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    flash_config.clear_caches()
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="clerk1", role="clerk", stores=[store])
    recharge_rule(store.brand, 300_000, gift="空气净化器")
    slots = running_slot_campaign(
        hq, store_ids=[store.pk], convert_until=timezone.now() + timedelta(days=7), slots=20
    )
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")

    phone, counter = browser_two_pages
    sign_in_member(phone, live_server, member)
    phone.goto(f"{live_server.url}/h5/slots/{slots.campaign_id}/")
    expect(phone.locator("[data-testid=slot-campaign]")).to_contain_text("11.00")
    screenshot(phone, tmp_path, "slot-campaign")
    phone.click("[data-testid=slot-buy]")
    phone.wait_for_url(re.compile(rf"/h5/flash/{slots.campaign_id}/$"))
    buy = phone.locator("button[data-buy]")
    expect(buy).to_be_enabled()
    buy.click()

    # The deposit order, then the SANDBOX cashier.
    phone.wait_for_url(re.compile(r"/h5/orders/\d+/$"))
    order = Order.objects.get(member=member)
    assert (order.source, order.total_fen, order.status) == ("flash_sale", 1100, "pending_payment")
    phone.click(f"form[action$='/orders/{order.pk}/pay/'] button[type=submit]")
    phone.wait_for_url(re.compile(r"/h5/pay/sandbox/[^/]+/$"))
    phone.click("main form button[type=submit]")
    phone.wait_for_url(f"**/h5/orders/{order.pk}/")
    slot = RechargeSlot.objects.get(order=order)
    assert slot.status == SlotStatus.HELD

    phone.goto(f"{live_server.url}/h5/slots/")
    expect(phone.locator("[data-testid=my-slot]")).to_have_count(1)
    expect(phone.locator("[data-testid=slot-code]")).to_be_visible()
    screenshot(phone, tmp_path, "my-slot-held")

    # The clerk, on the counter phone: find by mobile, the threshold is prefilled, confirm.
    sign_in_staff(counter, live_server, "clerk1")
    counter.goto(f"{live_server.url}/slots/counter/")
    counter.fill("#slot-q", "13812341234")
    counter.locator("form[role=search] button[type=submit]").click()
    card = counter.locator("[data-testid=slot-card]")
    expect(card).to_have_count(1)
    counter.fill("[data-testid=slot-amount]", "3000")
    screenshot(counter, tmp_path, "counter-slot-found")
    card.locator("button[type=submit]").click()
    receipt = counter.locator("[data-testid=slot-receipt]")
    expect(receipt).to_be_visible()
    expect(counter.locator("[data-testid=slot-gift]")).to_contain_text("空气净化器")
    expect(counter.locator("[data-testid=deposit-credited]")).to_contain_text("11.00")
    screenshot(counter, tmp_path, "counter-receipt")

    slot.refresh_from_db()
    assert slot.status == SlotStatus.CONVERTED and slot.recharge_fen == 300_000
    assert stored_value.balance_of(member).principal_fen == 301_100
    assert Order.objects.get(pk=order.pk).status == "picked_up"

    phone.goto(f"{live_server.url}/h5/slots/")
    expect(phone.locator("[data-testid=my-slot]")).to_contain_text("空气净化器")
    expect(phone.locator("[data-testid=slot-code]")).to_have_count(0)
    screenshot(phone, tmp_path, "my-slot-converted")

    # The member's balance page: the recharge and the deposit as principal, the gift to collect.
    phone.goto(f"{live_server.url}/h5/balance/")
    expect(phone.locator("[data-testid=balance-principal]")).to_contain_text("3011.00")
    expect(phone.locator("[data-testid=balance-gifts]")).to_contain_text("空气净化器")
    screenshot(phone, tmp_path, "member-balance")
    flash_config.clear_caches()
