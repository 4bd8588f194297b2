"""Lapsed places, deadlines and settlement: freeing places whose order died, failing teams past their
deadline, cancelling or refunding every live place of a failed team exactly once
(job ``group-buy-deadlines``).

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import (
    GroupBuyMember,
    GroupBuyTeam,
)
from siyu.campaigns.services.group_buys.posts import post_failed
from siyu.campaigns.services.group_buys.rules import (
    BATCH,
    CLOSE_GRACE,
    FAILED_REASON,
    JOINABLE,
    LIVE,
    SETTLE_WINDOW,
    M,
    T,
)
from siyu.common.errors import ServiceError
from siyu.members.models import Member
from siyu.orders.models import Order, OrderStatus, PaymentMethod
from siyu.orders.services import transitions
from siyu.orders.services.refunds import refund_automatically

logger = logging.getLogger("siyu.campaigns.group_buys")


# --- lapsed places, deadlines and settlement ------------------------------------------------------------


def _release(place: GroupBuyMember) -> bool:
    """Free the place of a live member whose order died (cancelled, expired, refunded) while the team is
    open (or, unpaid, formed): the counts go back by conditional UPDATEs."""
    with transaction.atomic():
        if place.status == M.PENDING_PAYMENT:
            if not GroupBuyMember.objects.filter(pk=place.pk, status=M.PENDING_PAYMENT).update(status=M.LEFT):
                return False
            GroupBuyTeam.objects.filter(pk=place.team_id, joined_count__gt=F("paid_count")).update(
                joined_count=F("joined_count") - 1
            )
            return True
        order_status = (
            Order.objects.filter(pk=place.order_id).values_list("status", flat=True).first()
            if place.order_id is not None
            else None
        )
        new = M.REFUNDED if order_status == OrderStatus.REFUNDED else M.LEFT
        if not GroupBuyMember.objects.filter(pk=place.pk, status=M.PAID, team__status=T.OPEN).update(
            status=new
        ):
            return False
        if not GroupBuyTeam.objects.filter(pk=place.team_id, status=T.OPEN, paid_count__gt=0).update(
            paid_count=F("paid_count") - 1, joined_count=F("joined_count") - 1
        ):
            # The team formed (or failed) in between: it keeps the place, so the counts stay as they are.
            transaction.set_rollback(True)
            return False
        return True


def release_stale(
    *, team_id: int | None = None, member: Member | None = None, campaign_id: int | None = None
) -> int:
    """Free places whose order was cancelled, expired or refunded: unpaid places of open or formed teams,
    counted places of open teams (a formed team keeps its members). Returns how many were freed; safe to
    run concurrently (each place is claimed by a conditional UPDATE)."""
    dead = (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REFUNDED)
    qs = GroupBuyMember.objects.filter(order__status__in=dead).filter(
        Q(status=M.PENDING_PAYMENT, team__status__in=JOINABLE) | Q(status=M.PAID, team__status=T.OPEN)
    )
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if member is not None:
        qs = qs.filter(member=member)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return sum(_release(place) for place in qs.order_by("pk")[:BATCH])


def fail_team(team_id: int, now: datetime, *, force: bool = False) -> bool:
    """open → failed once (past its deadline plus the grace, or ``force``); the robot says so."""
    with transaction.atomic():
        qs = GroupBuyTeam.objects.filter(pk=team_id, status=T.OPEN)
        if not force:
            qs = qs.filter(deadline__lte=now - CLOSE_GRACE)
        if not qs.update(status=T.FAILED, closed_at=now):
            return False
        team = GroupBuyTeam.objects.get(pk=team_id)
        record_event(
            "group_buy.failed",
            member_id=team.leader_id,
            store_id=team.store_id,
            community_id=team.community_id,
            payload={
                "team_id": team.pk,
                "campaign_id": team.campaign_id,
                "paid_count": team.paid_count,
                "joined_count": team.joined_count,
            },
        )
        refunds = (
            team.members.filter(status=M.PAID)
            .exclude(order__payment_method=PaymentMethod.PAY_AT_PICKUP)
            .exists()
        )
        post_failed(team, refunds=refunds)
    return True


def _settle(place_id: int) -> bool:
    """Settle one live place of a failed team, once: cancel its unpaid order or refund its payment, then
    mark the place left/refunded. A provider failure leaves it live for the next run."""
    found = GroupBuyMember.objects.filter(pk=place_id, status__in=LIVE).values("order_id").first()
    if found is None:
        return False
    order_id = found["order_id"]
    try:
        with transaction.atomic():
            # Locks in the payment path's order (order, then place: mark_paid → on_order_paid), and skipping
            # what another runner (or a payment being applied) holds: that is settled by them or next run.
            order = None
            if order_id is not None:
                order = Order.objects.select_for_update(skip_locked=True).filter(pk=order_id).first()
                if order is None:
                    return False
            place = (
                GroupBuyMember.objects.select_for_update(skip_locked=True)
                .filter(pk=place_id, status__in=LIVE)
                .first()
            )
            if place is None or place.order_id != order_id:
                return False
            status = order.status if order is not None else OrderStatus.CANCELLED
            if order is not None and status == OrderStatus.PENDING_PAYMENT:
                transitions.cancel(order.pk, member=order.member, reason=FAILED_REASON)
                new = M.LEFT
            elif order is not None and status in (OrderStatus.PAID, OrderStatus.READY):
                refund_automatically(order, reason=FAILED_REASON)
                new = M.REFUNDED
            elif status == OrderStatus.REFUNDED:
                new = M.REFUNDED
            elif status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
                new = M.LEFT
            else:
                logger.error("place %s of a failed team has order %s %s", place.pk, place.order_id, status)
                return False
            return bool(GroupBuyMember.objects.filter(pk=place.pk, status=place.status).update(status=new))
    except ServiceError as exc:
        logger.warning("place %s of a failed team not settled yet (%s): %s", place_id, exc.code, exc.message)
        return False


def close_due_teams(now: datetime | None = None) -> int:
    """Periodic job ``group-buy-deadlines``: free lapsed places, fail teams still open past their deadline
    (plus ``CLOSE_GRACE``) and settle every live place of failed teams (cancel or refund, exactly once).
    Late-payment refunds are orders' own job (``order-late-refunds``). Returns the work done. Safe to run
    concurrently and repeatedly: each step is claimed by a conditional UPDATE or a row lock."""
    now = now or timezone.now()
    done = release_stale()
    due = list(
        GroupBuyTeam.objects.filter(status=T.OPEN, deadline__lte=now - CLOSE_GRACE)
        .order_by("deadline", "id")
        .values_list("pk", flat=True)[:BATCH]
    )
    for team_id in due:
        done += fail_team(team_id, now)
    waiting = list(
        GroupBuyMember.objects.filter(
            status__in=LIVE, team__status=T.FAILED, team__closed_at__gte=now - SETTLE_WINDOW
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for place_id in waiting:
        done += _settle(place_id)
    return done
