"""Telegram webhook updates: secret check, once-per-``update_id`` storage, and what each update tells the
apps above (``siyu.channels.hooks``, sent in the transaction that marks the update processed).

- ``message`` with text from a known member → ``message_received`` (communities stores and moderates it);
  ``new_chat_members`` / ``left_chat_member`` in a message → ``member_joined`` / ``member_left``;
- ``chat_member`` (the bot is admin and asked for it in ``allowed_updates``) → joined on
  member/admin/creator (or restricted but still a member), left on left, removed on kicked.

People are known through ``identity_seen`` (channel "telegram", external id = Telegram user id); a user who
joins with the personal invite link Siyu made for a member (named ``siyu-m<member id>``) is claimed for that
member. Chats are matched by the apps above (a chat they do not know is ignored there), as are strangers.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.channels import hooks
from siyu.channels.models import ChannelKind, Connector, InboundEvent

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


def _member(user: dict[str, Any] | None, connector: Connector, claimed: int | None = None) -> int | None:
    """The member id behind a Telegram user (None for bots, strangers and the erased)."""
    if not user or user.get("id") is None or user.get("is_bot"):
        return None
    person = hooks.ChannelUser(
        brand_id=connector.brand_id,
        channel=ChannelKind.TELEGRAM,
        external_id=str(user["id"]),
        claimed_member_id=claimed,
    )
    return hooks.identity_seen.ask(person)


def _claimed(invite: dict[str, Any] | None) -> int | None:
    """The member a personal invite link was made for (name ``siyu-m<member id>``)."""
    name = str((invite or {}).get("name") or "")
    if not name.startswith(INVITE_PREFIX) or not name[len(INVITE_PREFIX) :].isdigit():
        return None
    return int(name[len(INVITE_PREFIX) :])


def _join(connector: Connector, chat_id: str, member_id: int) -> None:
    hooks.member_joined.send(hooks.MemberJoined(connector=connector, chat_id=chat_id, member_id=member_id))


def _leave(connector: Connector, chat_id: str, member_id: int, *, removed: bool = False) -> None:
    left = hooks.MemberLeft(
        connector=connector, chat_id=chat_id, member_id=member_id, removed=removed, reason="telegram"
    )
    hooks.member_left.send(left)


def _chat_id(chat: dict[str, Any] | None) -> str:
    return str(chat["id"]) if chat and chat.get("id") is not None else ""


def handle_update(connector: Connector, update: dict[str, Any]) -> None:
    """Tell the apps above what one update means (see the module docstring)."""
    message = update.get("message")
    if isinstance(message, dict):
        chat_id = _chat_id(message.get("chat"))
        if not chat_id:
            return
        for user in message.get("new_chat_members") or []:
            member_id = _member(user, connector)
            if member_id is not None:
                _join(connector, chat_id, member_id)
        left = _member(message.get("left_chat_member"), connector)
        if left is not None:
            _leave(connector, chat_id, left)
        text = message.get("text")
        sender = _member(message.get("from"), connector) if text else None
        if text and sender is not None:
            received = hooks.MessageReceived(
                connector=connector,
                chat_id=chat_id,
                member_id=sender,
                text=str(text),
                external_id=f"{chat_id}:{message['message_id']}",
            )
            hooks.message_received.send(received)
        return
    change = update.get("chat_member")
    if isinstance(change, dict):
        chat_id = _chat_id(change.get("chat"))
        new = change.get("new_chat_member") or {}
        member_id = _member(new.get("user"), connector, _claimed(change.get("invite_link")))
        if not chat_id or member_id is None:
            return
        status = new.get("status")
        if status in IN_GROUP or (status == "restricted" and new.get("is_member")):
            _join(connector, chat_id, member_id)
        elif status in ("left", "kicked") or status == "restricted":
            _leave(connector, chat_id, member_id, removed=status == "kicked")
