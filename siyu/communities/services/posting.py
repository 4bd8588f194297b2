"""Writing messages into groups: a member's post in the built-in web chat, a message a member sent in the
group's WeCom/Telegram chat (mirrored here), and a staff post.

Member messages are moderated: the slow look at a picture (``moderation_review.scan_content``: does it show
a QR code?) runs first, outside any transaction; then the message is stored and reviewed in one transaction
(``moderation_review.review_message``), after the row exists, and may be hidden. Every stored message that
members may see is announced live after its transaction commits.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.channels.models import ChannelKind
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, Message
from siyu.communities.services.dispatch import dispatch
from siyu.communities.services.messages import (
    MAX_TEXT,
    announce_message,
    attach_image,
    clean_image,
    discard_image,
)
from siyu.communities.services.moderation_review import (
    NOTHING_FOUND,
    ContentScan,
    review_message,
    scan_content,
)
from siyu.members.models import Member
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, require_staff
from siyu.org.services.audit import record_audit

_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --- validation helpers ---------------------------------------------------------------------------


def _clean_text(text: str | None, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationFailed(_("Write a message first."), field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            _("A message can be at most %(max)s characters.") % {"max": MAX_TEXT}, field="text"
        )
    return text


def _clean_client_id(client_msg_id: str | None) -> str:
    client_msg_id = (client_msg_id or "").strip()
    if client_msg_id and not _CLIENT_ID_RE.fullmatch(client_msg_id):
        raise ValidationFailed(_("Invalid message id."), field="client_msg_id")
    return client_msg_id


# --- moderation -----------------------------------------------------------------------------------


def _moderate(message: Message, scan: ContentScan) -> None:
    """Run moderation on a stored message; hide it when refused (moderation applies its own action)."""
    verdict = review_message(message, scan)
    message.refresh_from_db(fields=["hidden"])
    if not verdict.allowed and not message.hidden:
        Message.objects.filter(pk=message.pk).update(hidden=True)
        message.hidden = True


def post_member_message(
    community: Community,
    member: Member,
    *,
    text: str = "",
    image: bytes | None = None,
    image_name: str = "",
    client_msg_id: str = "",
) -> Message:
    """Post a member's message (text, a picture, or a picture with a caption) in a web group.

    Guarantees: only an active member of an open web group who is not muted may post (PermissionDenied
    otherwise, nothing stored); text is 1–2000 characters unless a picture is sent; pictures are checked and
    re-encoded (``clean_image``); with ``client_msg_id`` a retry returns the first message instead of posting
    twice; a picture is scanned for a QR code before the transaction opens (no lock is held while it is
    decoded), then moderation reviews the stored message in the same transaction and may hide it (the sender
    gets it back with ``hidden=True``); ``community.message`` is recorded; visible messages are announced live
    after commit. ``image_name`` is accepted for the contract but not used: stored pictures get random names.
    """
    del image_name
    text = _clean_text(text, required=image is None)
    client_msg_id = _clean_client_id(client_msg_id)
    if client_msg_id:
        existing = _existing_by_client_id(community, client_msg_id, member)
        if existing is not None:
            return existing
    cleaned = clean_image(image) if image is not None else None
    # Check first, then write: the picture is looked at before the transaction takes any lock.
    scan = scan_content(image=cleaned.content if cleaned else None)

    message = Message(
        community=community,
        member=member,
        sender_kind=Message.SenderKind.MEMBER,
        kind=Message.Kind.IMAGE if cleaned else Message.Kind.TEXT,
        text=text,
        client_msg_id=client_msg_id,
    )
    if cleaned:
        attach_image(message, cleaned)
    try:
        with transaction.atomic():
            _check_may_post(community, member)
            try:
                with transaction.atomic():
                    message.save()
            except IntegrityError:
                # A concurrent retry with the same client id won the race: hand back its message.
                existing = _existing_by_client_id(community, client_msg_id, member) if client_msg_id else None
                if existing is None:
                    raise
                discard_image(message)
                return existing
            _moderate(message, scan)
            record_event(
                "community.message",
                member_id=member.pk,
                store_id=community.store_id,
                community_id=community.pk,
                payload={"message_id": message.pk, "kind": message.kind, "hidden": message.hidden},
            )
            if not message.hidden:
                announce_message(message)
    except BaseException:
        if message.pk is None or not Message.objects.filter(pk=message.pk).exists():
            discard_image(message)
        raise
    return message


def _existing_by_client_id(community: Community, client_msg_id: str, member: Member) -> Message | None:
    existing = Message.objects.filter(community=community, client_msg_id=client_msg_id).first()
    if existing is not None and existing.member_id != member.pk:
        raise Conflict(_("Invalid message id."), field="client_msg_id")
    return existing


def _check_may_post(community: Community, member: Member) -> None:
    if community.channel != ChannelKind.WEB:
        raise PermissionDenied(_("This group chats in its own app, not here."), field="community")
    if community.status != Community.Status.OPEN:
        raise PermissionDenied(_("This group is closed."), field="community")
    membership = (
        CommunityMembership.objects.select_for_update()
        .filter(community=community, member=member, status=CommunityMembership.Status.ACTIVE)
        .first()
    )
    if membership is None or member.erased_at is not None:
        raise PermissionDenied(_("You are not a member of this group."), field="community", code="not_member")
    if membership.muted_until and membership.muted_until > timezone.now():
        until = timezone.localtime(membership.muted_until).strftime("%Y-%m-%d %H:%M")
        raise PermissionDenied(
            _("You are muted in this group until %(until)s.") % {"until": until}, field="text", code="muted"
        )


def record_channel_message(
    community: Community, member: Member | None, *, text: str, external_id: str
) -> Message:
    """Store a message a member sent in the group's WeCom/Telegram chat, once per ``external_id``.

    Guarantees: idempotent (a redelivered message returns the stored one, nothing recorded twice); the
    channel already delivered it, so membership and mute are not re-checked here, but moderation reviews it
    (and may hide it and act on the channel); ``community.message`` is recorded for a known member.
    """
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationFailed(_("The channel message has no id."), field="external_id")
    if len(external_id) > 128:
        raise ValidationFailed(_("The channel message id is too long."), field="external_id")
    text = (text or "").strip()[: MAX_TEXT * 2]  # the channel decides length; keep storage bounded
    existing = Message.objects.filter(community=community, external_id=external_id).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        message = Message(
            community=community,
            member=member,
            sender_kind=Message.SenderKind.MEMBER if member is not None else Message.SenderKind.SYSTEM,
            kind=Message.Kind.TEXT,
            text=text,
            external_id=external_id,
        )
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            return Message.objects.get(community=community, external_id=external_id)
        _moderate(message, NOTHING_FOUND)  # channel messages are text: nothing to scan
        if member is not None:
            record_event(
                "community.message",
                member_id=member.pk,
                store_id=community.store_id,
                community_id=community.pk,
                payload={"message_id": message.pk, "kind": message.kind, "hidden": message.hidden},
            )
        if not message.hidden:
            announce_message(message)
    return message


def staff_post(staff: Staff, community_id: int, text: str) -> Message:
    """A staff member posts ``text`` in a group as themselves (shown with a staff badge).

    Guarantees: only staff serving the group's store, or HQ, may post (others get NotFound: the group looks
    like it does not exist); text is 1–2000 characters; the group must be open; for WeCom/Telegram groups the
    text is also sent to the channel through the outbox; audited as ``community.staff_post``.
    """
    require_staff(staff)
    text = _clean_text(text, required=True)
    community = _community_for_staff(staff, community_id)
    if community.status != Community.Status.OPEN:
        raise PermissionDenied(_("This group is closed."), field="community")
    with transaction.atomic():
        message = Message.objects.create(
            community=community,
            staff=staff,
            sender_kind=Message.SenderKind.STAFF,
            kind=Message.Kind.TEXT,
            text=text,
        )
        dispatch(
            community,
            {"text": text},
            kind=GroupDelivery.Kind.STAFF_POST,
            key=f"message:{message.pk}",
            message=message,
            can_wait=False,
        )
        record_audit(
            staff,
            "community.staff_post",
            target_type="community",
            target_id=community.pk,
            store_id=community.store_id,
            detail={"message_id": message.pk},
        )
        announce_message(message)
    return message


def _community_for_staff(staff: Staff, community_id: int) -> Community:
    community = Community.objects.select_related("store", "connector").filter(pk=community_id).first()
    if community is None or not can_access_store(staff, community.store_id):
        raise NotFound(_("No such group."), field="community")
    return community
