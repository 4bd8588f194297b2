"""The group robot: welcome on join, announcements, scheduled posts, and ``post_to_group`` for other
capabilities (campaigns, content, automation).

Every robot post is stored as a ``Message`` (shown in the web chat with a robot badge) and, for WeCom and
Telegram groups, sent to the channel through the outbox in the same transaction — so a post is either stored
and queued together or not at all, and the outbox retries the channel call with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.channels.connectors.base import Capability
from siyu.channels.models import ChannelKind
from siyu.channels.services import outbox
from siyu.common.errors import Conflict, NotFound, ServiceError, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, GroupDelivery, Message, ScheduledPost
from siyu.communities.services.dispatch import channel_bucket, dispatch
from siyu.communities.services.messages import (
    MAX_TEXT,
    announce_message,
    attach_image,
    clean_image,
    discard_image,
    display_name,
)
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, require_staff
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.communities.robot")

MAX_ROBOT_TEXT = 4000  # WeCom robot markdown takes 4096 bytes; Telegram 4096 characters
MAX_SCHEDULE_AHEAD = timedelta(days=90)
SCHEDULED_BATCH = 200
_PLACEHOLDER_RE = re.compile(r"\{(name|store|group|rules)\}")
_URL_RE = re.compile(r"(https?://[^\s]+|/[^\s]*)")


# --- posting ---------------------------------------------------------------------------------------


def _robot_client_id(idempotency_key: str) -> str:
    key = idempotency_key.strip()
    if not key or len(key) > 200:
        raise ValidationFailed(_("Invalid idempotency key."), field="idempotency_key")
    if len(key) > 90:
        key = hashlib.sha256(key.encode()).hexdigest()
    return f"robot:{key}"


def _clean_card(card: dict[str, Any]) -> dict[str, str]:
    title = str(card.get("title") or "").strip()
    description = str(card.get("description") or "").strip()
    url = str(card.get("url") or "").strip()
    image_url = str(card.get("image_url") or "").strip()
    if not title or len(title) > 128:
        raise ValidationFailed(_("A card needs a title of at most 128 characters."), field="card")
    if len(description) > 512:
        raise ValidationFailed(_("A card's description can be at most 512 characters."), field="card")
    # Only web links and links within Siyu: a card must never carry javascript: or data: URLs.
    for value in (url, image_url):
        if value and (len(value) > 1000 or not _URL_RE.fullmatch(value) or value.startswith("//")):
            raise ValidationFailed(_("A card link must start with https:// or /."), field="card")
    if not url:
        raise ValidationFailed(_("A card needs a link."), field="card")
    # An optional short call to action shown as a button in the web chat (e.g. a red packet's "抢").
    button = str(card.get("button") or "").strip()
    if len(button) > 8:
        raise ValidationFailed(_("A card's button can be at most 8 characters."), field="card")
    cleaned = {"title": title, "description": description, "url": url, "image_url": image_url}
    if button:
        cleaned["button"] = button
    return cleaned


def post_to_group(
    community: Community,
    *,
    text: str = "",
    markdown: str = "",
    card: dict[str, Any] | None = None,
    image: bytes | None = None,
    idempotency_key: str | None = None,
    delivery_kind: str = GroupDelivery.Kind.OTHER,
    can_wait: bool = True,
    expires_at: datetime | None = None,
) -> Message:
    """The robot posts exactly one of text, markdown, a card or a picture in ``community``.

    Guarantees: the message is stored (sender ``robot``) and announced live after commit; for WeCom/Telegram
    groups the post is dispatched in the same transaction by the path the channel allows
    (``dispatch.dispatch``: ``delivery_kind`` names it, ``can_wait`` says whether it may wait for the owner's
    mass message, ``expires_at`` when it is no longer worth sending); with ``idempotency_key`` a repeated
    call returns the first message and queues nothing more; an archived group refuses (Conflict); invalid
    content raises ValidationFailed. Nothing is stored when it raises.
    """
    text = (text or "").strip()
    markdown = (markdown or "").strip()
    given = [bool(text), bool(markdown), card is not None, image is not None]
    if sum(given) != 1:
        raise ValidationFailed(_("Post exactly one of text, markdown, a card or a picture."), field="text")
    for value, field in ((text, "text"), (markdown, "markdown")):
        if len(value) > MAX_ROBOT_TEXT:
            raise ValidationFailed(
                _("A message can be at most %(max)s characters.") % {"max": MAX_ROBOT_TEXT}, field=field
            )
    clean_card = _clean_card(card) if card is not None else {}
    cleaned = clean_image(image) if image is not None else None
    client_id = _robot_client_id(idempotency_key) if idempotency_key is not None else ""
    if client_id:
        existing = Message.objects.filter(community=community, client_msg_id=client_id).first()
        if existing is not None:
            return existing
    if community.status == Community.Status.ARCHIVED:
        raise Conflict(_("This group is closed."), field="community")

    content: dict[str, Any]
    if text:
        kind, content = Message.Kind.TEXT, {"text": text}
    elif markdown:
        kind, content = Message.Kind.MARKDOWN, {"markdown": markdown}
    elif clean_card:
        kind, content = Message.Kind.CARD, {"card": clean_card}
    else:
        assert cleaned is not None
        kind = Message.Kind.IMAGE
        content = {"image_b64": base64.b64encode(cleaned.content).decode(), "mime": cleaned.mime}
    message = Message(
        community=community,
        sender_kind=Message.SenderKind.ROBOT,
        kind=kind,
        text=text or markdown,
        card=clean_card,
        client_msg_id=client_id,
    )
    if cleaned is not None:
        attach_image(message, cleaned)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    message.save()
            except IntegrityError:
                existing = Message.objects.filter(community=community, client_msg_id=client_id).first()
                if not client_id or existing is None:
                    raise
                if cleaned is not None:
                    discard_image(message)
                return existing
            dispatch(
                community,
                content,
                kind=delivery_kind,
                key=f"message:{message.pk}",
                message=message,
                can_wait=can_wait,
                expires_at=expires_at,
            )
            announce_message(message)
    except BaseException:
        if cleaned is not None and not Message.objects.filter(pk=message.pk).exists():
            discard_image(message)
        raise
    return message


# --- welcome -------------------------------------------------------------------------------------------


def render_welcome(template: str, *, name: str, store: str, group: str, rules: str) -> str:
    """Fill ``{name}``, ``{store}``, ``{group}`` and ``{rules}`` in a welcome template.

    Only these four placeholders are replaced — by plain substitution, not ``str.format``, so a template
    written by staff can neither fail on other braces nor reach into Python objects.
    """
    values = {"name": name, "store": store, "group": group, "rules": rules}
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], template).strip()


def default_welcome_template(*, with_rules: bool) -> str:
    """The welcome used when neither the group nor its template has one, in the brand's language."""
    with translation.override(settings.LANGUAGE_CODE):
        if with_rules:
            return _(
                "Welcome to {group}, {name}! This is the member group of {store}: offers, news and "
                "friendly chat.\nPlease read the group rules:\n{rules}"
            )
        return _(
            "Welcome to {group}, {name}! This is the member group of {store}: offers, news and friendly chat."
        )


def welcome_text(membership: CommunityMembership) -> str:
    """The welcome message for one membership, from the group's (or its template's) welcome template."""
    community = membership.community
    template_obj = community.template
    rules = (community.rules_text or (template_obj.rules_text if template_obj else "")).strip()
    template = (community.welcome_template or (template_obj.welcome_template if template_obj else "")).strip()
    if not template:
        template = default_welcome_template(with_rules=bool(rules))
    return render_welcome(
        template,
        name=display_name(membership.member),
        store=community.store.name,
        group=community.name,
        rules=rules,
    )


def send_welcome(membership_id: int) -> None:
    """Post the welcome for one membership; at most once per membership (idempotency key
    ``welcome:<membership id>``), and nothing for a membership that is no longer active or for staff.

    Called after the join commits (``siyu.communities.services.joining``); a refused post (e.g. the group
    was archived meanwhile) is logged, not raised, since the join itself succeeded.
    """
    membership = (
        CommunityMembership.objects.select_related("community", "community__store", "community__template")
        .select_related("community__connector", "member")
        .filter(pk=membership_id)
        .first()
    )
    if membership is None or membership.member is None:
        return
    if membership.status != CommunityMembership.Status.ACTIVE:
        return
    text = welcome_text(membership)[:MAX_ROBOT_TEXT]
    try:
        post_to_group(
            membership.community,
            text=text,
            idempotency_key=f"welcome:{membership.pk}",
            delivery_kind=GroupDelivery.Kind.WELCOME,
            can_wait=False,
        )
    except ServiceError as exc:
        logger.warning("Welcome for membership %s not posted: %s", membership.pk, exc.message)


# --- announcements ----------------------------------------------------------------------------------


def _community_for_staff(staff: Staff, community_id: int) -> Community:
    community = Community.objects.select_related("store", "connector").filter(pk=community_id).first()
    if community is None or not can_access_store(staff, community.store_id):
        raise NotFound(_("No such group."), field="community")
    return community


def announce(community: Community, text: str, *, by: Staff | None) -> Message:
    """Set the group's announcement and have the robot post it.

    Guarantees: ``by`` (when given) must serve the group's store or be HQ (NotFound otherwise); text is
    1–2000 characters; the announcement field, the robot's post (and its outbox call) and the audit entry
    ``community.announce`` are written together; channels that support announcements also get one.
    """
    if by is not None:
        require_staff(by)
        if not can_access_store(by, community.store_id):
            raise NotFound(_("No such group."), field="community")
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Write the announcement first."), field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            _("A message can be at most %(max)s characters.") % {"max": MAX_TEXT}, field="text"
        )
    if community.status == Community.Status.ARCHIVED:
        raise Conflict(_("This group is closed."), field="community")
    with transaction.atomic():
        Community.objects.filter(pk=community.pk).update(announcement=text)
        community.announcement = text
        heading = _("Announcement")
        message = post_to_group(
            community, text=f"📢 {heading}\n{text}", delivery_kind=GroupDelivery.Kind.ANNOUNCEMENT
        )
        _channel_announce(community, message, text)
        if by is not None:
            record_audit(
                by,
                "community.announce",
                target_type="community",
                target_id=community.pk,
                store_id=community.store_id,
                detail={"message_id": message.pk},
            )
    return message


def _channel_announce(community: Community, message: Message, text: str) -> None:
    """Also set the group notice where the channel has an API for it (Telegram: the pinned message). The post
    itself went through the dispatcher above; WeCom declares no ``ANNOUNCE`` (no notice API), so nothing more
    happens there."""
    connector = community.connector
    if connector is None or community.channel == ChannelKind.WEB or not community.external_id:
        return
    if not outbox.get_connector(connector).can(Capability.ANNOUNCE):
        return  # WeCom customer groups have no notice API: the dispatched post is the announcement
    outbox.enqueue(
        connector,
        "announce",
        {"chat_id": community.external_id, "text": text},
        bucket=channel_bucket(community),
        idempotency_key=f"announce:{message.pk}",
        community_id=community.pk,
    )


# --- scheduled posts -----------------------------------------------------------------------------------


def schedule_post(
    staff: Staff, community_id: int, text: str, run_at: datetime, *, markdown: str = ""
) -> ScheduledPost:
    """Schedule the robot to post ``text`` (or ``markdown``) in a group at ``run_at``.

    Guarantees: staff must serve the group's store or be HQ (NotFound otherwise); exactly one of text and
    markdown, at most 2000 characters; ``run_at`` must be aware, in the future and at most 90 days ahead;
    audited as ``community.schedule_post``. ``run_due_scheduled_posts`` posts it once.
    """
    require_staff(staff)
    community = _community_for_staff(staff, community_id)
    text = (text or "").strip()
    markdown = (markdown or "").strip()
    if bool(text) == bool(markdown):
        raise ValidationFailed(_("Write the message first."), field="text")
    if len(text or markdown) > MAX_TEXT:
        raise ValidationFailed(
            _("A message can be at most %(max)s characters.") % {"max": MAX_TEXT}, field="text"
        )
    if not isinstance(run_at, datetime) or timezone.is_naive(run_at):
        raise ValidationFailed(_("Choose a date and time."), field="run_at")
    now = timezone.now()
    if run_at <= now:
        raise ValidationFailed(_("Choose a time in the future."), field="run_at")
    if run_at > now + MAX_SCHEDULE_AHEAD:
        raise ValidationFailed(_("Posts can be scheduled at most 90 days ahead."), field="run_at")
    if community.status == Community.Status.ARCHIVED:
        raise Conflict(_("This group is closed."), field="community")
    with transaction.atomic():
        post = ScheduledPost.objects.create(
            community=community, text=text, markdown=markdown, run_at=run_at, created_by=staff
        )
        record_audit(
            staff,
            "community.schedule_post",
            target_type="community",
            target_id=community.pk,
            store_id=community.store_id,
            detail={"scheduled_post_id": post.pk, "run_at": run_at.isoformat()},
        )
    return post


def run_due_scheduled_posts(now: datetime | None = None) -> int:
    """Post every scheduled post due at ``now``; return how many were posted.

    Safe to run concurrently: each row is claimed by one conditional UPDATE (``sent_at`` from NULL) in the
    transaction that posts it, so two runners never post the same row, and a runner that crashes midway
    leaves the row unclaimed for the next run. A post the robot refuses (archived group, invalid content) is
    marked sent with ``error`` and no message, and is not retried.
    """
    now = now or timezone.now()
    due = list(
        ScheduledPost.objects.filter(sent_at__isnull=True, run_at__lte=now)
        .order_by("run_at", "id")
        .values_list("id", flat=True)[:SCHEDULED_BATCH]
    )
    posted = 0
    for post_id in due:
        try:
            with transaction.atomic():
                claimed = ScheduledPost.objects.filter(pk=post_id, sent_at__isnull=True).update(
                    sent_at=timezone.now()
                )
                if not claimed:
                    continue  # another runner took it
                post = ScheduledPost.objects.select_related("community", "community__connector").get(
                    pk=post_id
                )
                message = post_to_group(
                    post.community,
                    text=post.text,
                    markdown=post.markdown,
                    idempotency_key=f"scheduled:{post.pk}",
                    delivery_kind=GroupDelivery.Kind.SCHEDULED,
                )
                ScheduledPost.objects.filter(pk=post_id).update(message=message)
                posted += 1
        except ServiceError as exc:
            ScheduledPost.objects.filter(pk=post_id, sent_at__isnull=True).update(
                sent_at=timezone.now(), error=str(exc.message)[:1000]
            )
            logger.warning("Scheduled post %s refused: %s", post_id, exc.message)
    return posted
