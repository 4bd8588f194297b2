"""communities: templates and web groups through the matrix service; plain group and membership rows where
a test sets up a state directly; members joining and posting through the services."""

from __future__ import annotations

from typing import Any

from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models import Community, CommunityMembership, GroupTemplate
from siyu.communities.models.messages import Message
from siyu.communities.services.joining import join_community
from siyu.communities.services.matrix import create_group_template, instantiate_template
from siyu.communities.services.posting import post_member_message
from siyu.members.models import Member
from siyu.org.models import Staff, Store


def make_template(staff: Staff, **data: Any) -> GroupTemplate:
    """An HQ group template (宝妈群, theme mom, no entry threshold unless given)."""
    return create_group_template(staff, {"name": "宝妈群", "base_name": "宝妈群", "theme": "mom", **data})


def open_web_group(staff: Staff, store: Store, template: GroupTemplate) -> Community:
    """A web group of ``template`` in ``store``, opened through the matrix service."""
    return instantiate_template(staff, store_id=store.pk, template_id=template.pk)[0]


def make_group(
    store: Store,
    *,
    channel: str = ChannelKind.WEB,
    connector: Connector | None = None,
    external_id: str = "",
    name: str = "宝妈群1",
    **extra: Any,
) -> Community:
    """A plain group row of ``store`` (no template, no audit); the channel's usual hard cap."""
    return Community.objects.create(
        brand=store.brand,
        store=store,
        channel=channel,
        connector=connector,
        external_id=external_id,
        name=name,
        hard_cap=500 if channel == ChannelKind.WECOM else 2000,
        **extra,
    )


def in_group(member: Member, group: Community) -> Member:
    """A plain active membership row (no join checks, no count, no event); returns the member."""
    CommunityMembership.objects.create(community=group, member=member)
    return member


def join(group: Community, member: Member, scene: str = "store_qr") -> CommunityMembership:
    """The member joins through the joining service (checks, seat count, event)."""
    return join_community(group, member, scene=scene)


def post(group: Community, member: Member, text: str = "大家好") -> Message:
    """A member's text message posted through the posting service (moderated like any other)."""
    return post_member_message(group, member, text=text)
