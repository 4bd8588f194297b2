"""Delivering a group's posts to its channel: a message stored in Siyu is queued in the outbox for the
group's WeCom robot or Telegram chat, in the transaction that stored it.

Used by the robot (``robot.post_to_group``, announcements) and by staff posts (``posting.staff_post``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from siyu.channels.models import ChannelKind, OutboxMessage
from siyu.channels.services import outbox
from siyu.communities.models import Community, Message

logger = logging.getLogger("siyu.communities.robot")


def channel_bucket(community: Community) -> str:
    """The outbox rate-limit bucket of a group's posts: one WeCom robot, or one Telegram chat."""
    connector = community.connector
    if connector is not None and connector.kind == ChannelKind.WECOM:
        return f"robot:{connector.pk}"
    return f"chat:{community.external_id}"


def deliver_to_channel(
    community: Community, message: Message, content: dict[str, Any]
) -> OutboxMessage | None:
    """Queue ``content`` (one of text / markdown / card / image_b64) for the group's channel, in the caller's
    transaction. Returns the outbox row, or None for web groups (the web chat is the channel) and for groups
    not yet created on their channel (no chat to post to; logged)."""
    connector = community.connector
    if connector is None or community.channel == ChannelKind.WEB:
        return None
    if not community.external_id:
        logger.warning("Group %s has no channel chat yet; message %s stays in Siyu", community.pk, message.pk)
        return None
    if "card" in content:
        content = {**content, "card": _absolute_card(content["card"], message)}
    return outbox.enqueue(
        connector,
        "post",
        {"chat_id": community.external_id, **content},
        bucket=channel_bucket(community),
        idempotency_key=f"message:{message.pk}",
        community_id=community.pk,
    )


def _absolute_card(card: dict[str, Any], message: Message) -> dict[str, Any]:
    """WeCom and Telegram open card links outside Siyu: links within Siyu ("/h5/…") get the site's public
    address (``SIYU_PUBLIC_URL``). Without it they are sent as they are, and a warning says so."""
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    card = dict(card)
    for field in ("url", "image_url"):
        value = str(card.get(field) or "")
        if value.startswith("/") and not value.startswith("//"):
            if base:
                card[field] = base + value
            else:
                logger.warning(
                    "SIYU_PUBLIC_URL is not set: message %s links to %s in its channel", message.pk, value
                )
    return card
