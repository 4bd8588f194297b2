"""Stored-value races on PostgreSQL with real parallel connections (issue 12 "must show")."""

from __future__ import annotations

import pytest

from siyu.common.errors import Conflict
from siyu.loyalty.models import RechargeGift, StoredValueEntry
from siyu.loyalty.services import recharge
from siyu.loyalty.services import stored_value as sv
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, StaffFactory, recharge_rule, sv_recharge
from tests.race_support import needs_postgres, run_pooled, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_recharges_that_together_pass_the_cap_one_is_refused(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    sv_recharge(member, 200_000)
    # Each fits (200k + 200k = 400k ≤ 500k), together they would make 600k.
    outcomes = run_threads(
        2, lambda i: sv.recharge(member, 200_000, store=store_a, key=f"sys:race:{i}", actor_ref="system:0")
    )
    wins = [o for o in outcomes if isinstance(o, sv.RechargeResult)]
    assert len(wins) == 1, outcomes
    assert all(isinstance(o, sv.RechargeResult | sv.CapExceeded) for o in outcomes), outcomes
    assert sv.balance_of(member).principal_fen == 400_000
    assert StoredValueEntry.objects.filter(account__member=member).count() == 2


def test_fifty_parallel_payments_against_a_balance_for_ten(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    sv_recharge(member, 10_000)
    outcomes = run_pooled(
        50,
        lambda i: sv.pay(member, 1_000, key=f"sys:pay:{i}", store=store_a, source="order", source_ref=str(i)),
        threads=16,
    )
    assert sum(isinstance(o, sv.PayResult) for o in outcomes) == 10
    assert all(isinstance(o, sv.PayResult | sv.InsufficientBalance) for o in outcomes), outcomes
    assert sv.balance_of(member) == sv.SvBalance(0, 0)


def test_parallel_retries_of_one_recharge_key_apply_once(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    outcomes = run_pooled(
        12,
        lambda i: sv.recharge(member, 5_000, store=store_a, key="sys:recharge-order-1", actor_ref="system:0"),
        threads=12,
    )
    assert all(isinstance(o, sv.RechargeResult) for o in outcomes), outcomes
    assert len({tuple(o.entry_ids) for o in outcomes}) == 1
    assert sv.balance_of(member).principal_fen == 5_000


def test_two_counters_hand_one_gift_over_once(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    recharge_rule(brand, 1_000, gift="保温杯")
    sv_recharge(member, 1_000)
    gift = RechargeGift.objects.get()
    clerks = [
        StaffFactory(brand=brand, username=f"gift{i}", role="clerk", stores=[store_a]) for i in range(2)
    ]
    outcomes = run_threads(2, lambda i: recharge.hand_over_gift(clerks[i], gift.pk))
    assert sum(isinstance(o, RechargeGift) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    assert AuditEntry.objects.filter(action="stored_value.gift").count() == 1
