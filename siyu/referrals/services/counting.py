"""Counting invites and paying (or taking back) their rewards: the ``referral-rewards`` periodic job.

Guarantees:

- **Paid once.** An invite moves pending → counted by one conditional UPDATE (``WHERE status = pending``),
  and in the same transaction the inviter's reward is written under Siyu's own keys
  (``sys:referral:<invite>:points`` through ``points.earn_once``, ``sys:referral:<invite>:coupon`` through
  ``coupons.issue_once``), so two schedulers, a retry or a crash between steps never pay twice.
  The tier is the inviter's n-th counted invite of the campaign (``ordinal``, unique per inviter in the
  database). A coupon that cannot be issued (sold out, ended) is noted on the invite; the points stand.
- **When an invite counts.** ``stayed``: the invitee is still in the group ``stay_days`` after joining;
  ``purchase``: the invitee has paid an order since joining. An invitee who left before it counted is
  rejected (never rewarded). Held and rejected invites never count; released ones do like any other.
- **Reversed once.** A counted invite whose invitee left within ``reversal_days`` of joining moves
  counted → reversed by one conditional UPDATE, and in the same transaction its points are reversed
  (``points.reverse_earning``: once per earning, spent points become debt) and its coupon voided if unused.
- Every run is safe to repeat and to run concurrently; events ``referral.counted`` / ``referral.reversed``
  are written for the inviter in the transaction of the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import ServiceError
from siyu.common.idempotency import system_key
from siyu.communities.models import CommunityMembership
from siyu.loyalty.models import CouponSource, CouponTemplate
from siyu.loyalty.services import coupons, coupons_revoke, points
from siyu.members.models import Member
from siyu.orders.models import Order, OrderStatus
from siyu.referrals.models import CountWhen, Invite, InviteStatus, ReferralCampaign
from siyu.referrals.services.campaigns import tier_for

BATCH = 500
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.READY, OrderStatus.PICKED_UP)
SOURCE = "referral"


@dataclass
class RunResult:
    counted: int = 0
    rejected: int = 0
    reversed: int = 0

    def __str__(self) -> str:
        return f"counted {self.counted}, rejected {self.rejected}, reversed {self.reversed}"


def _membership_left(invite: Invite) -> CommunityMembership | None:
    found = CommunityMembership.objects.filter(pk=invite.membership_id).only("status", "left_at").first()
    if found is None or found.status == CommunityMembership.Status.ACTIVE:
        return None
    return found


def _pay(campaign: ReferralCampaign, invite: Invite, now: datetime) -> bool:
    """Count ``invite`` and pay its tier's reward, in one transaction; False when someone else did."""
    with transaction.atomic():
        ordinal = (
            Invite.objects.filter(campaign=campaign, inviter_id=invite.inviter_id).aggregate(
                n=Max("ordinal")
            )["n"]
            or 0
        ) + 1
        changed = Invite.objects.filter(pk=invite.pk, status=InviteStatus.PENDING).update(
            status=InviteStatus.COUNTED, counted_at=now, ordinal=ordinal
        )
        if not changed:
            return False
        tier = tier_for(campaign, ordinal) or {}
        inviter = Member.objects.get(pk=invite.inviter_id)
        reward_points = int(tier.get("points") or 0)
        coupon_id = None
        note = ""
        if reward_points:
            points.earn_once(
                inviter,
                reward_points,
                key=system_key(SOURCE, invite.pk, "points"),
                reason=(_("Invite reward: %(name)s") % {"name": campaign.name})[:200],
                source=(SOURCE, str(invite.pk)),
                now=now,
            )
        template_id = tier.get("coupon_template_id")
        if template_id:
            template = CouponTemplate.objects.filter(pk=template_id).first()
            if template is None:
                note = _("The tier's coupon no longer exists.")
            else:
                try:
                    with transaction.atomic():
                        coupon, _new = coupons.issue_once(
                            template,
                            inviter,
                            source=CouponSource.CAMPAIGN,
                            source_ref=f"referral:{invite.pk}",
                            key=system_key(SOURCE, invite.pk, "coupon"),
                            now=now,
                        )
                    coupon_id = coupon.pk
                except ServiceError as exc:
                    note = str(exc.message)[:200]
        Invite.objects.filter(pk=invite.pk).update(
            reward_points=reward_points, reward_coupon_id=coupon_id, note=note
        )
        record_event(
            "referral.counted",
            member_id=invite.inviter_id,
            store_id=invite.store_id,
            community_id=invite.community_id,
            occurred_at=now,
            payload={"invite_id": invite.pk, "points": reward_points, "ordinal": ordinal},
        )
    return True


def _reject_left(invite: Invite, now: datetime) -> bool:
    return bool(
        Invite.objects.filter(pk=invite.pk, status=InviteStatus.PENDING).update(
            status=InviteStatus.REJECTED, note=_("Left the group before the invite counted.")[:200]
        )
    )


def reverse_invite(invite: Invite, *, now: datetime, reason: str) -> bool:
    """Take back ``invite``'s reward (counted → reversed); False when it was not counted (or already
    reversed). See module guarantees."""
    with transaction.atomic():
        changed = Invite.objects.filter(pk=invite.pk, status=InviteStatus.COUNTED).update(
            status=InviteStatus.REVERSED, reversed_at=now, note=reason[:200]
        )
        if not changed:
            return False
        inviter = Member.objects.get(pk=invite.inviter_id)
        points.reverse_earning(
            inviter,
            source=(SOURCE, str(invite.pk)),
            key=system_key(SOURCE, invite.pk, "reverse"),
            reason=reason,
            now=now,
        )
        if invite.reward_coupon_id:
            coupons_revoke.revoke_unused(invite.reward_coupon_id, reason="referral reversed", now=now)
        record_event(
            "referral.reversed",
            member_id=invite.inviter_id,
            store_id=invite.store_id,
            community_id=invite.community_id,
            occurred_at=now,
            payload={"invite_id": invite.pk, "points": invite.reward_points},
        )
    return True


def _left_within_window(campaign: ReferralCampaign, invite: Invite) -> bool:
    left = _membership_left(invite)
    if left is None:
        return False
    left_at = left.left_at or timezone.now()
    return left_at < invite.created_at + timedelta(days=campaign.reversal_days)


def _active_memberships() -> Any:
    return CommunityMembership.objects.filter(status=CommunityMembership.Status.ACTIVE).values("pk")


def due_invites(campaign: ReferralCampaign, now: datetime) -> QuerySet[Invite]:
    """Pending invites of ``campaign`` whose friend is still in the group and whose condition is met."""
    pending = Invite.objects.filter(campaign=campaign, status=InviteStatus.PENDING).filter(
        membership_id__in=_active_memberships()
    )
    if campaign.count_when == CountWhen.PURCHASE:
        paid = Order.objects.filter(
            member_id=OuterRef("invitee_id"), status__in=PAID_STATUSES, paid_at__gte=OuterRef("created_at")
        )
        return pending.filter(Exists(paid))
    return pending.filter(created_at__lte=now - timedelta(days=campaign.stay_days))


def run_campaign(campaign: ReferralCampaign, *, now: datetime, result: RunResult) -> None:
    """Count, reject and reverse the due invites of one campaign."""
    left = Invite.objects.filter(campaign=campaign, status=InviteStatus.PENDING).exclude(
        membership_id__in=_active_memberships()
    )
    for invite in left.order_by("id")[:BATCH]:
        result.rejected += _reject_left(invite, now)
    for invite in due_invites(campaign, now).order_by("created_at", "id")[:BATCH]:
        try:
            result.counted += _pay(campaign, invite, now)
        except IntegrityError:
            continue  # a parallel run took the same ordinal: counted on the next run
    # Counted invites still inside (or just past, not yet looked at) their reversal window.
    horizon = now - timedelta(days=campaign.reversal_days + 30)
    left_at = CommunityMembership.objects.filter(pk=OuterRef("membership_id")).values("left_at")[:1]
    counted = (
        Invite.objects.filter(campaign=campaign, status=InviteStatus.COUNTED, created_at__gte=horizon)
        .exclude(membership_id__in=_active_memberships())
        .annotate(left_at=Subquery(left_at))
        .filter(left_at__lt=F("created_at") + timedelta(days=campaign.reversal_days))
    )
    for invite in counted.order_by("id")[:BATCH]:
        if _left_within_window(campaign, invite):
            days = campaign.reversal_days
            reason = _("The invitee left the group within %(days)s days.") % {"days": days}
            result.reversed += reverse_invite(invite, now=now, reason=reason)


def run_due(*, now: datetime | None = None) -> str:
    """The periodic job: every campaign with invites waiting or still reversible (see module guarantees)."""
    now = now or timezone.now()
    result = RunResult()
    campaign_ids = (
        Invite.objects.filter(Q(status=InviteStatus.PENDING) | Q(status=InviteStatus.COUNTED))
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    for campaign in ReferralCampaign.objects.filter(pk__in=list(campaign_ids)).order_by("id"):
        run_campaign(campaign, now=now, result=result)
    return str(result)
