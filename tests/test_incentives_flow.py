"""Attribution through the real seams: a join through a staff member's link (communities hook) credits the
staff member; the member's paid orders within 90 days (orders ``paid`` hook) and their refunds follow."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from siyu.communities.services.joining import join_community
from siyu.incentives import listeners
from siyu.incentives.models import Attribution, AttributionKind
from siyu.incentives.services.months import current_month
from siyu.orders import hooks
from siyu.orders.models import OrderStatus
from siyu.orders.services.pickup import verify_pickup
from siyu.orders.services.transitions import transition
from tests.factories import StaffFactory, make_group, place_order, two_cups_at


def test_join_paid_order_and_refund_are_attributed_once(
    brand, store_a, hq_admin, clerk_a, member_a, django_capture_on_commit_callbacks
):
    group = make_group(store_a)
    with django_capture_on_commit_callbacks(execute=True):
        join_community(group, member_a, scene="staff_share", inviter=clerk_a)
    credit = Attribution.objects.get(kind=AttributionKind.MEMBER)
    assert (credit.staff_id, credit.store_id, credit.member_id) == (clerk_a.pk, store_a.pk, member_a.pk)
    assert credit.scene == "staff_share"
    assert credit.month == current_month()

    cup_w, _ = two_cups_at(hq_admin, store_a)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(member_a, store_a, [(cup_w.pk, 2)])
        verify_pickup(clerk_a, order.pickup_code.short_code)  # paid at the counter, then handed over
    order.refresh_from_db()
    sale = Attribution.objects.get(kind=AttributionKind.ORDER)
    assert (sale.staff_id, sale.order_id, sale.amount_fen) == (clerk_a.pk, order.pk, order.total_fen)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        transition(order, OrderStatus.REFUNDED, allowed_from=(OrderStatus.PICKED_UP,), reason="return")
        hooks.fire("refunded", order)
    refund = Attribution.objects.get(kind=AttributionKind.REFUND)
    assert (refund.amount_fen, refund.month) == (-order.total_fen, sale.month)

    # Hooks run again (retries, duplicate notices) change nothing.
    listeners.on_paid(order)
    listeners.on_refunded(order)
    assert Attribution.objects.count() == 3


def test_first_inviter_keeps_the_member_and_plain_joins_credit_nobody(
    brand, store_a, clerk_a, member_a, member_b, django_capture_on_commit_callbacks
):
    other = StaffFactory(brand=brand, username="other", role="clerk", stores=[store_a])
    first, second = make_group(store_a), make_group(store_a, name="宝妈群2")
    with django_capture_on_commit_callbacks(execute=True):
        join_community(first, member_a, scene="staff_share", inviter=clerk_a)
        join_community(second, member_a, scene="staff_share", inviter=other)
        join_community(first, member_b, scene="store_qr")
    assert list(Attribution.objects.values_list("staff_id", "member_id")) == [(clerk_a.pk, member_a.pk)]


def test_orders_after_the_window_are_not_attributed(
    brand, store_a, hq_admin, clerk_a, member_a, django_capture_on_commit_callbacks
):
    group = make_group(store_a)
    with django_capture_on_commit_callbacks(execute=True):
        join_community(group, member_a, scene="staff_share", inviter=clerk_a)
    Attribution.objects.update(occurred_at=Attribution.objects.get().occurred_at - timedelta(days=91))
    cup_w, _ = two_cups_at(hq_admin, store_a)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(member_a, store_a, [(cup_w.pk, 1)])
        verify_pickup(clerk_a, order.pickup_code.short_code)
    assert not Attribution.objects.filter(kind=AttributionKind.ORDER).exists()
