"""Coupon races on PostgreSQL with real parallel connections (issue 11 "must show")."""

from __future__ import annotations

import pytest

from siyu.loyalty.models import Coupon, CouponTemplate
from siyu.loyalty.services import coupons, coupons_counter
from siyu.loyalty.services.coupons_counter import Redemption
from siyu.loyalty.services.coupons_use import CouponAlreadyUsed
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.services import checkout
from siyu.org.models import AuditEntry
from tests.factories import (
    MemberFactory,
    StaffFactory,
    give_coupon,
    make_coupon_template,
    new_key,
    pickup_window,
    two_cups_at,
)
from tests.race_support import needs_postgres, run_pooled, run_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_coupon_from_two_counters_at_once_is_used_once(brand, store_a, member_a):
    needs_postgres()
    clerks = [
        StaffFactory(brand=brand, username=f"counter{i}", role="clerk", stores=[store_a]) for i in range(2)
    ]
    template = make_coupon_template(brand, amount_fen=1000, store_budget_fen=100_000)
    coupon = give_coupon(template, member_a)
    outcomes = run_threads(
        2, lambda i: coupons_counter.redeem(clerks[i], coupon.code, sale_fen=5000, key=f"counter-{i}")
    )
    wins = [o for o in outcomes if isinstance(o, Redemption)]
    assert len(wins) == 1, outcomes
    # The loser either lost the UPDATE or no longer found an open coupon.
    losers = [o for o in outcomes if not isinstance(o, Redemption)]
    assert isinstance(losers[0], CouponAlreadyUsed) or getattr(losers[0], "code", "") == "not_found", losers
    coupon.refresh_from_db()
    assert coupon.status == "used" and coupon.discount_fen == 1000
    assert AuditEntry.objects.filter(action="coupons.redeem").count() == 1
    assert template.budgets.get().spent_fen == 1000


def test_three_hundred_members_claim_a_template_of_one_hundred(brand, store_a):
    needs_postgres()
    members = Member.objects.bulk_create(
        [Member(brand=brand, home_store=store_a, mobile=f"137{i:08d}", name=f"会员{i}") for i in range(300)]
    )
    template = make_coupon_template(brand, total_quantity=100)
    outcomes = run_pooled(
        300,
        lambda i: coupons.issue(template, members[i], source="api", key=f"sys:claim:{i}"),
        threads=30,
    )
    issued = [o for o in outcomes if isinstance(o, Coupon)]
    assert len(issued) == 100, [o for o in outcomes if not isinstance(o, Coupon)][:3]
    assert all(isinstance(o, Coupon | coupons.CouponsSoldOut) for o in outcomes)
    template.refresh_from_db()
    assert template.issued_count == 100 == Coupon.objects.filter(template=template).count()
    assert len({c.code for c in issued}) == 100


def test_per_member_limit_under_parallel_claims(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    template = make_coupon_template(brand, member_limit=3)
    outcomes = run_pooled(
        20, lambda i: coupons.issue(template, member, source="api", key=f"sys:mine:{i}"), threads=20
    )
    assert sum(isinstance(o, Coupon) for o in outcomes) == 3
    assert all(isinstance(o, Coupon | coupons.CouponLimitReached) for o in outcomes), outcomes
    assert sorted(Coupon.objects.filter(member=member).values_list("seq", flat=True)) == [1, 2, 3]


def test_one_key_retried_in_parallel_issues_once(brand, store_a):
    needs_postgres()
    member = MemberFactory(brand=brand, home_store=store_a)
    template = make_coupon_template(brand, member_limit=5)
    outcomes = run_pooled(
        10, lambda i: coupons.issue(template, member, source="exchange", source_ref="x9", key="sys:x9")
    )
    assert {o.pk for o in outcomes if isinstance(o, Coupon)} and all(isinstance(o, Coupon) for o in outcomes)
    assert Coupon.objects.filter(member=member).count() == 1


def test_checkout_and_counter_at_once_use_the_coupon_once(
    brand, hq_admin, store_a, store_b, member_a, clerk_a
):
    needs_postgres()
    cups = two_cups_at(hq_admin, store_a)
    coupon = give_coupon(make_coupon_template(brand, amount_fen=500), member_a)

    def work(i: int) -> object:
        if i == 0:
            return coupons_counter.redeem(clerk_a, coupon.code, sale_fen=3000, key="c")
        return checkout.create_order(
            member_a,
            store_id=store_a.pk,
            items=[(cups[0].pk, 1)],
            pickup_window=pickup_window(),
            idempotency_key=new_key(),
            options={"coupons": str(coupon.pk)},
        )

    outcomes = run_threads(2, work)
    wins = [o for o in outcomes if isinstance(o, Redemption | Order)]
    assert len(wins) == 1, outcomes
    coupon.refresh_from_db()
    assert coupon.status == "used"
    # A refused checkout left no order behind.
    assert Order.objects.count() == (1 if isinstance(wins[0], Order) else 0)
    assert CouponTemplate.objects.get(pk=coupon.template_id).issued_count == 1
