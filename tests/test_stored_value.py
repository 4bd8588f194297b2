"""The stored-value ledger (ADR 0015): recharge with tiers and the cap, pay, refunds, bonus expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from siyu.common.errors import Conflict
from siyu.loyalty.models import BonusGrant, RechargeGift, StoredValueAccount, StoredValueEntry
from siyu.loyalty.services import recharge_online
from siyu.loyalty.services import stored_value as sv
from siyu.tooling.demo.loyalty import seed_demo_loyalty
from tests.factories import recharge_rule, sv_policy, sv_recharge, two_cups_at

pytestmark = pytest.mark.django_db


def key() -> str:
    return f"sys:test:{uuid.uuid4().hex}"


def sums(member) -> tuple[int, int]:
    agg = StoredValueEntry.objects.filter(account__member=member).aggregate(
        p=Sum("principal_delta_fen"), b=Sum("bonus_delta_fen")
    )
    return int(agg["p"] or 0), int(agg["b"] or 0)


def test_recharge_applies_the_highest_tier_bonus_and_gift(member_a, store_a):
    recharge_rule(member_a.brand, 100_000, bonus_fen=10_000)
    recharge_rule(member_a.brand, 300_000, bonus_fen=0, gift="空气净化器")
    small = sv_recharge(member_a, 50_000)
    assert (small.bonus_fen, small.gift) == (0, None)
    tier = sv_recharge(member_a, 120_000)
    assert tier.bonus_fen == 10_000 and tier.gift is None and len(tier.entry_ids) == 2
    assert sv.balance_of(member_a) == sv.SvBalance(170_000, 10_000)
    big = sv_recharge(member_a, 300_000)
    assert big.gift is not None and big.gift.description == "空气净化器" and big.bonus_fen == 0
    assert big.gift.status == RechargeGift.Status.PENDING
    assert sums(member_a) == (470_000, 10_000)


def test_rule_for_other_stores_or_outside_its_window_does_not_apply(member_a, store_a, store_b):
    recharge_rule(member_a.brand, 10_000, bonus_fen=500, stores=[store_b])
    recharge_rule(member_a.brand, 10_000, bonus_fen=900, ends_at=timezone.now() - timedelta(days=1))
    assert sv_recharge(member_a, 20_000, store=store_a).bonus_fen == 0
    assert sv_recharge(member_a, 20_000, store=store_b).bonus_fen == 500


def test_cap_refuses_and_writes_nothing(member_a):
    sv_recharge(member_a, 450_000)
    with pytest.raises(sv.CapExceeded) as err:
        sv_recharge(member_a, 60_000)
    assert err.value.code == "balance_cap"
    assert sv.balance_of(member_a).principal_fen == 450_000
    assert StoredValueEntry.objects.count() == 1
    sv_recharge(member_a, 50_000)  # exactly at the cap is fine
    assert sv.balance_of(member_a).total_fen == 500_000


def test_cap_counts_bonus_and_deposit_and_follows_the_brand_setting(member_a):
    recharge_rule(member_a.brand, 100_000, bonus_fen=20_000)
    sv_policy(member_a.brand, cap_fen=200_000)
    with pytest.raises(sv.CapExceeded):
        sv_recharge(member_a, 100_000, extra_principal_fen=90_000)  # 100k + 90k + 20k bonus > 200k
    result = sv_recharge(member_a, 100_000, extra_principal_fen=1_100, source="slot", source_ref="7")
    assert result.principal_fen == 101_100 and result.bonus_fen == 20_000
    kinds = list(StoredValueEntry.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["recharge", "deposit_credit", "bonus"]


def test_same_key_applies_once_and_other_request_is_refused(member_a, store_a):
    k = key()
    first = sv_recharge(member_a, 10_000, key=k)
    again = sv_recharge(member_a, 10_000, key=k)
    assert again.entry_ids == first.entry_ids and not again.created
    with pytest.raises(Conflict) as err:
        sv_recharge(member_a, 20_000, key=k)
    assert err.value.code == "idempotency_mismatch"
    assert sv.balance_of(member_a).principal_fen == 10_000


def test_client_keys_are_scoped_to_the_actor(member_a, store_a):
    a = sv.recharge(member_a, 1_000, store=store_a, key="k1", actor_ref="staff:1")
    b = sv.recharge(member_a, 1_000, store=store_a, key="k1", actor_ref="staff:2")
    assert a.entry_ids != b.entry_ids
    assert not StoredValueEntry.objects.filter(idempotency_key="k1").exists()


def test_pay_principal_first_then_bonus(member_a, store_a):
    recharge_rule(member_a.brand, 10_000, bonus_fen=1_000)
    sv_recharge(member_a, 10_000)
    paid = sv.pay(member_a, 10_500, key=key(), store=store_a, source="order", source_ref="1")
    assert (paid.principal_fen, paid.bonus_fen) == (10_000, 500)
    assert paid.balance == sv.SvBalance(0, 500)
    with pytest.raises(sv.InsufficientBalance):
        sv.pay(member_a, 501, key=key(), store=store_a, source="order", source_ref="2")
    assert sums(member_a) == (0, 500)


def test_pay_in_proportion(member_a, store_a):
    sv_policy(member_a.brand, bonus_spend="proportional")
    recharge_rule(member_a.brand, 10_000, bonus_fen=2_500)
    sv_recharge(member_a, 10_000)
    paid = sv.pay(member_a, 1_000, key=key(), store=store_a, source="order", source_ref="1")
    assert (paid.principal_fen, paid.bonus_fen) == (800, 200)


def test_pay_without_account_is_insufficient(member_a, store_a):
    with pytest.raises(sv.InsufficientBalance):
        sv.pay(member_a, 1, key=key(), store=store_a, source="order", source_ref="1")
    assert not StoredValueAccount.objects.exists()


def test_refund_payment_puts_back_the_way_it_was_drawn(member_a, store_a):
    sv_policy(member_a.brand, bonus_spend="proportional")
    recharge_rule(member_a.brand, 10_000, bonus_fen=2_500)
    sv_recharge(member_a, 10_000)
    paid = sv.pay(member_a, 1_001, key=key(), store=store_a, source="order", source_ref="9")
    first = sv.refund_payment(paid.entry_id, 333, key=key())
    second = sv.refund_payment(("order", "9"), 668, key=key())
    assert first.principal_fen + second.principal_fen == paid.principal_fen
    assert first.bonus_fen + second.bonus_fen == paid.bonus_fen
    assert sv.balance_of(member_a) == sv.SvBalance(10_000, 2_500)
    with pytest.raises(Conflict) as err:
        sv.refund_payment(paid.entry_id, 1, key=key())
    assert err.value.code == "refund_exceeds_payment"
    assert BonusGrant.objects.get().remaining_fen == 2_500


def test_refund_of_bonus_that_expired_meanwhile_is_written_off(member_a, store_a):
    recharge_rule(member_a.brand, 10_000, bonus_fen=1_000)
    sv_policy(member_a.brand, bonus_expiry_days=10)
    now = timezone.now()
    sv_recharge(member_a, 10_000, now=now)
    paid = sv.pay(member_a, 10_400, key=key(), store=store_a, source="order", source_ref="1", now=now)
    later = now + timedelta(days=11)
    refund = sv.refund_payment(paid.entry_id, 10_400, key=key(), now=later)
    assert (refund.principal_fen, refund.bonus_fen, refund.forfeited_bonus_fen) == (10_000, 400, 400)
    assert sv.balance_of(member_a, now=later) == sv.SvBalance(10_000, 0)
    assert sums(member_a) == (10_000, 0)


def test_refund_principal_never_pays_bonus_and_forfeits_in_proportion(member_a, store_a, manager_a):
    recharge_rule(member_a.brand, 10_000, bonus_fen=1_000)
    sv_recharge(member_a, 10_000)
    part = sv.refund_principal(member_a, 4_000, key=key(), staff=manager_a, reason="搬家")
    assert (part.principal_fen, part.forfeited_bonus_fen) == (4_000, 400)
    with pytest.raises(sv.InsufficientBalance):
        sv.refund_principal(member_a, 6_001, key=key(), staff=manager_a, reason="搬家")
    rest = sv.refund_principal(member_a, 6_000, key=key(), staff=manager_a, reason="搬家")
    assert rest.forfeited_bonus_fen == 600
    assert sv.balance_of(member_a) == sv.SvBalance(0, 0)


def test_bonus_expiry_job_is_exact_and_safe_twice(member_a, member_b):
    recharge_rule(member_a.brand, 10_000, bonus_fen=1_000)
    sv_policy(member_a.brand, bonus_expiry_days=30)
    now = timezone.now()
    sv_recharge(member_a, 10_000, now=now)
    sv_recharge(member_b, 10_000, now=now)
    later = now + timedelta(days=31)
    assert sv.balance_of(member_a, now=later).bonus_fen == 0
    assert sv.expire_bonuses(now=later) == 2
    assert sv.expire_bonuses(now=later) == 0
    assert sums(member_a) == (10_000, 0) and sums(member_b) == (10_000, 0)
    assert StoredValueEntry.objects.filter(kind="bonus_expiry").count() == 2


def test_demo_seeds_stored_value(brand, store_a, hq_admin, member_a, sandbox):
    two_cups_at(hq_admin, store_a)
    assert seed_demo_loyalty(brand, timezone.now())
    assert sv.balance_of(member_a) == sv.SvBalance(100_000 - 5_800, 10_000)
    listing = recharge_online.recharge_listing(member_a)
    assert listing is not None and not listing.listed
