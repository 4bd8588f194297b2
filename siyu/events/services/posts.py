"""The robot's event posts in the groups of the session stores (periodic job ``event-posts``).

- the **card** once the event is published: title, when, price, gift pack, link to the event's H5 page,
  into every open group of every store with a session (once: claimed by a conditional UPDATE of
  ``card_posted_at`` from NULL; per-group keys ``event:<id>:card:<group>``);
- **progress** in the relay's style, batched at milestones: "已有 N 人报名，还剩 M 张" whenever the tickets
  taken grew by a tenth of the seats (at least 1) since the last progress post, and once when sold out. A
  milestone is claimed with one conditional UPDATE of ``progress_posted`` (from the value read to the new
  count), so concurrent runners never post it twice; a group's text counts its own store's seats.

Posting goes through ``siyu.communities.services.robot.post_to_group`` (the channel's path and rate
limits); a group that refuses (archived meanwhile) is skipped and logged, the others still get the post.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community, GroupDelivery
from siyu.communities.services.robot import MAX_ROBOT_TEXT, post_to_group
from siyu.events.models import Event, EventSession, EventStatus
from siyu.events.services.reads import event_groups
from siyu.events.services.rules import local

logger = logging.getLogger("siyu.events.posts")
BATCH = 50
STEPS = 10  # progress every tenth of the seats


def event_url(event: Event) -> str:
    return reverse("h5:event", args=[event.pk])


def card(event: Event) -> dict[str, Any]:
    price = _("Free") if event.is_free else f"¥{fen_to_yuan(event.ticket_price_fen)}"
    parts = [local(event.starts_at) + " – " + local(event.ends_at), _("Ticket: %(price)s") % {"price": price}]
    if event.gift_pack:
        parts.append(_("Gift pack at the door: %(gift)s") % {"gift": event.gift_pack})
    return {
        "title": event.title[:128],
        "description": " · ".join(parts)[:500],
        "url": event_url(event),
        "image_url": event.art_url if event.art_url.startswith("https://") else "",
    }


def progress_text(event: Event, taken: int, capacity: int) -> str:
    left = max(0, capacity - taken)
    line = (
        _("%(n)s people have signed up, %(left)s tickets left.") % {"n": taken, "left": left}
        if left
        else _("%(n)s people have signed up — sold out!") % {"n": taken}
    )
    return "\n".join(
        [f"【{event.title}】", line, _("Tap the event card to get yours.") if left else ""]
    ).strip()[:MAX_ROBOT_TEXT]


def _post(community: Community, key: str, expires_at: datetime, **content: Any) -> bool:
    try:
        with transaction.atomic():
            post_to_group(
                community,
                idempotency_key=key,
                delivery_kind=GroupDelivery.Kind.CAMPAIGN,
                expires_at=expires_at,
                **content,
            )
    except ServiceError as exc:
        logger.warning("Event post %s refused in group %s: %s", key, community.pk, exc.message)
        return False
    return True


def post_card(event_id: int, now: datetime) -> int:
    """Claim and post one event's card into its groups; returns the messages posted (0: not due or claimed
    by another runner)."""
    posted = 0
    with transaction.atomic():
        if not Event.objects.filter(
            pk=event_id, status=EventStatus.PUBLISHED, card_posted_at__isnull=True, ends_at__gt=now
        ).update(card_posted_at=now):
            return 0
        event = Event.objects.get(pk=event_id)
        with translation.override(settings.LANGUAGE_CODE):
            content = card(event)
            for group in event_groups(event):
                posted += _post(group, f"event:{event.pk}:card:{group.pk}", event.ends_at, card=content)
    return posted


def _due_milestone(taken: int, capacity: int, last: int) -> bool:
    step = max(1, capacity // STEPS)
    return taken > last and (taken - last >= step or taken >= capacity)


def post_progress(event_id: int, now: datetime) -> int:
    """Post one event's progress if a milestone is due; returns the messages posted."""
    posted = 0
    with transaction.atomic():
        event = Event.objects.get(pk=event_id)
        totals = EventSession.objects.filter(event=event).aggregate(t=Sum("taken"), c=Sum("capacity"))
        taken, capacity = totals["t"] or 0, totals["c"] or 0
        if not _due_milestone(taken, capacity, event.progress_posted):
            return 0
        if not Event.objects.filter(pk=event.pk, progress_posted=event.progress_posted).update(
            progress_posted=taken
        ):
            return 0
        per_store: dict[int, tuple[int, int]] = {}
        for row in (
            EventSession.objects.filter(event=event, ends_at__gt=now)
            .values("store_id")
            .annotate(t=Sum("taken"), c=Sum("capacity"))
        ):
            per_store[row["store_id"]] = (row["t"] or 0, row["c"] or 0)
        with translation.override(settings.LANGUAGE_CODE):
            for group in event_groups(event):
                if group.store_id not in per_store:
                    continue
                store_taken, store_capacity = per_store[group.store_id]
                posted += _post(
                    group,
                    f"event:{event.pk}:progress:{taken}:{group.pk}",
                    event.ends_at,
                    text=progress_text(event, store_taken, store_capacity),
                )
    return posted


def run_event_posts(now: datetime | None = None) -> int:
    """The periodic job: due cards, then due progress posts of running published events. Safe to run
    concurrently and often (every post is claimed)."""
    now = now or timezone.now()
    live = Event.objects.filter(status=EventStatus.PUBLISHED, ends_at__gt=now)
    posted = 0
    for event_id in (
        live.filter(card_posted_at__isnull=True).order_by("id").values_list("id", flat=True)[:BATCH]
    ):
        posted += post_card(event_id, now)
    for event_id in (
        live.filter(card_posted_at__isnull=False).order_by("id").values_list("id", flat=True)[:BATCH]
    ):
        posted += post_progress(event_id, now)
    return posted
