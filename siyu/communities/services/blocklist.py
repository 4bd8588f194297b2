"""The brand blocklist: people kept out of every group of the brand, by member, mobile number or channel
identity. See docs/moderation.md.

Roles with ``moderation.blocklist`` (head office, store managers) block members they serve; blocking by a
bare mobile number or channel id may name anyone in the chain and needs ``moderation.blocklist_any``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.mobile import normalize_mobile
from siyu.common.validators import parse_id
from siyu.communities.models import BlocklistEntry
from siyu.members.models import ChannelIdentity, Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id


def _blocklist_match(member: Member) -> Q:
    cond = Q(member_id=member.pk)
    if member.mobile:
        cond |= Q(mobile=member.mobile)
    for channel, external_id in ChannelIdentity.objects.filter(member=member).values_list(
        "channel", "external_id"
    ):
        cond |= Q(channel=channel, external_id=external_id)
    return cond


def is_blocked(member: Member) -> bool:
    """True when the member is on their brand's blocklist, by member, mobile number or channel identity."""
    return BlocklistEntry.objects.filter(brand_id=member.brand_id).filter(_blocklist_match(member)).exists()


def _check_blocklist_role(staff: Staff) -> None:
    check_capability(
        staff, "moderation.blocklist", message=_("Your role does not allow this."), field="blocklist"
    )


@transaction.atomic
def add_to_blocklist(
    staff: Staff,
    *,
    member_id: Any = None,
    mobile: str = "",
    channel: str = "",
    external_id: str = "",
    reason: str = "",
    ip: str | None = None,
) -> BlocklistEntry:
    """Put someone on the brand-wide blocklist: a member (HQ, or a store manager for members they serve),
    or a mobile number / channel identity (HQ only, since it may name anyone in the chain).

    Guarantees: at least one identifier is required; an identical entry is a Conflict. Blocked members are
    refused at their next join (``may_join``) or message (removed). Audited.
    """
    _check_blocklist_role(staff)
    member = get_member(staff, member_id) if member_id not in (None, "") else None
    mobile = normalize_mobile(mobile) if (mobile or "").strip() else ""
    channel = (channel or "").strip()
    external_id = (external_id or "").strip()
    if channel or external_id:
        if channel not in ChannelIdentity.Channel.values:
            raise ValidationFailed(_("Unknown channel."), field="channel")
        if not external_id or len(external_id) > 128:
            raise ValidationFailed(_("Give the channel user id."), field="external_id")
    if member is None and not mobile and not external_id:
        raise ValidationFailed(
            _("Say whom to block: a member, a mobile number or a channel id."), field="member"
        )
    if mobile or external_id:
        check_capability(
            staff,
            "moderation.blocklist_any",
            message=_("Only head office blocks by mobile number or channel id."),
            field="mobile",
        )
    brand_id = member.brand_id if member else current_brand_id(staff)
    existing = BlocklistEntry.objects.filter(
        brand_id=brand_id, member=member, mobile=mobile, channel=channel, external_id=external_id
    )
    if existing.exists():
        raise Conflict(_("Already on the blocklist."), field="member")
    entry = BlocklistEntry.objects.create(
        brand_id=brand_id,
        member=member,
        mobile=mobile,
        channel=channel,
        external_id=external_id,
        reason=(reason or "").strip()[:255],
        added_by=staff,
    )
    record_audit(
        staff,
        "blocklist.add",
        target_type="member" if member else "blocklist",
        target_id=member.pk if member else entry.pk,
        store_id=member.home_store_id if member else None,
        detail={"entry": entry.pk, "channel": channel, "has_mobile": bool(mobile), "reason": entry.reason},
        ip=ip,
    )
    return entry


def blocklist(staff: Staff) -> QuerySet[BlocklistEntry]:
    """Blocklist entries ``staff`` may see: all for HQ; for store managers those naming members they serve."""
    _check_blocklist_role(staff)
    qs = BlocklistEntry.objects.select_related("member", "added_by").order_by("-created_at", "-id")
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(member__home_store_id__in=scope)
    return qs


@transaction.atomic
def remove_from_blocklist(staff: Staff, entry_id: Any, *, ip: str | None = None) -> None:
    """Delete a blocklist entry ``staff`` may see (others are NotFound). Audited."""
    pk = parse_id(entry_id, "entry", _("No such blocklist entry."))
    entry = blocklist(staff).filter(pk=pk).first()
    if entry is None:
        raise NotFound(_("No such blocklist entry."), field="entry")
    record_audit(
        staff,
        "blocklist.remove",
        target_type="member" if entry.member_id else "blocklist",
        target_id=entry.member_id or entry.pk,
        store_id=entry.member.home_store_id if entry.member else None,
        detail={"entry": entry.pk},
        ip=ip,
    )
    entry.delete()
