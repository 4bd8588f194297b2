"""Recharge-slot deposits (预定充值名额): setup, holding a slot once paid, converting it at the counter with
an in-store recharge (once, store-scoped, idempotent, refused below the threshold / after the deadline / over
the balance cap), the deadline job (refund or forfeit, once), the report, and the console and H5 pages."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.campaigns.services.recharge_slots import counter, deadline, member, report, setup
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.loyalty.models import RechargeGift, StoredValueEntry
from siyu.loyalty.services import stored_value
from siyu.orders.models import Order
from siyu.orders.services.pickup import verify_pickup
from siyu.orders.services.pickup_codes import pickup_code_for
from siyu.tooling.demo.slots import seed_demo_slots
from tests.factories import (
    BrandFactory,
    MemberFactory,
    StaffFactory,
    buy_slot,
    recharge_rule,
    running_slot_campaign,
    slot_data,
    sv_policy,
)
from tests.h5_support import member_client

pytestmark = pytest.mark.usefixtures("flash_caches", "sandbox")


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def slots(database_backend, hq_admin, store_a, store_b):
    """A running slot campaign at stores A and B, with the brand's ¥3,000 tier giving an air purifier."""
    recharge_rule(hq_admin.brand, 300_000, gift="空气净化器")
    return running_slot_campaign(hq_admin, store_ids=[store_a.pk, store_b.pk])


@pytest.fixture
def clerk_b(brand, store_b):
    return StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])


# --- setup ----------------------------------------------------------------------------------------------


def test_setup_creates_the_deposit_sku_and_the_flash_sale(slots, store_a):
    campaign = slots.campaign
    item = campaign.flash_items.get()
    assert (item.price_fen, item.stock, item.per_member_limit) == (1100, 100, 1)
    assert item.sku.price_fen == 1100 and item.sku.product.name == "Recharge slot ¥11.00"
    assert campaign.kind == "flash_sale" and campaign.status == "published"
    assert campaign.pickup_until == slots.convert_until
    assert not campaign.relay_enabled
    assert setup.slots_for_sale(slots) == 100


def test_only_head_office_sets_up_and_fields_are_checked(sandbox, hq_admin, manager_a, store_a):
    with pytest.raises(PermissionDenied):
        setup.create_slot_campaign(manager_a, slot_data())
    with pytest.raises(ValidationFailed) as bad:
        setup.create_slot_campaign(hq_admin, slot_data(deposit_fen=0))
    assert bad.value.field == "deposit_fen"
    with pytest.raises(ValidationFailed) as early:
        setup.create_slot_campaign(hq_admin, slot_data(convert_until=timezone.now()))
    assert early.value.field == "convert_until"
    with pytest.raises(ValidationFailed) as policy:
        setup.create_slot_campaign(hq_admin, slot_data(unused_policy="keep"))
    assert policy.value.field == "unused_policy"


def test_deposits_need_an_online_payment_provider(hq_admin, settings):
    settings.SIYU_PAYMENT_PROVIDER = ""
    with pytest.raises(Conflict) as refused:
        setup.create_slot_campaign(hq_admin, slot_data())
    assert refused.value.code == "online_payment_required"


# --- holding ---------------------------------------------------------------------------------------------


def test_paid_deposit_holds_a_slot_and_the_order_is_kept_for_the_conversion(
    slots, member_a, store_a, clerk_a
):
    slot = buy_slot(slots, member_a, store_a)
    assert (slot.status, slot.deposit_fen, slot.store_id) == (SlotStatus.HELD, 1100, store_a.pk)
    mine = member.my_slots(member_a)
    assert [m.slot.pk for m in mine] == [slot.pk] and mine[0].short_code
    with pytest.raises(Conflict) as refused:
        verify_pickup(clerk_a, pickup_code_for(slot.order))
    assert refused.value.code == "recharge_slot"


# --- conversion ------------------------------------------------------------------------------------------


def test_conversion_credits_recharge_and_deposit_gives_the_gift_and_closes_the_order(
    slots, member_a, store_a, clerk_a
):
    slot = buy_slot(slots, member_a, store_a)
    k = key()
    done = counter.convert_slot(clerk_a, slot.pk, 300_000, key=k)
    assert done.gift == "空气净化器" and done.deposit_fen == 1100 and done.credited_fen == 301_100
    assert done.principal_fen == 301_100
    slot.refresh_from_db()
    assert (slot.status, slot.recharge_fen, slot.converted_by_id) == (
        SlotStatus.CONVERTED,
        300_000,
        clerk_a.pk,
    )
    assert slot.gift_text == "空气净化器"
    assert Order.objects.get(pk=slot.order_id).status == "picked_up"
    balance = stored_value.balance_of(member_a)
    assert (balance.principal_fen, balance.bonus_fen) == (301_100, 0)
    kinds = sorted(StoredValueEntry.objects.filter(source_ref=str(slot.pk)).values_list("kind", flat=True))
    assert kinds == ["deposit_credit", "recharge"]
    gift = RechargeGift.objects.get(source="slot", source_ref=str(slot.pk))
    assert gift.status == "pending" and gift.store_id == store_a.pk

    # The same key again (a retry) answers the first conversion and writes nothing.
    again = counter.convert_slot(clerk_a, slot.pk, 300_000, key=k)
    assert again.replayed and again.gift == "空气净化器"
    assert StoredValueEntry.objects.filter(source_ref=str(slot.pk)).count() == 2
    with pytest.raises(Conflict) as mismatch:
        counter.convert_slot(clerk_a, slot.pk, 400_000, key=k)
    assert mismatch.value.code == "idempotency_mismatch"
    # A second conversion is refused.
    with pytest.raises(Conflict) as twice:
        counter.convert_slot(clerk_a, slot.pk, 300_000, key=key())
    assert twice.value.code == "not_held"
    assert stored_value.balance_of(member_a).principal_fen == 301_100


def test_refusals_change_nothing(slots, member_a, store_a, clerk_a, brand):
    slot = buy_slot(slots, member_a, store_a)
    with pytest.raises(ValidationFailed) as low:
        counter.convert_slot(clerk_a, slot.pk, 299_999, key=key())
    assert low.value.field == "amount_fen" and "3000.00" in str(low.value.message)
    sv_policy(brand, cap_fen=200_000)
    with pytest.raises(stored_value.CapExceeded):
        counter.convert_slot(clerk_a, slot.pk, 300_000, key=key())
    sv_policy(brand, cap_fen=500_000)
    with pytest.raises(Conflict) as late:
        counter.convert_slot(clerk_a, slot.pk, 300_000, key=key(), now=slots.convert_until)
    assert late.value.code == "deadline_passed"
    slot.refresh_from_db()
    assert slot.status == SlotStatus.HELD and slot.closed_at is None
    assert not StoredValueEntry.objects.exists()
    assert Order.objects.get(pk=slot.order_id).status == "paid"


def test_another_stores_staff_neither_find_nor_convert_it(slots, member_a, store_a, clerk_b, hq_admin):
    slot = buy_slot(slots, member_a, store_a)
    with pytest.raises(NotFound):
        counter.convert_slot(clerk_b, slot.pk, 300_000, key=key())
    assert counter.find_slots(clerk_b, "13812341234") == []
    short = member.my_slots(member_a)[0].short_code
    assert counter.find_slots(clerk_b, short) == []
    with pytest.raises(NotFound):  # handing over is a counter action: HQ must serve the store too
        counter.convert_slot(hq_admin, slot.pk, 300_000, key=key())
    assert RechargeSlot.objects.get(pk=slot.pk).status == SlotStatus.HELD


def test_clerk_finds_the_slot_by_mobile_or_pickup_code(slots, member_a, store_a, clerk_a):
    slot = buy_slot(slots, member_a, store_a)
    assert [s.pk for s in counter.find_slots(clerk_a, "138 1234 1234")] == [slot.pk]
    short = member.my_slots(member_a)[0].short_code
    assert [s.pk for s in counter.find_slots(clerk_a, short.lower())] == [slot.pk]
    assert [s.pk for s in counter.find_slots(clerk_a, pickup_code_for(slot.order))] == [slot.pk]
    assert counter.find_slots(clerk_a, "nothing-here") == []


# --- the deadline -----------------------------------------------------------------------------------------


def test_deadline_refunds_unused_deposits_once(slots, member_a, member_b, store_a, store_b, clerk_a):
    used = buy_slot(slots, member_a, store_a)
    unused = buy_slot(slots, member_b, store_b)
    counter.convert_slot(clerk_a, used.pk, 300_000, key=key())
    assert deadline.settle_due(now=slots.convert_until - timedelta(seconds=1)) == 0
    after = slots.convert_until + timedelta(seconds=1)
    assert deadline.settle_due(now=after) == 1
    assert deadline.settle_due(now=after) == 0
    unused.refresh_from_db()
    assert unused.status == SlotStatus.REFUNDED and unused.closed_at is not None
    assert Order.objects.get(pk=unused.order_id).status == "refunded"
    assert RechargeSlot.objects.get(pk=used.pk).status == SlotStatus.CONVERTED


def test_deadline_forfeits_when_the_campaign_says_so(database_backend, hq_admin, member_a, store_a):
    slots = running_slot_campaign(hq_admin, unused_policy="forfeit", title="不退定金")
    slot = buy_slot(slots, member_a, store_a)
    after = slots.convert_until + timedelta(seconds=1)
    assert deadline.settle_due(now=after) == 1
    assert deadline.settle_due(now=after) == 0
    slot.refresh_from_db()
    assert slot.status == SlotStatus.FORFEITED
    assert Order.objects.get(pk=slot.order_id).status == "paid"  # the deposit was kept


def test_staff_refund_of_a_held_slot_marks_it_refunded(slots, member_a, store_a, clerk_a):
    from siyu.orders.services import transitions

    slot = buy_slot(slots, member_a, store_a)
    transitions.refund(clerk_a, slot.order_id, "member asked")
    slot.refresh_from_db()
    assert slot.status == SlotStatus.REFUNDED
    with pytest.raises(Conflict):
        counter.convert_slot(clerk_a, slot.pk, 300_000, key=key())


# --- the report ---------------------------------------------------------------------------------------------


def test_report_counts_sold_converted_recharges_refunds_and_gifts(
    slots, brand, store_a, store_b, clerk_a, clerk_b, hq_admin
):
    buyers_a = MemberFactory.create_batch(3, brand=brand, home_store=store_a)
    buyer_b = MemberFactory(brand=brand, home_store=store_b)
    held = [buy_slot(slots, m, store_a) for m in buyers_a]
    other = buy_slot(slots, buyer_b, store_b)
    counter.convert_slot(clerk_a, held[0].pk, 300_000, key=key())
    counter.convert_slot(clerk_a, held[1].pk, 350_000, key=key())
    counter.convert_slot(clerk_b, other.pk, 100_000 * 3, key=key())
    gift = RechargeGift.objects.get(source_ref=str(held[0].pk))
    RechargeGift.objects.filter(pk=gift.pk).update(status="handed_over", handed_over_at=timezone.now())
    deadline.settle_due(now=slots.convert_until + timedelta(seconds=1))
    chain = report.slot_report(hq_admin, slots.pk)
    assert (chain.slots, chain.sold, chain.converted, chain.refunded, chain.held) == (100, 4, 3, 1, 0)
    assert chain.conversion_rate == 0.75
    assert chain.recharge_fen == 950_000 and chain.deposits_credited_fen == 3300
    assert chain.deposits_refunded_fen == 1100 and chain.deposits_forfeited_fen == 0
    assert (chain.gifts_earned, chain.gifts_handed_over) == (3, 1)
    mine = report.slot_report(clerk_a, slots.pk)  # store staff: their stores only
    assert (mine.sold, mine.converted, mine.recharge_fen, mine.gifts_earned) == (3, 2, 650_000, 2)
    assert [r["store_id"] for r in mine.per_store] == [store_a.pk]


def test_store_staff_do_not_see_other_stores_campaigns(database_backend, hq_admin, store_a, clerk_b):
    only_a = running_slot_campaign(hq_admin, store_ids=[store_a.pk])
    with pytest.raises(NotFound):
        report.slot_report(clerk_b, only_a.pk)


# --- pages -------------------------------------------------------------------------------------------------


def test_console_pages_and_the_counter_flow(client, slots, member_a, store_a, clerk_a, hq_admin):
    slot = buy_slot(slots, member_a, store_a)
    client.force_login(hq_admin)
    assert client.get("/slots/").status_code == 200
    assert client.get("/slots/new/").status_code == 200
    page = client.get(f"/slots/{slots.pk}/")
    assert page.status_code == 200 and "Slots sold" in page.content.decode()
    client.force_login(clerk_a)
    found = client.get("/slots/counter/", {"q": "13812341234"}).content.decode()
    assert "Confirm recharge" in found and 'name="idempotency_key"' in found
    too_low = client.post(
        "/slots/counter/", {"slot": slot.pk, "amount": "100", "idempotency_key": "k1"}, follow=True
    )
    assert "Recharge at least ¥3000.00" in too_low.content.decode()
    done = client.post("/slots/counter/", {"slot": slot.pk, "amount": "3000", "idempotency_key": "k2"})
    text = done.content.decode()
    assert done.status_code == 200 and "空气净化器" in text and "¥11.00" in text


def test_console_counter_for_another_stores_slot_is_404(client, slots, member_a, store_a, clerk_b):
    slot = buy_slot(slots, member_a, store_a)
    client.force_login(clerk_b)
    response = client.post("/slots/counter/", {"slot": slot.pk, "amount": "3000", "idempotency_key": "k"})
    assert response.status_code == 404
    page = client.get("/slots/counter/", {"q": "13812341234"}).content.decode()
    assert "No slot found at your stores." in page and "Confirm recharge" not in page


def test_console_campaign_page_of_other_stores_is_404(client, database_backend, hq_admin, store_a, clerk_b):
    only_a = running_slot_campaign(hq_admin, store_ids=[store_a.pk])
    client.force_login(clerk_b)
    assert client.get(f"/slots/{only_a.pk}/").status_code == 404
    assert only_a.campaign.title not in client.get("/slots/").content.decode()


def test_console_setup_form_creates_a_draft_and_publishes(client, sandbox, hq_admin, store_a, clerk_a):
    now = timezone.localtime()
    fmt = "%Y-%m-%dT%H:%M"
    form = {
        "title": "¥11 抢名额",
        "deposit": "11",
        "slots": "50",
        "threshold": "3000",
        "gift_text": "空气净化器",
        "unused_policy": "refund",
        "starts_at": (now + timedelta(hours=1)).strftime(fmt),
        "ends_at": (now + timedelta(hours=3)).strftime(fmt),
        "convert_until": (now + timedelta(days=5)).strftime(fmt),
        "stores": [store_a.pk],
    }
    client.force_login(clerk_a)
    assert client.get("/slots/new/").status_code == 403
    client.force_login(hq_admin)
    response = client.post("/slots/new/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    sc = setup.visible_slot_campaigns(hq_admin).get()
    assert sc.campaign.status == "draft" and sc.threshold_fen == 300_000
    assert client.post(f"/slots/{sc.pk}/publish/").status_code == 302
    sc.campaign.refresh_from_db()
    assert sc.campaign.status == "published"


def test_h5_slot_page_and_my_slots(slots, member_a, store_a, clerk_a):
    c = member_client(member_a)
    page = c.get(f"/h5/slots/{slots.campaign_id}/").content.decode()
    assert "¥11.00" in page and f"/h5/flash/{slots.campaign_id}/" in page
    assert "You have no slots yet." in c.get("/h5/slots/").content.decode()
    buy_slot(slots, member_a, store_a)
    mine = c.get("/h5/slots/").content.decode()
    assert "Held" in mine and store_a.name in mine and 'data-testid="slot-code"' in mine
    stranger = MemberFactory(brand=BrandFactory(code="other-brand", name="别家"))
    assert member_client(stranger).get(f"/h5/slots/{slots.campaign_id}/").status_code == 404


def test_demo_slot_campaign_can_be_bought_and_converted(database_backend, brand, store_a, member_a, clerk_a):
    """The demo's ¥11 slot campaign is on sale in every store; a slot bought there converts at the counter."""
    seed_demo_slots(brand, timezone.now())
    campaign = seed_demo_slots(brand, timezone.now())  # idempotent: the same campaign
    slot_campaign = setup.member_slot_campaigns(brand.pk)[0]
    assert slot_campaign.campaign_id == campaign.pk and slot_campaign.deposit_fen == 1100
    recharge_rule(brand, threshold_fen=300_000, gift="空气净化器一台")
    slot = buy_slot(slot_campaign, member_a, store_a)
    done = counter.convert_slot(clerk_a, slot.pk, 300_000, key=key())
    assert stored_value.balance_of(member_a).principal_fen == 301_100
    assert RechargeGift.objects.filter(member=member_a).count() == 1
    assert done is not None
