"""Setting up events without a person acting (the demo chain): an event published at once with one session
per store. The events' own rules still hold: the window is ordered, sessions lie within it, capacities are
positive, stores belong to the event's brand; all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.events.models import Event, EventSession, EventStatus
from siyu.org.models import Brand, Store


@transaction.atomic
def seed_event(
    brand: Brand,
    *,
    title: str,
    description: str,
    gift_pack: str,
    gift_value_fen: int,
    starts_at: datetime,
    ends_at: datetime,
    stores: Sequence[Store],
    session_starts: datetime,
    session_ends: datetime,
    capacity: int,
    now: datetime | None = None,
) -> Event:
    """A published free event of ``brand`` with one session per store in ``stores``."""
    if not (starts_at <= session_starts < session_ends <= ends_at) or capacity < 1:
        raise ValidationFailed(_("A session lies within the event's dates."), field="starts_at")
    if any(store.brand_id != brand.pk for store in stores):
        raise ValidationFailed(_("No such store."), field="stores")
    event = Event.objects.create(
        brand=brand,
        title=title,
        description=description,
        gift_pack=gift_pack,
        gift_value_fen=gift_value_fen,
        starts_at=starts_at,
        ends_at=ends_at,
        status=EventStatus.PUBLISHED,
        published_at=now or timezone.now(),
    )
    EventSession.objects.bulk_create(
        [
            EventSession(
                event=event, store=store, starts_at=session_starts, ends_at=session_ends, capacity=capacity
            )
            for store in stores
        ]
    )
    return event
