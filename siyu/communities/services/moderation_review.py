"""Reviewing a member's message against the group rules, and acting on a breach through the ladder.

Two phases, so no database lock is held while a picture is decoded:

1. ``scan_content`` — before the caller opens its write transaction — looks at the content itself (does the
   picture show a QR code?). It reads nothing from the database and may be slow.
2. ``review_message`` — inside the transaction that stored the message — applies the group's rules to the
   stored message and the scan, so a refusal, its log row and its consequences (mute, removal, the robot's
   notice) commit together with the message or not at all.

See docs/moderation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.communities.models import ModerationAction, ModerationRule
from siyu.communities.models.messages import Message
from siyu.communities.services.blocklist import is_blocked
from siyu.communities.services.moderation_ladder import (
    ALLOWED,
    Verdict,
    offence_count,
    recent_flood_action,
    take_step,
)
from siyu.communities.services.moderation_policy import LADDER_STEPS, EffectivePolicy, effective_policy
from siyu.communities.services.moderation_text import (
    find_contact,
    find_external_link,
    match_keyword,
    normalize_text,
    squeeze,
)
from siyu.communities.services.qr_codes import contains_qr_code

REPEAT_WINDOW = timedelta(minutes=10)
# Short replies ("好的", "收到", "+1", "哈哈哈") are repeated innocently; only longer texts count as repeats.
REPEAT_MIN_LENGTH = 4


@dataclass(frozen=True)
class ContentScan:
    """What the content of a message shows, found before the write transaction (``scan_content``)."""

    has_qr_code: bool = False


NOTHING_FOUND = ContentScan()


def scan_content(*, image: bytes | None) -> ContentScan:
    """Look at a message's picture (the bytes that will be stored) for what the rules need to know.

    Call it before opening the transaction that stores the message: decoding a picture takes tens of
    milliseconds and must not hold the database's write lock.
    """
    return ContentScan(has_qr_code=bool(image) and contains_qr_code(image or b""))


def _allowed_link_hosts() -> list[str]:
    return list(getattr(settings, "SIYU_ALLOWED_LINK_HOSTS", []) or [])


def _check_rules(
    message: Message, scan: ContentScan, policy: EffectivePolicy, now: datetime
) -> tuple[str, str] | None:
    """(rule, reason) of the first rule the message breaks, or None."""
    text = message.text or ""
    if text and policy.forbidden_keywords:
        kw = match_keyword(text, policy.forbidden_keywords)
        if kw:
            return ModerationRule.KEYWORD, _("Forbidden word: %(word)s") % {"word": kw}
    if text and policy.block_contact:
        contact = find_contact(text)
        if contact:
            return ModerationRule.CONTACT, _("Contact details are not allowed in the group.")
    if text and policy.block_links:
        host = find_external_link(text, _allowed_link_hosts())
        if host:
            return ModerationRule.LINK, _("External link: %(host)s") % {"host": host}
    if policy.block_qr_images and message.image and scan.has_qr_code:
        return ModerationRule.QR_IMAGE, _("QR code images are not allowed in the group.")
    own = Message.objects.filter(
        community_id=message.community_id,
        member=message.member,
        sender_kind=Message.SenderKind.MEMBER,
    ).exclude(pk=message.pk)
    norm = squeeze(normalize_text(text))
    if policy.repeat_count >= 2 and len(norm) >= REPEAT_MIN_LENGTH:
        recent = own.filter(created_at__gte=now - REPEAT_WINDOW, created_at__lte=now).values_list(
            "text", flat=True
        )
        same = sum(1 for t in recent if squeeze(normalize_text(t)) == norm)
        if same + 1 >= policy.repeat_count:
            return ModerationRule.REPEAT, _("The same message %(count)s times in 10 minutes.") % {
                "count": same + 1
            }
    if policy.flood_count >= 2:
        since = now - timedelta(seconds=policy.flood_seconds)
        count = own.filter(created_at__gte=since, created_at__lte=now).count() + 1
        if count >= policy.flood_count:
            return ModerationRule.FLOOD, _("%(count)s messages within %(seconds)s seconds.") % {
                "count": count,
                "seconds": policy.flood_seconds,
            }
    return None


def review_message(message: Message, scan: ContentScan) -> Verdict:
    """Apply the group's rules to a stored message (and ``scan``, its content looked at before the
    transaction by ``scan_content``) and act on a breach.

    Guarantees: staff, robot and system messages are always allowed; a member on the brand blocklist is
    removed; otherwise the first broken rule (forbidden word, contact details, external link, QR image,
    repeated content, flood) hides the message and takes the next ladder step — the step is the number of
    the member's un-overridden actions in this group within ``window_days`` (1st → ladder[0], …, staying on
    the last step). Every step is logged as a ``ModerationAction`` pointing at the message. The rest of a
    flood burst already acted on is hidden without another step (logged as ``hide``). Runs in the caller's
    transaction; everything it writes commits or rolls back with the message.
    """
    if message.sender_kind != Message.SenderKind.MEMBER or message.member_id is None:
        return ALLOWED
    community = message.community
    member = message.member
    assert member is not None
    now = message.created_at or timezone.now()
    with transaction.atomic():
        if is_blocked(member):
            return take_step(
                message, community, member, "remove", ModerationRule.BLOCKLIST, _("On the blocklist.")
            )
        policy = effective_policy(community)
        hit = _check_rules(message, scan, policy, now)
        if hit is None:
            return ALLOWED
        rule, reason = hit
        if rule == ModerationRule.FLOOD and recent_flood_action(community, member, policy, now):
            return take_step(
                message, community, member, ModerationAction.Kind.HIDE, rule, reason, policy=policy
            )
        ladder = policy.ladder or LADDER_STEPS
        step = min(offence_count(community, member, policy.window_days, now=now), len(ladder) - 1)
        return take_step(message, community, member, ladder[step], rule, reason, policy=policy)
