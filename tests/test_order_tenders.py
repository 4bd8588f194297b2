"""Tenders plug into orders without orders knowing them: a made-up wallet registers the "balance" tender;
checkout pays with it at once (placed and paid, or nothing), and every refund path (staff refund, return,
automatic refund) gives the money back through it, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.common.errors import Conflict, ValidationFailed
from siyu.orders import tenders
from siyu.orders.models import Order, OrderReturn, OrderTransition
from siyu.orders.services import checkout, pickup, refunds, returns, transitions
from siyu.orders.services.tender_pay import pay_with_tender
from tests.factories import new_key, pickup_window, stock_of, two_cups_at


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    return two_cups_at(hq_admin, store_a)


class FakeWallet:
    """A wallet above orders: a balance per member, applied once per key."""

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.applied: dict[str, int] = {}

    def settle(self, order: Order, key: str) -> None:
        if key in self.applied:
            return
        if order.total_fen > self.balance:
            raise Conflict("not enough balance", code="insufficient_balance")
        self.balance -= order.total_fen
        self.applied[key] = -order.total_fen

    def refund(self, order: Order, key: str) -> None:
        if key in self.applied:
            return
        self.balance += order.total_fen
        self.applied[key] = order.total_fen


@pytest.fixture
def wallet() -> Iterator[FakeWallet]:
    fake = FakeWallet(10_000)
    previous = tenders.tender_for("balance")
    remove = tenders.register_tender("balance", settle=fake.settle, refund=fake.refund)
    yield fake
    remove()
    if previous is not None:
        tenders.register_tender("balance", settle=previous.settle, refund=previous.refund)


def _buy(member, store, listing, qty=1, key=None, tender="balance"):
    return checkout.create_order(
        member,
        store_id=store.pk,
        items=[(listing.pk, qty)],
        pickup_window=pickup_window(),
        idempotency_key=key or new_key(),
        tender=tender,
    )


def test_checkout_with_a_tender_places_and_pays_at_once(sandbox, wallet, member_a, store_a, listings):
    key = new_key()
    order = _buy(member_a, store_a, listings[0], qty=2, key=key)
    assert order.status == "paid" and order.payment_method == "balance" and order.paid_at is not None
    assert wallet.balance == 10_000 - order.total_fen
    assert OrderTransition.objects.filter(order=order, to_status="paid", reason="paid by balance").exists()
    assert pickup.pickup_display(order).short_code  # the pickup code is there at once
    # The same form sent again: the same order, paid once.
    again = _buy(member_a, store_a, listings[0], qty=2, key=key)
    assert again.pk == order.pk and wallet.balance == 10_000 - order.total_fen
    # The same key without the tender is another request.
    with pytest.raises(Conflict) as caught:
        _buy(member_a, store_a, listings[0], qty=2, key=key, tender=None)
    assert caught.value.code == "idempotency_mismatch"


def test_not_enough_balance_places_nothing(sandbox, wallet, member_a, store_a, listings):
    wallet.balance = 100
    with pytest.raises(Conflict) as caught:
        _buy(member_a, store_a, listings[0], qty=2)
    assert caught.value.code == "insufficient_balance"
    assert not Order.objects.filter(member=member_a).exists()
    assert stock_of(listings[0]) == 10 and wallet.balance == 100


def test_unknown_tender_is_refused(member_a, store_a, listings):
    with pytest.raises(ValidationFailed) as caught:
        _buy(member_a, store_a, listings[0], tender="seashells")
    assert caught.value.field == "tender"
    assert not Order.objects.filter(member=member_a).exists()


def test_staff_refund_goes_back_through_the_tender_once(
    sandbox, wallet, member_a, store_a, listings, clerk_a
):
    order = _buy(member_a, store_a, listings[0], qty=2)
    transitions.refund(clerk_a, order.pk, "changed mind")
    order.refresh_from_db()
    assert order.status == "refunded" and wallet.balance == 10_000 and stock_of(listings[0]) == 10
    # An automatic refund afterwards is a no-op (already refunded).
    refunds.refund_automatically(order, reason="team failed")
    assert wallet.balance == 10_000


def test_automatic_refund_uses_the_tender(wallet, member_a, store_a, listings):
    order = _buy(member_a, store_a, listings[0])
    refunds.refund_automatically(order, reason="team did not form")
    order.refresh_from_db()
    assert order.status == "refunded" and wallet.balance == 10_000


def test_a_refusing_tender_refund_changes_nothing(wallet, member_a, store_a, listings, clerk_a):
    order = _buy(member_a, store_a, listings[0])

    def refuse(_order: Order, _key: str) -> None:
        raise Conflict("ledger closed", code="refund_refused")

    tenders.register_tender("balance", settle=wallet.settle, refund=refuse)
    with pytest.raises(Conflict):
        transitions.refund(clerk_a, order.pk, "changed mind")
    order.refresh_from_db()
    assert order.status == "paid" and stock_of(listings[0]) == 9


def test_return_of_a_tender_paid_order(wallet, member_a, store_a, listings, clerk_a, manager_a):
    order = _buy(member_a, store_a, listings[0])
    pickup.verify_pickup(clerk_a, order.pickup_code.short_code)
    made = returns.return_order(manager_a, order.pk, "broken", key=new_key())
    assert made.method == OrderReturn.Method.TENDER and made.refund_status == "SUCCESS"
    assert wallet.balance == 10_000


def test_pay_with_tender_only_from_pending_payment(wallet, member_a, store_a, listings):
    order = checkout.create_order(
        member_a,
        store_id=store_a.pk,
        items=[(listings[0].pk, 1)],
        pickup_window=pickup_window(),
        idempotency_key=new_key(),
    )
    transitions.cancel(order.pk, member=member_a)
    with pytest.raises(Conflict):
        pay_with_tender(order, "balance")
    assert wallet.balance == 10_000
