"""How a member who is seated in a group by Siyu actually gets into it on the group's channel.

Joining through a live code gives the member a membership in Siyu; for the built-in web channel that is
all it takes. WeCom and Telegram groups live in another app, so the member needs a way in there:

- WeCom: the QR code of the live code's join way (群活码), which WeCom routes to a group with room. There is
  no API to add an external contact to a customer group, so scanning it is the only way in.
- Telegram: a personal invite link the bot creates for the member, valid for one person and about a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.telegram import INVITE_NAME_MAX, TelegramConnector
from siyu.channels.models import ChannelKind, Connector
from siyu.channels.services import wecom_joinway
from siyu.channels.services.telegram_updates import INVITE_PREFIX
from siyu.common.errors import ChannelUnavailable, NotFound
from siyu.communities.models import Community, CommunityMembership, LiveCode
from siyu.communities.services.joining import active_membership
from siyu.members.models import Member

logger = logging.getLogger("siyu.communities")

WEB = "web"
WECOM_QR = "wecom_qr"
TELEGRAM_LINK = "telegram_link"
PENDING = "pending"

# A Telegram invite link is valid this long; a cached one is handed out only while it has at least
# INVITE_MARGIN left, so a member never gets a link that dies while they are switching apps.
INVITE_LIFETIME = timedelta(hours=24)
INVITE_MARGIN = timedelta(minutes=10)
INVITE_CACHE_PREFIX = "siyu:entry:tg-invite:"


@dataclass(frozen=True)
class Entry:
    """The way into one group for one member.

    ``kind`` is "web" (``url`` = the chat page), "wecom_qr" (``qr_image_url`` = WeCom's join-way QR, also in
    ``url``), "telegram_link" (``url`` = a single-use invite link, valid until ``expires_at``) or "pending"
    (nothing to open yet; ``instructions`` say why and what to do).
    """

    kind: str
    url: str = ""
    qr_image_url: str = ""
    instructions: str = ""
    expires_at: datetime | None = None


def member_group(community_id: int, member: Member) -> tuple[Community, CommunityMembership]:
    """The group ``community_id`` and ``member``'s active membership in it.

    Raises NotFound when the group does not exist, is archived, or the member (or an erased member) is not
    in it: to anyone else a group looks like it does not exist.
    """
    community = (
        Community.objects.select_related("store", "template", "connector").filter(pk=community_id).first()
    )
    if community is None or community.status == Community.Status.ARCHIVED or member.erased_at is not None:
        raise NotFound(_("No such group."), field="community")
    membership = active_membership(community, member)
    if membership is None:
        raise NotFound(_("No such group."), field="community")
    return community, membership


def channel_entry(community: Community, member: Member) -> Entry:
    """How ``member`` gets into ``community`` on its channel (see ``Entry``).

    Guarantees: only for an active member of a group that is not archived (NotFound otherwise); a group
    staff are still creating on the channel answers "pending"; WeCom answers the live code's join-way QR, or
    "pending" after queueing one join-way sync (outbox ``join_way_sync``, not duplicated while one waits)
    when WeCom has not given us the QR yet; Telegram answers one single-use invite link per membership,
    reused from the cache until shortly before it expires, and raises ChannelUnavailable when Telegram
    refuses or cannot be reached (nothing is stored then).
    """
    if community.status == Community.Status.ARCHIVED or member.erased_at is not None:
        raise NotFound(_("No such group."), field="community")
    membership = active_membership(community, member)
    if membership is None:
        raise NotFound(_("No such group."), field="community")
    if community.channel == ChannelKind.WEB:
        return Entry(kind=WEB, url=reverse("h5:chat", args=[community.pk]))
    if community.status == Community.Status.PENDING:
        return _pending(
            _("The store is still creating this group. Please come back in a little while and try again.")
        )
    if community.channel == ChannelKind.WECOM:
        return _wecom_entry(community, membership)
    if community.channel == ChannelKind.TELEGRAM:
        return _telegram_entry(community, membership)
    return _pending(_("Please ask the store's staff how to join this group."))


def _pending(instructions: str) -> Entry:
    return Entry(kind=PENDING, instructions=instructions)


# --- WeCom --------------------------------------------------------------------------------------


def _wecom_live_code(community: Community, membership: CommunityMembership) -> LiveCode | None:
    codes = LiveCode.objects.select_related("connector").filter(
        channel=ChannelKind.WECOM, active=True, connector__isnull=False
    )
    if membership.live_code_id is not None:
        code = codes.filter(pk=membership.live_code_id).first()
        if code is not None:
            return code
    if community.connector_id is None or community.template_id is None:
        return None
    # Seated without a live code (added by staff, or the code was retired): any code of the group's set
    # leads into the same groups. Store-wide codes first, so a staff member's own code is not credited.
    return (
        codes.filter(
            store_id=community.store_id,
            template_id=community.template_id,
            connector_id=community.connector_id,
        )
        .order_by(F("staff_id").asc(nulls_first=True), "id")
        .first()
    )


def _wecom_entry(community: Community, membership: CommunityMembership) -> Entry:
    code = _wecom_live_code(community, membership)
    if code is None or code.connector is None:
        return _pending(_("Please ask the store's staff to add you to this WeCom group."))
    qr = wecom_joinway.join_way_qr(code.pk)
    if qr:
        return Entry(
            kind=WECOM_QR,
            url=qr,
            qr_image_url=qr,
            instructions=_("Long-press to recognise the QR code and join the group."),
        )
    with transaction.atomic():
        wecom_joinway.request_sync(code.connector, code.pk)
    return _pending(_("The store is preparing the group QR code. Please try again in a minute."))


# --- Telegram -----------------------------------------------------------------------------------


def invite_cache_key(membership_id: int) -> str:
    return f"{INVITE_CACHE_PREFIX}{membership_id}"


def _chat_id(external_id: str) -> int | str:
    return int(external_id) if external_id.lstrip("-").isdigit() else external_id


def _telegram_entry(community: Community, membership: CommunityMembership) -> Entry:
    connector: Connector | None = community.connector
    if connector is None or connector.kind != ChannelKind.TELEGRAM or not community.external_id:
        return _pending(
            _("The store is still creating this group. Please come back in a little while and try again.")
        )
    key = invite_cache_key(membership.pk)
    now = timezone.now()
    cached: Any = cache.get(key)
    usable_until = (now + INVITE_MARGIN).timestamp()
    if isinstance(cached, dict) and cached.get("url") and int(cached.get("expires") or 0) > usable_until:
        return _telegram_link(str(cached["url"]), int(cached["expires"]))

    expires = int((now + INVITE_LIFETIME).timestamp())
    # Called directly, not through the outbox: the member is looking at the page waiting for the link, so a
    # queued call would leave them with nothing to tap. The call is one bounded request (the connector's
    # HTTP timeout), made outside any transaction, and a failure changes nothing in Siyu.
    try:
        link = TelegramConnector(connector).create_chat_invite_link(
            _chat_id(community.external_id),
            name=f"{INVITE_PREFIX}{membership.member_id}"[:INVITE_NAME_MAX],
            member_limit=1,
            expire_date=expires,
        )
    except ChannelError as exc:
        logger.warning("Telegram invite link for community %s failed: %s", community.pk, exc)
        raise _telegram_unavailable() from exc
    url = str(link.get("invite_link") or "")
    if not url:
        raise _telegram_unavailable()
    expires = int(link.get("expire_date") or expires)
    # Kept per membership (a new stay in the group gets a new link) until the margin before expiry. Two
    # requests racing here may each create a link; both are single-use and expire, so that is harmless.
    ttl = expires - int(now.timestamp()) - int(INVITE_MARGIN.total_seconds())
    if ttl > 0:
        cache.set(key, {"url": url, "expires": expires}, ttl)
    return _telegram_link(url, expires)


def _telegram_unavailable() -> ChannelUnavailable:
    return ChannelUnavailable(
        _("Telegram did not give us your invite link just now. Please try again in a minute."),
        field="community",
    )


def _telegram_link(url: str, expires: int) -> Entry:
    return Entry(
        kind=TELEGRAM_LINK,
        url=url,
        instructions=_(
            "Tap the button to open Telegram and join the group. The link works once, for you only."
        ),
        expires_at=datetime.fromtimestamp(expires, tz=timezone.get_current_timezone()),
    )
