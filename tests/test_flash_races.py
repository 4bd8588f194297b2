"""Flash-sale admission under real concurrency (PostgreSQL, parallel connections, both backends), units
coming back when an order expires, and the counting invariants under random admit/cancel/expire sequences.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from siyu.campaigns.models import FlashQuota, FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_writer
from siyu.campaigns.services.flash_admission import Admission, LimitReached, NotEnoughLeft, SoldOut
from siyu.common.errors import Conflict
from siyu.orders.models import Order
from siyu.orders.services import expiry, transitions
from tests.factories import MemberFactory, admit, make_sale, settle
from tests.race_support import needs_postgres, run_pooled

pytestmark = pytest.mark.usefixtures("flash_caches")


@pytest.mark.django_db(transaction=True)
def test_race_300_buyers_for_50_units(backend, brand, sku, store_a):
    needs_postgres()
    campaign, item = make_sale(sku, stock=50, limit=1)
    members = MemberFactory.create_batch(300, brand=brand, home_store=store_a)
    results = run_pooled(300, lambda i: admit(campaign, item, members[i], store_a))
    admitted = [r for r in results if isinstance(r, Admission)]
    assert all(isinstance(r, Admission | SoldOut) for r in results), [
        r for r in results if not isinstance(r, Admission | SoldOut)
    ][:3]
    assert len(admitted) == 50
    assert sorted(a.remaining for a in admitted) == list(range(50))  # each unit given once, never below 0
    settle()
    item.refresh_from_db()
    assert item.sold == 50
    assert Order.objects.filter(campaign_id=campaign.pk, source="flash_sale").count() == 50
    assert FlashReservation.objects.filter(campaign=campaign).aggregate(n=Sum("quantity"))["n"] == 50
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 0}
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"], report
    assert report["items"][0]["redis_left"] in (None, 0)


@pytest.mark.django_db(transaction=True)
def test_race_one_member_ten_requests_limit_two(backend, member_a, sku, store_a):
    needs_postgres()
    campaign, item = make_sale(sku, stock=20, limit=2)
    results = run_pooled(10, lambda i: admit(campaign, item, member_a, store_a, key=f"k{i}"), threads=10)
    assert sum(isinstance(r, Admission) for r in results) == 2
    assert sum(isinstance(r, LimitReached) for r in results) == 8, results
    settle()
    assert FlashQuota.objects.get(item=item, member=member_a).taken == 2
    assert FlashReservation.objects.filter(campaign=campaign, member=member_a).count() == 2
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 18}
    assert flash_writer.reconcile(campaign.pk)["ok"]


@pytest.mark.django_db(transaction=True)
def test_race_same_key_from_many_connections_admits_once(backend, member_a, sku, store_a):
    needs_postgres()
    campaign, item = make_sale(sku, stock=20, limit=2)
    results = run_pooled(8, lambda i: admit(campaign, item, member_a, store_a, key="double-tap"), threads=8)
    assert all(isinstance(r, Admission) for r in results), results
    assert len({(r.item_id, r.quantity) for r in results if isinstance(r, Admission)}) == 1
    settle()
    assert FlashReservation.objects.filter(campaign=campaign).count() == 1
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 19}


@pytest.mark.django_db(transaction=True)
def test_expired_reservation_goes_back_and_someone_else_buys_it(backend, sku, store_a, member_a, member_b):
    campaign, item = make_sale(sku, stock=1, limit=1)
    first = admit(campaign, item, member_a, store_a)
    settle()
    with pytest.raises(SoldOut):
        admit(campaign, item, member_b, store_a)
    order = FlashReservation.objects.get(campaign=campaign, client_key=first.key).order
    assert order is not None
    assert expiry.expire_due(now=order.expires_at - timedelta(seconds=1)) == 0
    assert expiry.expire_due(now=order.expires_at + timedelta(seconds=1)) == 1
    order.refresh_from_db()
    assert order.status == "expired"
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 1}
    second = admit(campaign, item, member_b, store_a)
    assert second.remaining == 0
    settle()
    item.refresh_from_db()
    assert item.sold == 1
    assert FlashReservation.objects.get(campaign=campaign, member=member_b).status == "active"
    assert FlashReservation.objects.get(campaign=campaign, member=member_a).status == "released"
    assert flash_writer.reconcile(campaign.pk)["ok"]


# --- invariants under random sequences (database backend) ----------------------------------------------


@pytest.fixture
def buyers(brand, store_a):
    return MemberFactory.create_batch(3, brand=brand, home_store=store_a)


admit_op = st.tuples(st.just("admit"), st.integers(0, 2), st.integers(1, 3), st.integers(0, 4))
order_op = st.tuples(st.sampled_from(["cancel", "expire"]), st.integers(0, 30), st.just(0), st.just(0))


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(admit_op, order_op), max_size=18))
def test_invariants_hold_for_any_sequence(database_backend, sku, store_a, buyers, ops):
    campaign, item = make_sale(sku, stock=4, limit=2)
    for op, a, b, c in ops:
        if op == "admit":
            try:
                admit(campaign, item, buyers[a], store_a, quantity=b, key=f"key-{c}")
            except (SoldOut, NotEnoughLeft, LimitReached):
                pass
            except Conflict as exc:
                # A key reused for another quantity is refused; it took nothing.
                assert exc.code == "idempotency_mismatch"
        else:
            orders = list(Order.objects.filter(campaign_id=campaign.pk).order_by("pk"))
            if not orders:
                continue
            order = orders[a % len(orders)]
            if op == "cancel":
                with contextlib.suppress(Conflict):
                    transitions.cancel(order.pk, member=order.member)
            else:
                assert order.expires_at is not None
                transitions.expire_order(order, order.expires_at + timedelta(seconds=1))
        _check_invariants(item)


def _check_invariants(item: FlashSaleItem) -> None:
    item.refresh_from_db()
    active = FlashReservation.objects.filter(item=item, status="active")
    active_units = active.aggregate(n=Sum("quantity"))["n"] or 0
    taken = FlashQuota.objects.filter(item=item).aggregate(n=Sum("taken"))["n"] or 0
    assert item.sold == active_units == taken
    assert 0 <= item.sold <= item.stock
    assert all(q.taken <= item.per_member_limit for q in FlashQuota.objects.filter(item=item))
    assert flash_admission.remaining_units(item.campaign_id) == {item.pk: item.stock - item.sold}
    # Every active reservation's order still holds its units; every released one's order is over.
    assert not active.exclude(order__status__in=["pending_payment", "paid", "ready", "picked_up"]).exists()
    released = FlashReservation.objects.filter(item=item, status="released")
    assert not released.filter(order__status="pending_payment").exists()
