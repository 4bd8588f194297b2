"""Apps plug into orders without orders knowing them: a made-up kind of campaign registers a source, hooks
and a pickup guard and gets its callbacks; a price adjuster registered by a test changes the price, stored
as adjustment lines. Nothing in siyu.orders changes for either."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict
from siyu.orders import hooks, pricing
from siyu.orders.models import OrderAdjustment
from siyu.orders.services import checkout, payments, pickup, transitions
from tests.factories import new_key, pickup_window, place_order, stock_of, two_cups_at


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


FAKE = "test_raffle"  # a kind of campaign orders has never heard of


class FakeCampaign:
    """What a new campaign app would register in its AppConfig.ready()."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.allow_pickup = False

    def record(self, point: str):
        def handler(order) -> None:
            self.calls.append((point, order.pk))

        handler.__qualname__ = f"fake_{point}"
        return handler

    def guard(self, order) -> hooks.PickupRefusal | None:
        self.calls.append(("pickup_guard", order.pk))
        if self.allow_pickup:
            return None
        return hooks.PickupRefusal("raffle_not_drawn", "The raffle has not been drawn yet.")


@pytest.fixture
def fake() -> Iterator[FakeCampaign]:
    campaign = FakeCampaign()
    hooks.register_source(FAKE)
    undo = [
        hooks.register(point, campaign.record(point), source=FAKE, name=f"test.{point}")
        for point in ("created", "paid", "picked_up", "released", "closed", "refunded")
    ]
    undo.append(hooks.register("paid", campaign.record("paid_after_commit"), source=FAKE, after_commit=True))
    undo.append(hooks.register_pickup_guard(campaign.guard, source=FAKE, name="test.guard"))
    yield campaign
    for remove in undo:
        remove()


def _order(member, store, listing, qty=1):
    return checkout.create_order(
        member,
        store_id=store.pk,
        items=[(listing.pk, qty)],
        pickup_window=pickup_window(),
        idempotency_key=new_key(),
        source=FAKE,
        campaign_id=77,
    )


def _pay(order) -> None:
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))


def test_made_up_campaign_gets_paid_guard_and_pickup_callbacks(
    sandbox, fake, member_a, store_a, listings, clerk_a, django_capture_on_commit_callbacks
):
    order = _order(member_a, store_a, listings[0])
    assert fake.calls == [("created", order.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        _pay(order)
    assert ("paid", order.pk) in fake.calls and ("paid_after_commit", order.pk) in fake.calls
    order.refresh_from_db()
    code = pickup.pickup_code_for(order)
    # The guard refuses: the counter hears its reason, nothing is handed over.
    with pytest.raises(Conflict) as refused:
        pickup.verify_pickup(clerk_a, code)
    assert refused.value.code == "raffle_not_drawn"
    order.refresh_from_db()
    assert order.status == "paid" and not order.lines.filter(picked_quantity__gt=0).exists()
    # Once the campaign allows it, the same code hands the order over.
    fake.allow_pickup = True
    result = pickup.verify_pickup(clerk_a, code)
    assert result.completed and result.order.status == "picked_up"
    assert ("picked_up", order.pk) in fake.calls
    assert [p for p, _ in fake.calls].count("pickup_guard") == 2


def test_made_up_campaign_gets_refund_and_release_callbacks(
    sandbox, fake, member_a, store_a, listings, clerk_a
):
    order = _order(member_a, store_a, listings[0], qty=2)
    assert stock_of(listings[0]) == 8  # an ordinary source reserves the listing's stock
    _pay(order)
    fake.calls.clear()
    transitions.refund(clerk_a, order.pk, "changed mind")
    assert fake.calls == [("released", order.pk), ("refunded", order.pk)]
    assert stock_of(listings[0]) == 10


def test_made_up_campaign_gets_closed_and_release_callbacks(fake, member_a, store_a, listings):
    order = _order(member_a, store_a, listings[0])
    fake.calls.clear()
    transitions.cancel(order.pk, member=member_a)
    assert fake.calls == [("released", order.pk), ("closed", order.pk)]


def test_other_sources_do_not_reach_the_handlers(fake, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    transitions.cancel(order.pk, member=member_a)
    assert fake.calls == []


def test_an_invariant_handler_refusing_rolls_the_change_back(fake, member_a, store_a, listings):
    order = _order(member_a, store_a, listings[0])

    def refuse(_order) -> None:
        raise Conflict("quota exhausted", code="quota")

    remove = hooks.register("closed", refuse, source=FAKE, name="test.refuse")
    try:
        with pytest.raises(Conflict):
            transitions.cancel(order.pk, member=member_a)
    finally:
        remove()
    order.refresh_from_db()
    assert order.status == "pending_payment" and stock_of(listings[0]) == 9


def test_unknown_source_is_refused(member_a, store_a, listings):
    with pytest.raises(Exception) as caught:
        checkout.create_order(
            member_a,
            store_id=store_a.pk,
            items=[(listings[0].pk, 1)],
            pickup_window=pickup_window(),
            idempotency_key=new_key(),
            source="never_registered",
        )
    assert getattr(caught.value, "field", None) == "source"


# --- price adjusters ------------------------------------------------------------------------------


@pytest.fixture
def coupon() -> Iterator[None]:
    """A made-up order-level adjuster (as loyalty's coupons will be): 5.00 off orders of 50.00 or more."""

    def five_off(ctx: pricing.PricingContext) -> list[pricing.Adjustment]:
        if ctx.source != "mall" or ctx.total_fen < 5000:
            return []
        return [pricing.Adjustment("coupon", "5 off 50", -500, reference="coupon:42")]

    remove = pricing.register_adjuster("test.coupon", five_off, position=200)
    yield
    remove()


def test_member_price_is_the_first_adjuster_and_stored(member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 2), (listings[1].pk, 1)])
    assert order.total_fen == 2 * 3500 + 2000
    rows = list(OrderAdjustment.objects.filter(order=order))
    assert [(r.kind, r.amount_fen, r.line.listing_id if r.line else None) for r in rows] == [
        ("member_price", -800, listings[0].pk)
    ]
    line = order.lines.get(listing_id=listings[0].pk)
    assert line.unit_price_fen == 3500
    # List prices plus every adjustment give the total: the order says why it cost what it cost.
    listed = sum(ln.sku.price_fen * ln.quantity for ln in order.lines.all())
    assert listed + sum(r.amount_fen for r in rows) == order.total_fen


def test_adjuster_registered_by_a_test_changes_the_total(coupon, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 2)])  # 78.00 listed, 70.00 member
    assert order.total_fen == 7000 - 500
    kinds = list(OrderAdjustment.objects.filter(order=order).values_list("kind", "amount_fen", "reference"))
    assert kinds == [("member_price", -800, f"sku:{listings[0].sku_id}"), ("coupon", -500, "coupon:42")]
    small = place_order(member_a, store_a, [(listings[1].pk, 1)])  # 20.00: no coupon
    assert small.total_fen == 2000 and not OrderAdjustment.objects.filter(order=small).exists()


def test_total_never_goes_negative(member_a, store_a, listings):
    def too_generous(ctx: pricing.PricingContext) -> list[pricing.Adjustment]:
        return [pricing.Adjustment("points", "points", -(ctx.total_fen + 1))]

    remove = pricing.register_adjuster("test.points", too_generous, position=300)
    try:
        with pytest.raises(Conflict) as caught:
            place_order(member_a, store_a, [(listings[1].pk, 1)])
    finally:
        remove()
    assert caught.value.code == "negative_total"
    assert stock_of(listings[1]) == 10
