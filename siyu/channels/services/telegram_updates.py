"""Telegram webhook updates: secret check, once-per-``update_id`` storage, and what each update changes.

- ``message`` in a known group from a known member → ``record_channel_message`` (moderated there);
  ``new_chat_members`` / ``left_chat_member`` in a message → join / leave;
- ``chat_member`` (the bot is admin and asked for it in ``allowed_updates``) → join on member/admin/creator
  (or restricted but still a member), leave on left, removal on kicked.

Groups are matched by ``Community.external_id`` = chat id under the connector; people by ChannelIdentity
(channel "telegram", external_id = Telegram user id). Unknown chats and people are ignored.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.channels.models import Connector, InboundEvent
from siyu.common.errors import ServiceError
from siyu.communities.models import Community, JoinScene
from siyu.communities.services.joining import join_community, leave_community
from siyu.members.models import ChannelIdentity, Member

logger = logging.getLogger("siyu.channels.telegram")

IN_GROUP = {"creator", "administrator", "member"}


def secret_ok(connector: Connector, header_value: str | None) -> bool:
    """Constant-time check of ``X-Telegram-Bot-Api-Secret-Token``; a connector without a secret accepts
    nothing (every webhook must be authenticated)."""
    expected = str((connector.config or {}).get("webhook_secret") or "")
    if not expected or header_value is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), header_value.encode("utf-8"))


def receive_update(connector: Connector, update: dict[str, Any]) -> InboundEvent | None:
    """Store an update once per ``update_id``; None for a redelivery. ValueError when malformed."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ValueError("update_id must be an integer")
    kind = next((k for k in update if k != "update_id"), "unknown")[:64]
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(
                connector=connector, dedup_key=f"update:{update_id}", kind=kind, payload=update
            )
    except IntegrityError:
        return None


def process_update(row: InboundEvent) -> bool:
    """Apply one stored update; errors are kept on the row. Returns whether it was applied."""
    try:
        with transaction.atomic():
            handle_update(row.connector, row.payload)
    except Exception as exc:
        InboundEvent.objects.filter(pk=row.pk).update(error=f"{exc.__class__.__name__}: {exc}"[:2000])
        logger.exception("Telegram update %s failed", row.pk)
        return False
    InboundEvent.objects.filter(pk=row.pk).update(processed_at=timezone.now(), error="")
    return True


# Personal invite links are named "siyu-m<member id>" by siyu.communities.services.entry.
INVITE_PREFIX = "siyu-m"


def _community(connector: Connector, chat: dict[str, Any] | None) -> Community | None:
    if not chat or chat.get("id") is None:
        return None
    return Community.objects.filter(connector=connector, external_id=str(chat["id"])).first()


def _member(user: dict[str, Any] | None, brand_id: int) -> Member | None:
    if not user or user.get("id") is None or user.get("is_bot"):
        return None
    ident = (
        ChannelIdentity.objects.select_related("member")
        .filter(channel=ChannelIdentity.Channel.TELEGRAM, external_id=str(user["id"]))
        .first()
    )
    if ident is None or ident.member.erased_at is not None or ident.member.brand_id != brand_id:
        return None
    return ident.member


def _member_from_invite(
    invite: dict[str, Any] | None, user: dict[str, Any] | None, brand_id: int
) -> Member | None:
    """A member who joined with the personal invite link Siyu made for them (name ``siyu-m<member id>``,
    see ``siyu.communities.services.entry``): link their Telegram user id to them, once."""
    name = str((invite or {}).get("name") or "")
    if not name.startswith(INVITE_PREFIX) or not name[len(INVITE_PREFIX) :].isdigit():
        return None
    if not user or user.get("id") is None or user.get("is_bot"):
        return None
    member = Member.objects.filter(
        pk=int(name[len(INVITE_PREFIX) :]), brand_id=brand_id, erased_at__isnull=True
    ).first()
    if member is None:
        return None
    try:
        with transaction.atomic():
            ChannelIdentity.objects.create(
                member=member, channel=ChannelIdentity.Channel.TELEGRAM, external_id=str(user["id"])
            )
    except IntegrityError:
        # The Telegram account already belongs to someone: trust the existing link, not the link name.
        return _member(user, brand_id)
    return member


def _join(community: Community, member: Member) -> None:
    try:
        with transaction.atomic():
            join_community(community, member, scene=JoinScene.CHANNEL)
    except ServiceError as exc:
        logger.warning("Telegram member %s not seated in group %s: %s", member.pk, community.pk, exc)


def handle_update(connector: Connector, update: dict[str, Any]) -> None:
    """Apply one update (see the module docstring)."""
    brand_id = connector.brand_id
    message = update.get("message")
    if isinstance(message, dict):
        community = _community(connector, message.get("chat"))
        if community is None:
            return
        for user in message.get("new_chat_members") or []:
            member = _member(user, brand_id)
            if member is not None:
                _join(community, member)
        left = _member(message.get("left_chat_member"), brand_id)
        if left is not None:
            leave_community(community, left, reason="telegram")
        text = message.get("text")
        sender = _member(message.get("from"), brand_id)
        if text and sender is not None:
            from siyu.communities.services.posting import record_channel_message

            external_id = f"{message['chat']['id']}:{message['message_id']}"
            record_channel_message(community, sender, text=str(text), external_id=external_id)
        return
    change = update.get("chat_member")
    if isinstance(change, dict):
        community = _community(connector, change.get("chat"))
        new = change.get("new_chat_member") or {}
        member = _member(new.get("user"), brand_id) or _member_from_invite(
            change.get("invite_link"), new.get("user"), brand_id
        )
        if community is None or member is None:
            return
        status = new.get("status")
        if status in IN_GROUP or (status == "restricted" and new.get("is_member")):
            _join(community, member)
        elif status in ("left", "kicked") or status == "restricted":
            leave_community(community, member, removed=status == "kicked", reason="telegram")
