"""Online recharge: an order of source ``recharge`` paid through the SANDBOX cashier, credited once by the
``paid`` hook; the cap before paying; a refund of the order takes the principal back (refused once spent)."""

from __future__ import annotations

import re

import pytest

from siyu.channels.payments.sandbox import _load as sandbox_trade
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict
from siyu.loyalty.models import RechargeGift, StoredValueEntry
from siyu.loyalty.services import recharge_online
from siyu.loyalty.services import stored_value as sv
from siyu.orders.models import Order
from siyu.orders.services import payments, transitions
from tests.factories import recharge_rule, sv_policy, sv_recharge, two_cups_at
from tests.h5_support import member_client

pytestmark = pytest.mark.django_db


def payments_started(order: Order) -> bool:
    return sandbox_trade(order.out_trade_no) is not None  # the member's H5 visit already opened the trade


@pytest.fixture
def online(sandbox, hq_admin, store_a, brand):
    listing = two_cups_at(hq_admin, store_a)[1]
    sv_policy(brand, recharge_sku=listing.sku)
    return listing


def pay(order: Order, *, started: bool = False) -> None:
    if not started and not payments_started(order):
        payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))


def test_paid_order_credits_the_balance_once_with_the_tier(online, member_a):
    recharge_rule(member_a.brand, 100_000, bonus_fen=10_000, gift="保温杯")
    order = recharge_online.place_order(member_a, 100_000, key="r1")
    assert (order.source, order.total_fen, order.holds_listing_stock) == ("recharge", 100_000, False)
    assert recharge_online.place_order(member_a, 100_000, key="r1").pk == order.pk
    with pytest.raises(Conflict):
        recharge_online.place_order(member_a, 200_000, key="r1")
    assert sv.balance_of(member_a).total_fen == 0
    pay(order)
    pay(order)  # the notice redelivered
    assert sv.balance_of(member_a) == sv.SvBalance(100_000, 10_000)
    entry = StoredValueEntry.objects.get(kind="recharge")
    assert (entry.source, entry.source_ref, entry.idempotency_key) == (
        "online",
        str(order.pk),
        f"sys:recharge-order-{order.pk}",
    )
    assert RechargeGift.objects.get().source == "online"
    online.refresh_from_db()
    assert online.stock == 10  # no stock held


def test_cap_is_checked_before_paying(online, member_a):
    sv_recharge(member_a, 450_000)
    with pytest.raises(sv.CapExceeded):
        recharge_online.place_order(member_a, 60_000, key="r2")
    assert not Order.objects.exists()


def test_closed_without_a_recharge_product(sandbox, member_a):
    assert recharge_online.recharge_listing(member_a) is None
    with pytest.raises(Exception) as err:
        recharge_online.place_order(member_a, 1_000, key="r3")
    assert getattr(err.value, "code", "") == "not_found"


def test_refund_of_the_order_takes_the_principal_back(online, member_a, manager_a, store_a):
    order = recharge_online.place_order(member_a, 10_000, key="r4")
    pay(order)
    transitions.refund(manager_a, order.pk, "充错了")
    assert sv.balance_of(member_a) == sv.SvBalance(0, 0)
    spent = recharge_online.place_order(member_a, 10_000, key="r5")
    pay(spent)
    sv.pay(member_a, 9_000, key="sys:t:spend", store=store_a, source="order", source_ref="x")
    with pytest.raises(sv.InsufficientBalance):
        transitions.refund(manager_a, spent.pk, "充错了")
    spent.refresh_from_db()
    assert spent.status == "paid"


def test_h5_recharge_goes_to_the_cashier(online, member_a):
    recharge_rule(member_a.brand, 50_000, bonus_fen=2_000)
    client = member_client(member_a)
    html = client.get("/h5/balance/").content.decode()
    assert 'data-testid="balance-recharge"' in html and "bonus ¥20.00" in html
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    response = client.post("/h5/balance/recharge/", {"amount": "500.00", "idempotency_key": key})
    assert response.status_code == 302 and "/h5/pay/sandbox/" in response["Location"]
    order = Order.objects.get()
    pay(order, started=True)
    assert sv.balance_of(member_a) == sv.SvBalance(50_000, 2_000)
