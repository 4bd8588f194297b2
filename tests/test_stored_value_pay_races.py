"""Paying with stored value on PostgreSQL with real parallel connections (issue 12 "must show")."""

from __future__ import annotations

import pytest

from siyu.common.errors import Conflict
from siyu.loyalty.models import BalancePayCode, StoredValueEntry
from siyu.loyalty.services import balance_codes, balance_counter
from siyu.loyalty.services import stored_value as sv
from siyu.loyalty.services.balance_counter import CounterPayment
from siyu.orders.models import Order
from siyu.orders.services import checkout
from tests.factories import StaffFactory, new_key, pickup_window, sv_recharge, two_cups_at
from tests.race_support import needs_postgres, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_one_payment_code_at_two_counters_at_once_pays_once(brand, store_a, store_b, member_a):
    needs_postgres()
    clerks = [
        StaffFactory(brand=brand, username="counter-a", role="clerk", stores=[store_a]),
        StaffFactory(brand=brand, username="counter-b", role="clerk", stores=[store_b]),
    ]
    sv_recharge(member_a, 50_000, store=store_a)
    issued = balance_codes.issue_code(member_a)
    outcomes = run_threads(
        2,
        lambda i: balance_counter.counter_pay(
            clerks[i], code=issued.code, amount_fen=30_000, key=f"counter-{i}"
        ),
    )
    wins = [o for o in outcomes if isinstance(o, CounterPayment)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "already_used"
    assert sv.balance_of(member_a) == sv.SvBalance(20_000, 0)
    assert StoredValueEntry.objects.filter(kind="pay").count() == 1
    assert BalancePayCode.objects.get().store_id == wins[0].payment.store_id


def test_two_balance_checkouts_that_together_pass_the_balance_pay_one(brand, hq_admin, store_a, member_a):
    needs_postgres()
    listings = two_cups_at(hq_admin, store_a)
    sv_recharge(member_a, 5_000, store=store_a)  # ¥50: one cup at ¥35, not two

    def buy(i: int) -> object:
        return checkout.create_order(
            member_a,
            store_id=store_a.pk,
            items=[(listings[0].pk, 1)],
            pickup_window=pickup_window(),
            idempotency_key=new_key(),
            tender="balance",
        )

    outcomes = run_threads(2, buy)
    paid = [o for o in outcomes if isinstance(o, Order)]
    refused = [o for o in outcomes if isinstance(o, sv.InsufficientBalance)]
    assert len(paid) == 1 and len(refused) == 1, outcomes
    assert Order.objects.filter(member=member_a).count() == 1
    assert sv.balance_of(member_a) == sv.SvBalance(1_500, 0)
