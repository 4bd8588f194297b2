"""Joining and leaving one group: membership history, the member count, and the join/leave events.

``Community.member_count`` changes only here, and only by atomic conditional UPDATEs, so concurrent joins
can never push a group over its hard cap (the database's check constraint is the last line of defence).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.communities import hooks
from siyu.communities.models import Community, CommunityMembership, JoinScene, MemberRole
from siyu.communities.services.join_checks import may_join
from siyu.communities.services.robot import send_welcome
from siyu.members.models import Member
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.communities")


def active_membership(community: Community, member: Member) -> CommunityMembership | None:
    """The member's current stay in ``community``, or None if they are not in it."""
    return (
        CommunityMembership.objects.filter(
            community=community, member=member, status=CommunityMembership.Status.ACTIVE
        )
        .order_by("-joined_at", "-id")
        .first()
    )


def join_refused() -> PermissionDenied:
    """The error for a member the blocklist or a standing moderation removal keeps out."""
    return PermissionDenied(_("You cannot join this group."), field="member", code="join_refused")


def claim_seat(community_id: int, limit_field: str = "hard_cap") -> bool:
    """Atomically take one seat in an open group if its count is below ``limit_field`` (hard_cap or
    recommended_size). Returns False, changing nothing, when the group is full or not open."""
    return bool(
        Community.objects.filter(
            pk=community_id, status=Community.Status.OPEN, member_count__lt=F(limit_field)
        ).update(member_count=F("member_count") + 1)
    )


def join_community(
    community: Community,
    member: Member,
    *,
    scene: str,
    inviter: Staff | None = None,
    referrer: Member | None = None,
    live_code_id: int | None = None,
    role: str = "member",
) -> CommunityMembership:
    """Put ``member`` in ``community`` and return the active membership.

    Guarantees: idempotent (a member already in the group gets their current membership back, nothing
    recorded twice); a blocklisted member, or one whose moderation removal from this group still stands,
    is refused (PermissionDenied); the group must be open (Conflict otherwise); the member count never
    exceeds the hard cap — the seat is claimed by an atomic conditional UPDATE, so a full group raises
    Conflict and changes nothing; a new membership row is written per stay (history kept) with scene,
    inviting staff, referring member and live code; ``community.joined`` is recorded with the same
    attribution; after commit the robot's welcome is sent.
    """
    _check_join_args(member, scene, role)
    with transaction.atomic():
        current = active_membership(community, member)
        if current is not None:
            return current
        if not may_join(community, member):
            raise join_refused()
        if not claim_seat(community.pk, "hard_cap"):
            fresh = Community.objects.filter(pk=community.pk).values("status").first()
            if fresh is None or fresh["status"] != Community.Status.OPEN:
                raise Conflict(_("This group is not open."), field="community")
            raise Conflict(_("This group is full."), field="community", code="group_full")
        return _create_membership(
            community,
            member,
            scene=scene,
            inviter=inviter,
            referrer=referrer,
            live_code_id=live_code_id,
            role=role,
        )


def _check_join_args(member: Member, scene: str, role: str) -> None:
    if member.pk is None or member.erased_at:
        raise ValidationFailed(_("This member's data was erased."), field="member")
    if scene not in JoinScene.values:
        raise ValidationFailed(_("Unknown join scene."), field="scene")
    if role not in MemberRole.values:
        raise ValidationFailed(_("Unknown group role."), field="role")


def _create_membership(
    community: Community,
    member: Member,
    *,
    scene: str,
    inviter: Staff | None,
    referrer: Member | None,
    live_code_id: int | None,
    role: str,
) -> CommunityMembership:
    """Write the membership for a seat already claimed (call inside the claiming transaction)."""
    try:
        with transaction.atomic():
            membership = CommunityMembership.objects.create(
                community=community,
                member=member,
                role=role,
                scene=scene,
                inviter=inviter,
                referrer=referrer,
                live_code_id=live_code_id,
                joined_at=timezone.now(),
            )
    except IntegrityError:
        # A concurrent join of the same member won the one-active-row constraint: give the seat back.
        Community.objects.filter(pk=community.pk, member_count__gt=0).update(
            member_count=F("member_count") - 1
        )
        existing = active_membership(community, member)
        if existing is None:
            raise
        return existing
    payload: dict[str, Any] = {
        "membership_id": membership.pk,
        "scene": scene,
        "store_id": community.store_id,
        "inviter_id": inviter.pk if inviter is not None else None,
        "referrer_id": referrer.pk if referrer is not None else None,
        "live_code_id": live_code_id,
        "role": role,
        "channel": community.channel,
    }
    record_event(
        "community.joined",
        member_id=member.pk,
        store_id=community.store_id,
        community_id=community.pk,
        payload=payload,
    )
    membership_id = membership.pk
    transaction.on_commit(lambda: send_welcome(membership_id), robust=True)
    hooks.member_joined.send_on_commit(
        hooks.MemberJoined(
            membership_id=membership_id,
            member_id=member.pk,
            brand_id=member.brand_id,
            store_id=community.store_id,
            community_id=community.pk,
            scene=scene,
            inviter_id=inviter.pk if inviter is not None else None,
            referrer_id=referrer.pk if referrer is not None else None,
            live_code_id=live_code_id,
            joined_at=membership.joined_at,
        )
    )
    return membership


def leave_community(
    community: Community,
    member: Member,
    *,
    removed: bool = False,
    by: Staff | None = None,
    reason: str = "",
) -> CommunityMembership | None:
    """End the member's stay in ``community`` (left, or removed by staff/moderation).

    Guarantees: returns the ended membership, or None (nothing changed) when the member was not in the
    group; the row is kept with status left/removed and ``left_at`` (history), so a later join makes a
    new row; the member count goes down by one atomically and never below zero; ``community.left`` is
    recorded; a removal by staff is audited in the same transaction.
    """
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        membership = (
            CommunityMembership.objects.select_for_update()
            .filter(community=community, member=member, status=CommunityMembership.Status.ACTIVE)
            .first()
        )
        if membership is None:
            return None
        membership.status = CommunityMembership.Status.REMOVED if removed else CommunityMembership.Status.LEFT
        membership.left_at = timezone.now()
        membership.save(update_fields=["status", "left_at"])
        Community.objects.filter(pk=community.pk, member_count__gt=0).update(
            member_count=F("member_count") - 1
        )
        record_event(
            "community.left",
            member_id=member.pk,
            store_id=community.store_id,
            community_id=community.pk,
            payload={
                "membership_id": membership.pk,
                "removed": removed,
                "by_staff_id": by.pk if by is not None else None,
                "reason": reason,
                "store_id": community.store_id,
            },
        )
        if by is not None:
            record_audit(
                by,
                "community.remove_member" if removed else "community.leave_member",
                target_type="member",
                target_id=member.pk,
                store_id=community.store_id,
                detail={"community": community.pk, "membership": membership.pk, "reason": reason},
            )
    return membership
