"""Paying with stored value: H5 checkout with the balance (the "balance" tender), refunds of such orders back
to principal and bonus, payment codes at the counter (single use, short-lived, store-scoped, limited guessing)
and managers' refunds of counter payments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.common.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationFailed
from siyu.loyalty.models import BalancePayCode, StoredValueEntry
from siyu.loyalty.services import balance_codes, balance_counter
from siyu.loyalty.services import stored_value as sv
from siyu.orders.models import Order
from siyu.orders.services import checkout, pickup, refunds, returns, transitions
from siyu.org.models import AuditEntry
from tests.factories import StaffFactory, new_key, pickup_window, stock_of, sv_recharge, two_cups_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    return two_cups_at(hq_admin, store_a)


@pytest.fixture
def funded(member_a, store_a):
    """member_a with ¥100 principal and ¥20 bonus (a ¥100 recharge at a tier giving ¥20)."""
    from tests.factories import recharge_rule

    recharge_rule(member_a.brand, 10_000, bonus_fen=2_000)
    sv_recharge(member_a, 10_000, store=store_a)
    assert sv.balance_of(member_a) == sv.SvBalance(10_000, 2_000)
    return member_a


def _buy(member, store, listing, qty=1, key=None, tender="balance"):
    return checkout.create_order(
        member,
        store_id=store.pk,
        items=[(listing.pk, qty)],
        pickup_window=pickup_window(),
        idempotency_key=key or new_key(),
        tender=tender,
    )


# --- H5 checkout with the balance ---------------------------------------------------------------------


def test_checkout_with_balance_pays_at_once_and_refund_puts_it_back(
    sandbox, funded, store_a, listings, clerk_a
):
    order = _buy(funded, store_a, listings[0], qty=3)  # 3 × 35.00 member price = 105.00
    assert order.total_fen == 10_500
    assert order.status == "paid" and order.payment_method == "balance"
    # Principal first (the default policy), then bonus.
    assert sv.balance_of(funded) == sv.SvBalance(0, 1_500)
    entry = StoredValueEntry.objects.get(kind="pay", source="order", source_ref=str(order.pk))
    assert (entry.principal_delta_fen, entry.bonus_delta_fen, entry.store_id) == (-10_000, -500, store_a.pk)
    transitions.refund(clerk_a, order.pk, "changed mind")
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    assert stock_of(listings[0]) == 10


def test_not_enough_balance_leaves_order_stock_and_balance_alone(funded, store_a, listings):
    with pytest.raises(sv.InsufficientBalance):
        _buy(funded, store_a, listings[0], qty=4)  # 140.00 > 120.00
    assert not Order.objects.filter(member=funded).exists()
    assert stock_of(listings[0]) == 10 and sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)


def test_double_submit_pays_once(funded, store_a, listings):
    key = new_key()
    first = _buy(funded, store_a, listings[0], key=key)
    again = _buy(funded, store_a, listings[0], key=key)
    assert first.pk == again.pk
    assert StoredValueEntry.objects.filter(kind="pay").count() == 1
    assert sv.balance_of(funded).total_fen == 12_000 - 3_500


def test_return_and_automatic_refund_of_a_balance_order(funded, store_a, listings, clerk_a, manager_a):
    order = _buy(funded, store_a, listings[0])
    pickup.verify_pickup(clerk_a, order.pickup_code.short_code)
    made = returns.return_order(manager_a, order.pk, "broken", key=new_key())
    assert made.method == "tender"
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    other = _buy(funded, store_a, listings[1])
    refunds.refund_automatically(other, reason="team did not form")
    refunds.refund_automatically(other, reason="team did not form")  # once
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    assert StoredValueEntry.objects.filter(kind="refund").count() == 2


# --- payment codes ---------------------------------------------------------------------------------------


def test_issued_code_is_18_digits_and_only_its_hash_is_stored(funded):
    issued = balance_codes.issue_code(funded)
    assert len(issued.code) == 18 and issued.code.isdigit() and issued.code.startswith("66")
    assert issued.balance == sv.SvBalance(10_000, 2_000)
    row = BalancePayCode.objects.get(member=funded)
    assert issued.code not in row.code_hash and row.code_hash == balance_codes.code_hash(issued.code)
    assert (row.expires_at - row.created_at) == timedelta(seconds=60)
    assert balance_codes.normalise_code(issued.grouped) == issued.code
    assert balance_codes.normalise_code("12" + issued.code[2:]) is None


def test_issuing_is_limited(funded):
    for _ in range(balance_codes.MAX_CODES_PER_WINDOW):
        balance_codes.issue_code(funded)
    with pytest.raises(RateLimited):
        balance_codes.issue_code(funded)


def test_counter_pay_draws_the_balance_once(funded, store_a, clerk_a):
    issued = balance_codes.issue_code(funded)
    key = new_key()
    paid = balance_counter.counter_pay(clerk_a, code=issued.grouped, amount_fen=11_000, key=key)
    assert (paid.principal_fen, paid.bonus_fen) == (10_000, 1_000)
    assert paid.balance == sv.SvBalance(0, 1_000)
    row = paid.payment
    assert row.store_id == store_a.pk and row.staff_id == clerk_a.pk and row.amount_fen == 11_000
    # The clerk's double tap answers the same payment.
    again = balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=11_000, key=key)
    assert again.payment.pk == row.pk and not again.created
    with pytest.raises(Conflict) as caught:
        balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=500, key=key)
    assert caught.value.code == "idempotency_mismatch"
    # The code is spent.
    with pytest.raises(Conflict) as used:
        balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=500, key=new_key())
    assert used.value.code == "already_used"
    assert sv.balance_of(funded) == sv.SvBalance(0, 1_000)
    assert AuditEntry.objects.filter(action="stored_value.counter_pay", store_id=store_a.pk).count() == 1
    assert Event.objects.filter(type="stored_value.paid", payload__source="counter_code").count() == 1


@pytest.mark.parametrize("amount", [20_000, 0, -5, "100", 1.5, None])
def test_too_much_or_bad_amount_changes_nothing_and_keeps_the_code(funded, clerk_a, amount):
    issued = balance_codes.issue_code(funded)
    with pytest.raises((sv.InsufficientBalance, ValidationFailed)):
        balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=amount, key=new_key())
    row = BalancePayCode.objects.get(member=funded)
    assert row.used_at is None and row.amount_fen is None
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    # The code still works for an amount the balance covers.
    balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=1_000, key=new_key())
    assert sv.balance_of(funded).total_fen == 11_000


def test_expired_code_changes_nothing(funded, clerk_a):
    issued = balance_codes.issue_code(funded, now=timezone.now() - timedelta(seconds=61))
    with pytest.raises(Conflict) as caught:
        balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=100, key=new_key())
    assert caught.value.code == "code_expired"
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    assert BalancePayCode.objects.get(member=funded).used_at is None


def test_store_scoping(funded, brand, store_a, store_b, clerk_a, hq_admin):
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    issued = balance_codes.issue_code(funded)
    # A clerk cannot name another store; HQ is not at a counter.
    with pytest.raises(NotFound):
        balance_counter.counter_pay(
            clerk_a, code=issued.code, amount_fen=100, key=new_key(), store_id=store_b.pk
        )
    with pytest.raises(NotFound):
        balance_counter.counter_pay(hq_admin, code=issued.code, amount_fen=100, key=new_key())
    # The code works at any store of the brand: at B, the payment is B's.
    paid = balance_counter.counter_pay(clerk_b, code=issued.code, amount_fen=100, key=new_key())
    assert paid.payment.store_id == store_b.pk
    # Store A's staff do not see B's payment; HQ does.
    manager_a = StaffFactory(brand=brand, username="mgra", role="store_manager", stores=[store_a])
    assert not balance_counter.store_payments(manager_a).exists()
    with pytest.raises(NotFound):
        balance_counter.get_payment(manager_a, paid.payment.pk)
    with pytest.raises(NotFound):
        balance_counter.refund_counter_payment(manager_a, paid.payment.pk, reason="x", key=new_key())
    with pytest.raises(NotFound):
        balance_counter.store_payments(manager_a, store_id=store_b.pk)
    assert list(balance_counter.store_payments(hq_admin)) == [paid.payment]


def test_unknown_codes_are_limited_like_pickup_codes(funded, clerk_a, settings):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 3
    for _ in range(3):
        with pytest.raises(NotFound):
            balance_counter.counter_pay(clerk_a, code="66" + "0" * 16, amount_fen=100, key=new_key())
    issued = balance_codes.issue_code(funded)
    with pytest.raises(RateLimited):
        balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=100, key=new_key())


def test_manager_refunds_a_counter_payment_once(funded, clerk_a, manager_a):
    issued = balance_codes.issue_code(funded)
    paid = balance_counter.counter_pay(clerk_a, code=issued.code, amount_fen=11_000, key=new_key())
    with pytest.raises(PermissionDenied):
        balance_counter.refund_counter_payment(clerk_a, paid.payment.pk, reason="wrong amount", key=new_key())
    key = new_key()
    row = balance_counter.refund_counter_payment(manager_a, paid.payment.pk, reason="wrong amount", key=key)
    assert row.refunded_at is not None and row.refunded_by_id == manager_a.pk
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    again = balance_counter.refund_counter_payment(manager_a, paid.payment.pk, reason="wrong amount", key=key)
    assert again.pk == row.pk
    with pytest.raises(Conflict) as caught:
        balance_counter.refund_counter_payment(manager_a, paid.payment.pk, reason="again", key=new_key())
    assert caught.value.code == "already_refunded"
    assert sv.balance_of(funded) == sv.SvBalance(10_000, 2_000)
    assert AuditEntry.objects.filter(action="stored_value.counter_refund").count() == 1
