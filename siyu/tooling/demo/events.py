"""Demo data: one published in-store event (年终内购会) with a session in every open store, so the H5 event
page, "my tickets" and the console's door page have something to show. Written through
``siyu.events.services.bulk``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from siyu.events.models import Event
from siyu.events.services import bulk
from siyu.org.models import Brand
from siyu.org.services.stores import open_stores

DEMO_TITLE = "年终内购会"
DEMO_DESCRIPTION = "全场低至三折，凭票入场领取价值 ¥297 的礼包。名额有限，先到先得。"
DEMO_GIFT = "价值 ¥297 的年终礼包"


def seed_demo_event(brand: Brand, now: datetime) -> Event:
    """The demo event: today and tomorrow, one session per open store from 10:00 to 21:00 local time today
    (or from an hour ago for 12 hours when the demo starts outside those hours), 300 seats each.
    Idempotent: a demo event that has not ended is returned as it is."""
    existing = Event.objects.filter(brand=brand, title=DEMO_TITLE, ends_at__gt=now).order_by("id").first()
    if existing is not None:
        return existing
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    # 10:00–21:00 today; a demo started outside those hours gets a session already open, so the door works.
    hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    session_starts = min(today + timedelta(hours=10), hour - timedelta(hours=1))
    session_ends = max(today + timedelta(hours=21), hour + timedelta(hours=12))
    return bulk.seed_event(
        brand,
        title=DEMO_TITLE,
        description=DEMO_DESCRIPTION,
        gift_pack=DEMO_GIFT,
        gift_value_fen=29700,
        starts_at=min(today, session_starts),
        ends_at=max(today + timedelta(days=2), session_ends),
        stores=list(open_stores(brand.pk)),
        session_starts=session_starts,
        session_ends=session_ends,
        capacity=300,
        now=now,
    )
