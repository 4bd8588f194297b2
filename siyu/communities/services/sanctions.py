"""Sanctions on a member in a group — mute and removal — applied in Siyu and on the group's channel.

Used by the moderation ladder and by group hygiene (removing inactive members). What a channel cannot do
by API is handed to the store: WeCom has no mute (the mute holds in Siyu's web chat only) and no removal
(a ``StaffTask`` asks staff to remove the member by hand); Telegram gets outbox calls.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind
from siyu.channels.services import outbox
from siyu.communities.models import Community, CommunityMembership, StaffTask
from siyu.communities.services.joining import leave_community
from siyu.communities.services.messages import display_name
from siyu.members.models import ChannelIdentity, Member
from siyu.org.models import Staff


def member_display_name(member: Member) -> str:
    """How the robot names a member in a group: as the chat shows them to other members."""
    return display_name(member)


def _channel_user_id(community: Community, member: Member) -> str | None:
    channel = {
        ChannelKind.WECOM: ChannelIdentity.Channel.WECOM,
        ChannelKind.TELEGRAM: ChannelIdentity.Channel.TELEGRAM,
    }
    kind = channel.get(ChannelKind(community.channel))
    if kind is None:
        return None
    return (
        ChannelIdentity.objects.filter(member=member, channel=kind)
        .order_by("id")
        .values_list("external_id", flat=True)
        .first()
    )


def mute_member(community: Community, member: Member, until: datetime, *, action_id: int) -> None:
    """Mute the member's active membership until ``until`` (never shortening a longer mute) and, on
    Telegram, enqueue the channel mute. WeCom has no mute API: the mute holds in Siyu's web chat only."""
    CommunityMembership.objects.filter(
        community=community, member=member, status=CommunityMembership.Status.ACTIVE
    ).filter(Q(muted_until__isnull=True) | Q(muted_until__lt=until)).update(muted_until=until)
    if community.channel == ChannelKind.TELEGRAM and community.connector_id and community.external_id:
        user_id = _channel_user_id(community, member)
        if user_id:
            assert community.connector is not None
            outbox.enqueue(
                community.connector,
                "mute",
                {"chat_id": community.external_id, "user_id": user_id, "until": until.isoformat()},
                bucket=f"chat:{community.external_id}",
                idempotency_key=f"moderation:{action_id}:mute",
                community_id=community.pk,
            )


def remove_from_group(
    community: Community, member: Member, *, by: Staff | None, reason: str, key: str
) -> CommunityMembership | None:
    """End the member's stay as *removed* and remove them on the channel: on Telegram by an outbox call,
    on WeCom (no API) by a ``StaffTask`` for the store. ``key`` makes the channel call idempotent."""
    membership = leave_community(community, member, removed=True, by=by, reason=reason)
    if membership is None:
        return None
    user_id = _channel_user_id(community, member)
    if community.channel == ChannelKind.WECOM:
        StaffTask.objects.create(
            store_id=community.store_id,
            community=community,
            kind=StaffTask.Kind.REMOVE_MEMBER,
            title=_("Remove %(name)s from %(group)s")
            % {"name": member_display_name(member), "group": community.name},
            payload={
                "member_id": member.pk,
                "external_userid": user_id or "",
                "chat_id": community.external_id,
                "reason": reason[:200],
            },
        )
    elif (
        community.channel == ChannelKind.TELEGRAM
        and community.connector_id
        and community.external_id
        and user_id
    ):
        assert community.connector is not None
        outbox.enqueue(
            community.connector,
            "remove",
            {"chat_id": community.external_id, "user_id": user_id},
            bucket=f"chat:{community.external_id}",
            idempotency_key=f"{key}:remove",
            community_id=community.pk,
        )
    return membership
