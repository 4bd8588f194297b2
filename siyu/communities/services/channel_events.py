"""What communities does when a channel tells it something (``siyu.channels.hooks``).

Registered in ``CommunitiesConfig.ready``. Every handler runs in the transaction of the channel event that
caused it, so a group change and channels' record of the event commit (or fail and are retried) together.

- a WeCom group seen for the first time becomes the waiting (pending) group staff were asked to create — the
  one of the live code its name comes from, else of the connector's store — or else a newly registered group;
- members joining / leaving a chat join / leave the group (a refused join is logged: the member is in the
  channel's chat whatever Siyu thinks, and the next sync reconciles counts);
- a chat's roster: seated members with an identity on the channel who are not in it have left;
- renamed → the group's name follows; dismissed → archived, everyone in it has left;
- a message in the chat from a known member is stored (and moderated) once per channel message id;
- after any WeCom group change the join ways of the group's live codes are re-synced.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from siyu.channels.connectors.base import ChannelError
from siyu.channels.hooks import (
    GroupDismissed,
    GroupRenamed,
    GroupSeen,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    RosterSeen,
)
from siyu.channels.models import ChannelKind, Connector
from siyu.common.errors import ServiceError
from siyu.communities.models import Community, CommunityMembership, JoinScene, LiveCode, StaffTask
from siyu.communities.models.groups import CHANNEL_HARD_CAP
from siyu.communities.services.joining import join_community, leave_community
from siyu.communities.services.joinways import request_sync_for_community, room_base_name
from siyu.communities.services.posting import record_channel_message
from siyu.members.models import Member
from siyu.members.services.identities import external_ids
from siyu.org.models import Store

logger = logging.getLogger("siyu.communities.channels")


def _community(connector: Connector, chat_id: str) -> Community | None:
    return Community.objects.filter(connector=connector, external_id=chat_id).first()


def _member(member_id: int) -> Member | None:
    return Member.objects.filter(pk=member_id).first()


# --- groups --------------------------------------------------------------------------------------


def on_group_seen(event: GroupSeen) -> bool:
    """Place a WeCom group and keep its owner (``channel_owner``); True when Siyu did not know it before.
    ChannelError (kept on the event, retried) when it belongs to no store."""
    community = _community(event.connector, event.chat_id)
    new = community is None
    if community is None:
        community = _attach_or_register(event.connector, event.chat_id, event.name)
        if community is None:
            raise ChannelError(
                f"no store for new WeCom group {event.chat_id}: set store_code", retryable=False
            )
    if event.owner_userid and community.channel_owner != event.owner_userid:
        # The owner sends the group's mass messages; WeCom may transfer a group to another owner.
        Community.objects.filter(pk=community.pk).update(channel_owner=event.owner_userid[:64])
        community.channel_owner = event.owner_userid[:64]
    request_sync_for_community(community)
    return new


def on_group_renamed(event: GroupRenamed) -> None:
    if event.name:
        Community.objects.filter(connector=event.connector, external_id=event.chat_id).update(
            name=event.name[:80]
        )


def on_group_dismissed(event: GroupDismissed) -> None:
    """Archive the group; everyone in it has left."""
    with transaction.atomic():
        community = (
            Community.objects.select_for_update()
            .filter(connector=event.connector, external_id=event.chat_id)
            .first()
        )
        if community is None:
            return
        for membership in CommunityMembership.objects.filter(
            community=community, status=CommunityMembership.Status.ACTIVE, member__isnull=False
        ).select_related("member"):
            assert membership.member is not None
            leave_community(community, membership.member, reason="group dismissed on WeCom")
        community.status = Community.Status.ARCHIVED
        community.save(update_fields=["status"])
        request_sync_for_community(community)


def _open_pending(community: Community, chat_id: str, name: str) -> Community:
    community.external_id = chat_id
    community.status = Community.Status.OPEN
    community.save(update_fields=["external_id", "status"])
    StaffTask.objects.filter(
        community=community, kind=StaffTask.Kind.CREATE_GROUP, status=StaffTask.Status.OPEN
    ).update(status=StaffTask.Status.DONE, done_at=timezone.now())
    logger.info("WeCom group %s (%s) is Siyu group %s", chat_id, name, community.pk)
    return community


def _code_for_name(connector: Connector, name: str) -> LiveCode | None:
    # Groups WeCom auto-creates from a join way are named room_base_name + n.
    if not name:
        return None
    codes = LiveCode.objects.select_related("store", "template").filter(
        connector=connector, channel=ChannelKind.WECOM
    )
    matches = [c for c in codes if name.startswith(room_base_name(c))]
    return max(matches, key=lambda c: len(room_base_name(c))) if matches else None


def _attach_or_register(connector: Connector, chat_id: str, name: str) -> Community | None:
    pending = Community.objects.select_for_update().filter(
        connector=connector, channel=ChannelKind.WECOM, status=Community.Status.PENDING, external_id=""
    )
    store_code = str((connector.config or {}).get("store_code") or "")
    code = _code_for_name(connector, name)
    if code is not None:
        pending = pending.filter(store_id=code.store_id)
    elif store_code:
        pending = pending.filter(store__code=store_code)
    chosen = pending.filter(name=name).order_by("created_at", "id").first() if name else None
    if chosen is None and code is not None:
        chosen = pending.filter(template_id=code.template_id).order_by("sequence", "id").first()
    if chosen is None:
        chosen = pending.order_by("created_at", "id").first()
    if chosen is not None:
        return _open_pending(chosen, chat_id, name)
    if code is not None:
        return _register(connector, chat_id, name, code.store, code.template)
    store = Store.objects.filter(code=store_code).first() if store_code else None
    if store is None:
        return None
    return _register(connector, chat_id, name, store, None)


def _register(connector: Connector, chat_id: str, name: str, store: Store, template: Any) -> Community:
    hard_cap = CHANNEL_HARD_CAP[ChannelKind.WECOM]
    for _attempt in range(5):
        top = Community.objects.filter(store=store, template=template, channel=ChannelKind.WECOM).aggregate(
            m=Max("sequence")
        )["m"]
        fields: dict[str, Any] = {
            "brand_id": connector.brand_id,
            "store": store,
            "template": template,
            "channel": ChannelKind.WECOM,
            "connector": connector,
            "external_id": chat_id,
            "name": (name or f"WeCom {chat_id[-8:]}")[:80],
            "sequence": (top or 0) + 1,
            "hard_cap": hard_cap,
            "status": Community.Status.OPEN,
        }
        if template is not None:
            fields.update(
                theme=template.theme,
                audience=template.audience,
                recommended_size=min(template.recommended_size, hard_cap),
                rules_text=template.rules_text,
                welcome_template=template.welcome_template,
            )
        try:
            with transaction.atomic():
                return Community.objects.create(**fields)
        except IntegrityError:
            existing = Community.objects.filter(connector=connector, external_id=chat_id).first()
            if existing is not None:
                return existing
    raise ChannelError(f"could not register WeCom group {chat_id}")


# --- people --------------------------------------------------------------------------------------


def on_member_joined(event: MemberJoined) -> bool:
    """Seat the member in the chat's group; True when they are in it now."""
    community = _community(event.connector, event.chat_id)
    member = _member(event.member_id)
    if community is None or member is None:
        return False
    code = (
        LiveCode.objects.filter(pk=event.live_code_id).only("id", "staff_id").first()
        if event.live_code_id
        else None
    )
    try:
        with transaction.atomic():
            join_community(
                community,
                member,
                scene=JoinScene.STORE_QR if code is not None else JoinScene.CHANNEL,
                inviter=code.staff if code is not None else None,
                live_code_id=code.pk if code is not None else None,
            )
    except ServiceError as exc:
        # The member is in the channel's chat whatever Siyu thinks; the next sync reconciles counts.
        logger.warning(
            "%s member %s not seated in group %s: %s", event.connector.kind, member.pk, community.pk, exc
        )
        return False
    return True


def on_member_left(event: MemberLeft) -> None:
    community = _community(event.connector, event.chat_id)
    member = _member(event.member_id)
    if community is None or member is None:
        return
    leave_community(community, member, removed=event.removed, reason=event.reason)


def on_roster_seen(event: RosterSeen) -> None:
    """Members seated in the group with an identity on the channel, none of which is in the chat, left."""
    community = _community(event.connector, event.chat_id)
    if community is None:
        return
    active: Iterable[int] = CommunityMembership.objects.filter(
        community=community, status=CommunityMembership.Status.ACTIVE, member__isnull=False
    ).values_list("member_id", flat=True)
    for member_id, ids in sorted(external_ids(active, event.channel).items()):
        if ids & event.present:
            continue
        member = _member(member_id)
        if member is not None:
            leave_community(community, member, removed=event.removed, reason=event.channel)


def on_message_received(event: MessageReceived) -> None:
    community = _community(event.connector, event.chat_id)
    member = _member(event.member_id)
    if community is None or member is None:
        return
    record_channel_message(community, member, text=event.text, external_id=event.external_id)


def communities_in_stores(store_ids: frozenset[int]) -> Iterable[int]:
    """``channels.hooks.communities_in_stores`` handler (a subquery of community ids)."""
    return Community.objects.filter(store_id__in=store_ids).values_list("id", flat=True)
