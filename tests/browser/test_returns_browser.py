"""A return at the counter on a phone (390×844): the store manager opens a picked-up order, taps 退货退款,
gives a reason, ticks the confirmation and returns it; the member, who had already spent most of the points
the order earned, sees on 我的积分 that they now owe points."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.loyalty.services import points
from siyu.orders.models import Order, OrderStatus
from tests.browser.support import screenshot, sign_in_member, sign_in_staff
from tests.factories import StaffFactory, picked_up_order, purchase_rule, two_cups_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_returns_a_picked_up_order_and_the_member_sees_the_debt(
    live_server, browser_two_pages, settings, tmp_path: Path, brand, store_a, hq_admin, clerk_a, member_a
):
    from playwright.sync_api import expect

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    StaffFactory(brand=brand, username="manager1", role="store_manager", stores=[store_a])
    purchase_rule(brand, 1)
    cups = two_cups_at(hq_admin, store_a)
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[0].pk, 2)])  # 70.00 → 70 points
    points.spend(member_a, 50, key="sys:test:spend")

    counter, phone = browser_two_pages
    sign_in_staff(counter, live_server, "manager1")
    counter.goto(f"{live_server.url}/orders/{order.pk}/")
    counter.click("[data-testid=return-box] summary")
    form = counter.locator("[data-testid=return-form]")
    expect(form).to_be_visible()
    form.locator("input[name=reason]").fill("杯子有裂纹")
    screenshot(counter, tmp_path, "return-form")
    form.locator("input[name=confirm]").check()
    form.locator("button[type=submit]").click()
    expect(counter.locator("[data-testid=return-done]")).to_contain_text("70.00")
    screenshot(counter, tmp_path, "return-done")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED

    sign_in_member(phone, live_server, member_a)
    phone.goto(f"{live_server.url}/h5/points/")
    expect(phone.locator("[data-testid=points-owed]")).to_contain_text("50")
    screenshot(phone, tmp_path, "member-owes-points")
