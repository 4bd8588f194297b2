"""Group hygiene: who has gone quiet in a group, who should be removed, and who deserves the VIP group.

Activity is read from the event log (``siyu.analytics.models.Event``) through the group's activity signals
(``siyu.communities.services.activity``): where Siyu reads the group's messages, a message in the group or an
order at the group's store (plus any signal a capability registers, such as loyalty's check-ins); where it
cannot (WeCom customer groups), a join, a link or card opened from the group, or an order at the store.

Missing data is never taken for inactivity: on a channel without message data, a member with no signal in the
window is of *unknown* activity — listed as such, never proposed for removal, and ``remove_inactive`` refuses
them. See docs/moderation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import Community, CommunityMembership, JoinScene, Theme
from siyu.communities.services import activity
from siyu.communities.services.join_checks import may_join
from siyu.communities.services.joining import join_community
from siyu.communities.services.messages import display_name
from siyu.communities.services.queries import get_community
from siyu.communities.services.sanctions import remove_from_group
from siyu.members.models import Member, MemberTag
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

HIGH_SPENDER_TAG = "高消费"
SPEND_WINDOW_DAYS = 90
DEFAULT_VIP_SPEND_THRESHOLD_FEN = 100_000  # ¥1,000 in 90 days
ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
ORDER_RETURNED = "order.returned"  # a picked-up order taken back (siyu.orders.services.returns)
MAX_BATCH = 500


def vip_spend_threshold_fen() -> int:
    """Spend (fen, 90 days) that makes a member a VIP candidate: ``SIYU_VIP_SPEND_THRESHOLD_FEN``."""
    return int(getattr(settings, "SIYU_VIP_SPEND_THRESHOLD_FEN", DEFAULT_VIP_SPEND_THRESHOLD_FEN))


@dataclass
class HygieneRow:
    """One member of the group as the hygiene report sees them."""

    member_id: int
    name: str
    joined_at: datetime
    last_active_at: datetime | None
    spend_fen: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class HygieneReport:
    """Inactive members, suggested removals and VIP candidates of one group."""

    community: Community
    inactive_days: int
    member_count: int
    inactive: list[HygieneRow]
    suggested_removals: list[HygieneRow]
    vip_candidates: list[HygieneRow]
    vip_groups: list[Community]
    # What the report could see: the signals it used ("消息、下单" / "入群、下单、打开链接"), and whether the
    # group's messages are among them.
    signals: str = ""
    reads_messages: bool = True
    # Members with no signal in the window on a channel without message data: not seen, not "inactive".
    unknown: list[HygieneRow] = field(default_factory=list)
    # Why no removal is proposed although members were not seen ("" when removals are proposed normally).
    no_removal_reason: str = ""


@dataclass
class HygieneResult:
    """What a one-click action did: members acted on, and those skipped with the reason."""

    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _check_days(inactive_days: Any) -> int:
    if isinstance(inactive_days, bool) or not isinstance(inactive_days, int) or not 1 <= inactive_days <= 365:
        raise ValidationFailed(
            _("Inactive days must be a whole number from 1 to 365."), field="inactive_days"
        )
    return inactive_days


def _active_memberships(community: Community) -> list[CommunityMembership]:
    return list(
        CommunityMembership.objects.filter(
            community=community, status=CommunityMembership.Status.ACTIVE, member__isnull=False
        )
        .select_related("member")
        .order_by("joined_at", "id")
    )


def last_activity(community: Community, member_ids: list[int]) -> dict[int, datetime]:
    """The latest activity time of each member that has any, from the group's activity signals
    (``activity.signals_for``)."""
    return activity.member_last_signal(community, member_ids)


def no_message_data_reason() -> str:
    return _(
        "Siyu cannot see the messages in this group (its channel does not share them), so a member we "
        "have not seen may well be talking every day. Nobody is proposed for removal on missing data: "
        "members without a signal are listed as activity unknown."
    )


def _amount_fen(payload: Any) -> int:
    if not isinstance(payload, dict):
        return 0
    for key in ("amount_fen", "amount"):
        value = payload.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def spend_fen(
    member_ids: list[int], *, days: int = SPEND_WINDOW_DAYS, now: datetime | None = None
) -> dict[int, int]:
    """Net spend in fen over ``days`` per member: ``order.paid`` minus ``order.refunded`` and
    ``order.returned`` amounts (payload ``amount_fen``, else ``amount``), anywhere in the chain."""
    if not member_ids:
        return {}
    since = (now or timezone.now()) - timedelta(days=days)
    totals: dict[int, int] = {}
    rows = Event.objects.filter(
        member_id__in=member_ids,
        type__in=(ORDER_PAID, ORDER_REFUNDED, ORDER_RETURNED),
        occurred_at__gte=since,
    ).values_list("member_id", "type", "payload")
    for member_id, type_, payload in rows:
        assert member_id is not None
        sign = 1 if type_ == ORDER_PAID else -1
        totals[member_id] = totals.get(member_id, 0) + sign * _amount_fen(payload)
    return totals


def _high_spender_tagged(member_ids: list[int]) -> set[int]:
    return set(
        MemberTag.objects.filter(member_id__in=member_ids, tag__name=HIGH_SPENDER_TAG).values_list(
            "member_id", flat=True
        )
    )


def hygiene_report(staff: Staff, community_id: Any, *, inactive_days: int = 30) -> HygieneReport:
    """The hygiene report of a group in ``staff``'s scope (NotFound otherwise).

    - signals: which activity signals were used for this group (``activity.signal_labels``);
    - inactive: active members with none of the group's signals within ``inactive_days`` — only where Siyu
      reads the group's messages;
    - unknown: on a channel without message data, the members with no signal within ``inactive_days``
      (activity unknown, with ``no_removal_reason``); ``inactive`` and suggested removals then stay empty:
      Siyu never proposes a removal on missing data;
    - suggested removals: inactive members who joined more than ``inactive_days`` ago (newcomers get time);
    - VIP candidates: members tagged 高消费 or whose net order spend over 90 days reaches
      ``SIYU_VIP_SPEND_THRESHOLD_FEN``, and who are not yet in an open VIP group of the store (none when this
      group is itself a VIP group);
    - vip_groups: the store's open VIP-theme groups, as promotion targets. Reads only.
    """
    community = get_community(staff, community_id)
    days = _check_days(inactive_days)
    now = timezone.now()
    cutoff = now - timedelta(days=days)
    memberships = _active_memberships(community)
    ids = [m.member_id for m in memberships if m.member_id is not None]
    last = last_activity(community, ids)
    vip_groups = list(
        Community.objects.filter(store_id=community.store_id, theme=Theme.VIP, status=Community.Status.OPEN)
        .exclude(pk=community.pk)
        .order_by("sequence", "id")
    )
    in_vip = set(
        CommunityMembership.objects.filter(
            community__in=vip_groups, member_id__in=ids, status=CommunityMembership.Status.ACTIVE
        ).values_list("member_id", flat=True)
    )
    spend = spend_fen(ids, now=now)
    tagged = _high_spender_tagged(ids)
    threshold = vip_spend_threshold_fen()
    reads = activity.reads_messages(community)
    inactive: list[HygieneRow] = []
    unknown: list[HygieneRow] = []
    removals: list[HygieneRow] = []
    vips: list[HygieneRow] = []
    for m in memberships:
        member = m.member
        assert member is not None
        row = HygieneRow(
            member_id=member.pk,
            name=display_name(member),
            joined_at=m.joined_at,
            last_active_at=last.get(member.pk),
            spend_fen=spend.get(member.pk, 0),
        )
        if row.last_active_at is None or row.last_active_at < cutoff:
            if not reads:
                unknown.append(row)  # not seen is not inactive: the channel hides what members say
            else:
                inactive.append(row)
                if m.joined_at < cutoff:
                    removals.append(row)
        if community.theme != Theme.VIP and member.pk not in in_vip:
            if member.pk in tagged:
                row.reasons.append(_("Tagged %(tag)s") % {"tag": HIGH_SPENDER_TAG})
            if row.spend_fen >= threshold:
                row.reasons.append(
                    _("Spent ¥%(yuan)s in %(days)s days") % {"yuan": f"{row.spend_fen / 100:.2f}", "days": 90}
                )
            if row.reasons:
                vips.append(row)
    vips.sort(key=lambda r: -r.spend_fen)
    return HygieneReport(
        community=community,
        inactive_days=days,
        member_count=len(memberships),
        inactive=inactive,
        suggested_removals=removals,
        vip_candidates=vips,
        vip_groups=vip_groups,
        signals=activity.signal_labels(community),
        reads_messages=reads,
        unknown=unknown,
        no_removal_reason="" if reads else no_message_data_reason(),
    )


def _member_ids(raw: Any) -> list[int]:
    if not isinstance(raw, list | tuple | set) or not raw:
        raise ValidationFailed(_("Choose at least one member."), field="member_ids")
    try:
        ids = list(dict.fromkeys(parse_id(value, "member_ids") for value in raw))
    except NotFound:
        raise ValidationFailed(_("Invalid member id."), field="member_ids") from None
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(
            _("At most %(max)s members at a time.") % {"max": MAX_BATCH}, field="member_ids"
        )
    return ids


@transaction.atomic
def remove_inactive(
    staff: Staff, community_id: Any, member_ids: Any, *, inactive_days: int = 30, ip: str | None = None
) -> HygieneResult:
    """Remove the chosen members from a group in ``staff``'s scope (NotFound otherwise).

    Guarantees: only members still in the group and still inactive for ``inactive_days`` are removed (others
    are skipped, with the reason, so a member who spoke since the report is kept); on a channel without
    message data nobody is removed here (each is skipped: not seen is not inactive — see ``hygiene_report``);
    each removal ends the membership as *removed* (``leave_community``, audited with the acting staff), queues
    the Telegram removal, and is audited as ``hygiene.remove_inactive``. All in one transaction.
    """
    community = get_community(staff, community_id)
    days = _check_days(inactive_days)
    ids = _member_ids(member_ids)
    cutoff = timezone.now() - timedelta(days=days)
    in_group = {
        m.member_id: m
        for m in CommunityMembership.objects.filter(
            community=community, member_id__in=ids, status=CommunityMembership.Status.ACTIVE
        ).select_related("member")
    }
    last = last_activity(community, ids)
    reads = activity.reads_messages(community)
    result = HygieneResult()
    for member_id in ids:
        membership = in_group.get(member_id)
        if membership is None or membership.member is None:
            result.skipped[member_id] = _("Not in this group.")
            continue
        if not reads:
            result.skipped[member_id] = _(
                "Siyu cannot see messages in this group, so it cannot tell that this member is inactive."
            )
            continue
        seen = last.get(member_id)
        if seen is not None and seen >= cutoff:
            result.skipped[member_id] = _("Active recently.")
            continue
        reason = _("Inactive for %(days)s days") % {"days": days}
        remove_from_group(
            community, membership.member, by=staff, reason=reason, key=f"hygiene:{membership.pk}"
        )
        record_audit(
            staff,
            "hygiene.remove_inactive",
            target_type="member",
            target_id=member_id,
            store_id=community.store_id,
            detail={"community": community.pk, "membership": membership.pk, "inactive_days": days},
            ip=ip,
        )
        result.done.append(member_id)
    return result


@transaction.atomic
def promote_to_vip(
    staff: Staff, community_id: Any, member_ids: Any, vip_community_id: Any, *, ip: str | None = None
) -> HygieneResult:
    """Add chosen members of a group to a VIP group of the same store (both in ``staff``'s scope, else
    NotFound). They stay in their group too.

    Guarantees: the target must be an open VIP-theme group of the same store, other than the source
    (ValidationFailed); members not in the source group, blocklisted, or removed from the VIP group by
    moderation are skipped with the reason; members already in it count as done (idempotent); each join is
    ``join_community(scene=direct, inviter=staff)`` and audited as ``hygiene.promote_vip``. A VIP group that
    fills up refuses the whole batch (Conflict, nothing changed).
    """
    community = get_community(staff, community_id)
    vip = get_community(staff, vip_community_id)
    if vip.pk == community.pk or vip.store_id != community.store_id or vip.theme != Theme.VIP:
        raise ValidationFailed(_("Choose a VIP group of the same store."), field="vip_community")
    if vip.status != Community.Status.OPEN:
        raise ValidationFailed(_("This group is not open."), field="vip_community")
    ids = _member_ids(member_ids)
    in_group = {
        m.member_id: m.member
        for m in CommunityMembership.objects.filter(
            community=community, member_id__in=ids, status=CommunityMembership.Status.ACTIVE
        ).select_related("member")
    }
    result = HygieneResult()
    for member_id in ids:
        member: Member | None = in_group.get(member_id)
        if member is None:
            result.skipped[member_id] = _("Not in this group.")
            continue
        if not may_join(vip, member):
            result.skipped[member_id] = _("Not allowed in the VIP group (blocklist or removal).")
            continue
        membership = join_community(vip, member, scene=JoinScene.DIRECT, inviter=staff)
        record_audit(
            staff,
            "hygiene.promote_vip",
            target_type="member",
            target_id=member_id,
            store_id=community.store_id,
            detail={"from": community.pk, "to": vip.pk, "membership": membership.pk},
            ip=ip,
        )
        result.done.append(member_id)
    return result
