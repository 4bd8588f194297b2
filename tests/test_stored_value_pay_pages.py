"""Paying with stored value on the pages: 余额支付 at H5 checkout, the member's payment code (auto-refresh),
the counter page (scan/type + amount, per-render key, refusals as messages) and the store's payments list
with a manager's refund. Store scoping: another store's staff see nothing (404)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from siyu.loyalty.models import BalancePayCode
from siyu.loyalty.services import balance_codes, balance_counter
from siyu.loyalty.services import stored_value as sv
from siyu.orders.models import Order
from tests.api_support import assert_error
from tests.factories import StaffFactory, new_key, sv_recharge, two_cups_at
from tests.h5_support import TOMORROW_MORNING, add_to_cart, cart_key, member_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    return two_cups_at(hq_admin, store_a)


def _staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _form_key(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_checkout_offers_balance_when_it_covers_the_cart_and_pays_at_once(member_a, store_a, listings):
    client = member_client(member_a)
    add_to_cart(client, listings[0], 2)  # 70.00
    assert "balance-pick" not in client.get("/h5/mall/cart/").content.decode()  # no balance yet
    sv_recharge(member_a, 10_000, store=store_a)
    page = client.get("/h5/mall/cart/").content.decode()
    assert "balance-pick" in page and "100.00" in page
    key = cart_key(client)
    data = {"idempotency_key": key, "pickup_window": TOMORROW_MORNING, "pay_with": "balance"}
    response = client.post("/h5/mall/checkout/", data)
    order = Order.objects.get(member=member_a)
    assert response.status_code == 302 and response["Location"] == f"/h5/orders/{order.pk}/"
    assert order.status == "paid" and order.payment_method == "balance"
    assert sv.balance_of(member_a).total_fen == 10_000 - 7_000
    # The form sent twice: one order, one payment.
    client.post("/h5/mall/checkout/", data)
    assert Order.objects.filter(member=member_a).count() == 1
    assert sv.balance_of(member_a).total_fen == 3_000
    assert client.get(f"/h5/orders/{order.pk}/").status_code == 200


def test_checkout_with_too_little_balance_says_so_and_places_nothing(member_a, store_a, listings):
    sv_recharge(member_a, 3_000, store=store_a)
    client = member_client(member_a)
    add_to_cart(client, listings[0], 2)
    data = {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING, "pay_with": "balance"}
    response = client.post("/h5/mall/checkout/", data, follow=True)
    assert not Order.objects.filter(member=member_a).exists()
    assert "30.00" in response.content.decode()  # "Not enough balance: ¥30.00 available…"
    assert sv.balance_of(member_a).total_fen == 3_000


def test_pay_code_page_shows_a_fresh_code_and_refreshes(member_a, store_a):
    sv_recharge(member_a, 5_000, store=store_a)
    client = member_client(member_a)
    page = client.get("/h5/balance/pay-code/").content.decode()
    assert "data:image/png;base64," in page and 'hx-trigger="every 45s"' in page
    digits = re.search(r'data-testid="pay-code-digits">([0-9 ]+)<', page)
    assert digits and len(digits.group(1).replace(" ", "")) == 18
    assert client.get("/h5/balance/pay-code/fresh/").status_code == 302  # not htmx: the page
    fresh = client.get("/h5/balance/pay-code/fresh/", HTTP_HX_REQUEST="true").content.decode()
    assert "pay-code-digits" in fresh and "<html" not in fresh
    assert BalancePayCode.objects.filter(member=member_a).count() == 2
    assert Client().get("/h5/balance/pay-code/").status_code == 302  # signed out: sign in first


def test_counter_page_takes_a_payment_once(member_a, store_a, clerk_a):
    sv_recharge(member_a, 10_000, store=store_a)
    code = balance_codes.issue_code(member_a).grouped
    client = _staff_client(clerk_a)
    page = client.get("/stored-value/pay/").content.decode()
    key = _form_key(page)
    data = {"idempotency_key": key, "code": code, "amount": "12.50"}
    done = client.post("/stored-value/pay/", data)
    assert done.status_code == 200 and 'data-testid="balance-receipt"' in done.content.decode()
    again = client.post("/stored-value/pay/", data)  # a double tap: the same receipt, one payment
    assert 'data-testid="balance-receipt"' in again.content.decode()
    assert sv.balance_of(member_a).total_fen == 10_000 - 1_250
    # Another key with the spent code: refused on the page, nothing taken.
    refused = client.post("/stored-value/pay/", {**data, "idempotency_key": new_key()})
    assert refused.status_code == 409 and 'data-testid="balance-error"' in refused.content.decode()
    bad = client.post("/stored-value/pay/", {**data, "idempotency_key": new_key(), "amount": "abc"})
    assert bad.status_code == 400
    assert sv.balance_of(member_a).total_fen == 8_750


def test_payments_list_and_refund_are_store_scoped(brand, member_a, store_a, store_b, clerk_a, manager_a):
    sv_recharge(member_a, 10_000, store=store_a)
    code = balance_codes.issue_code(member_a).code
    paid = balance_counter.counter_pay(clerk_a, code=code, amount_fen=2_000, key=new_key())
    manager_b = StaffFactory(brand=brand, username="mgrb", role="store_manager", stores=[store_b])
    other = _staff_client(manager_b)
    assert 'data-testid="balance-payment"' not in other.get("/stored-value/payments/").content.decode()
    refused = other.post(
        f"/stored-value/payments/{paid.payment.pk}/refund/",
        {"reason": "x", "confirm": "1", "idempotency_key": new_key()},
    )
    assert refused.status_code == 404
    # The clerk sees it but may not refund.
    clerk = _staff_client(clerk_a)
    assert 'data-testid="balance-payment"' in clerk.get("/stored-value/payments/").content.decode()
    assert (
        clerk.post(
            f"/stored-value/payments/{paid.payment.pk}/refund/",
            {"reason": "x", "confirm": "1", "idempotency_key": new_key()},
        ).status_code
        == 403
    )
    manager = _staff_client(manager_a)
    page = manager.get("/stored-value/payments/").content.decode()
    assert "Refund" in page or "退" in page
    response = manager.post(
        f"/stored-value/payments/{paid.payment.pk}/refund/",
        {"reason": "wrong amount", "confirm": "1", "idempotency_key": _form_key(page)},
    )
    assert response.status_code == 302
    assert sv.balance_of(member_a).total_fen == 10_000


def test_api_pay_list_refund(as_clerk, as_manager, as_admin, member_a, store_a) -> None:
    sv_recharge(member_a, 10_000, store=store_a)
    code = balance_codes.issue_code(member_a).code
    body = {"code": code, "amount_fen": 2_500}
    key = {"Idempotency-Key": new_key()}
    made = as_clerk.post("/stored-value/payments", body, headers=key)
    assert made.status_code == 201, made.content
    out = made.json()
    assert out["payment"]["amount_fen"] == 2_500 and out["balance_principal_fen"] == 7_500
    assert out["payment"]["member_mobile"] == "138****1234"
    assert as_clerk.post("/stored-value/payments", body, headers=key).status_code == 200
    assert_error(
        as_clerk.post("/stored-value/payments", body, headers={"Idempotency-Key": new_key()}),
        409,
        "already_used",
    )
    assert_error(as_admin.post("/stored-value/payments", body, headers={"Idempotency-Key": new_key()}), 404)
    assert_error(as_clerk.post("/stored-value/payments", {**body, "amount_fen": 0}, headers=key), 400)
    listed = as_manager.get("/stored-value/payments").json()
    assert listed["count"] == 1 and listed["items"][0]["principal_fen"] == 2_500
    pid = listed["items"][0]["id"]
    assert_error(
        as_clerk.post(
            f"/stored-value/payments/{pid}/refund", {"reason": "x"}, headers={"Idempotency-Key": new_key()}
        ),
        403,
    )
    refunded = as_manager.post(
        f"/stored-value/payments/{pid}/refund", {"reason": "wrong"}, headers={"Idempotency-Key": new_key()}
    )
    assert refunded.status_code == 200 and refunded.json()["refunded_at"]
    assert sv.balance_of(member_a).total_fen == 10_000
