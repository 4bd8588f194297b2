"""Recharge slots under real concurrency (PostgreSQL, parallel connections): 200 buyers for 100 deposit slots
on both admission backends, two counters converting one slot, and two deadline runs at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.campaigns.services import flash_admission, flash_writer
from siyu.campaigns.services.flash_admission import Admission, SoldOut
from siyu.campaigns.services.recharge_slots import counter, deadline
from siyu.common.errors import Conflict
from siyu.loyalty.models import StoredValueEntry
from siyu.loyalty.services import stored_value
from siyu.orders.models import Order
from tests.factories import (
    MemberFactory,
    StaffFactory,
    buy_slot,
    pay_sandbox,
    recharge_rule,
    running_slot_campaign,
    settle,
)
from tests.race_support import needs_postgres, run_pooled, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("flash_caches", "sandbox")]


@pytest.mark.django_db(transaction=True)
def test_200_buyers_race_for_100_deposit_slots(backend, brand, hq_admin, store_a):
    needs_postgres()
    slots = running_slot_campaign(hq_admin, slots=100, store_ids=[store_a.pk])
    item = slots.campaign.flash_items.get()
    members = MemberFactory.create_batch(200, brand=brand, home_store=store_a)
    results = run_pooled(
        200,
        lambda i: flash_admission.admit(
            slots.campaign_id,
            item_id=item.pk,
            member_id=members[i].pk,
            store_id=store_a.pk,
            quantity=1,
            key=uuid.uuid4().hex,
        ),
    )
    admitted = [r for r in results if isinstance(r, Admission)]
    assert all(isinstance(r, Admission | SoldOut) for r in results), [
        r for r in results if not isinstance(r, Admission | SoldOut)
    ][:3]
    assert len(admitted) == 100
    assert sorted(a.remaining for a in admitted) == list(range(100))
    settle()
    item.refresh_from_db()
    assert item.sold == 100
    orders = list(Order.objects.filter(campaign_id=slots.campaign_id))
    assert len(orders) == 100
    assert flash_writer.reconcile(slots.campaign_id)["ok"]
    for order in orders:
        pay_sandbox(order)
    assert RechargeSlot.objects.filter(slot_campaign=slots, status=SlotStatus.HELD).count() == 100


@pytest.mark.django_db(transaction=True)
def test_two_counters_convert_one_slot_once(database_backend, brand, hq_admin, store_a, member_a):
    needs_postgres()
    recharge_rule(brand, 300_000, gift="空气净化器")
    slots = running_slot_campaign(hq_admin, store_ids=[store_a.pk])
    slot = buy_slot(slots, member_a, store_a)
    clerks = [
        StaffFactory(brand=brand, username=f"counter{i}", role="clerk", stores=[store_a]) for i in range(2)
    ]
    results = run_threads(2, lambda i: counter.convert_slot(clerks[i], slot.pk, 300_000, key=f"render-{i}"))
    done = [r for r in results if isinstance(r, counter.Conversion)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(done) == 1 and len(refused) == 1, results
    assert refused[0].code in ("not_held", "already_used")
    assert stored_value.balance_of(member_a).principal_fen == 301_100
    assert StoredValueEntry.objects.filter(source_ref=str(slot.pk)).count() == 2
    assert Order.objects.get(pk=slot.order_id).status == "picked_up"


@pytest.mark.django_db(transaction=True)
def test_two_deadline_runs_refund_each_slot_once(database_backend, brand, hq_admin, store_a):
    needs_postgres()
    slots = running_slot_campaign(hq_admin, store_ids=[store_a.pk])
    members = MemberFactory.create_batch(5, brand=brand, home_store=store_a)
    for m in members:
        buy_slot(slots, m, store_a)
    after = slots.convert_until + timedelta(seconds=1)
    results = run_threads(2, lambda i: deadline.settle_due(now=after))
    assert sum(results) == 5, results  # type: ignore[arg-type]
    assert RechargeSlot.objects.filter(status=SlotStatus.REFUNDED).count() == 5
    assert Order.objects.filter(campaign_id=slots.campaign_id, status="refunded").count() == 5
    assert deadline.settle_due(now=after) == 0
