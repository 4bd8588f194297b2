"""The flash-sale write-behind backlog, for the console's background-work page (reads only).

On Redis, purchases are admitted into each sale's stream and written to the database by the periodic job
``flash-writer`` (``flash_writer.drain_all``); written entries are acknowledged and deleted, so what is
still in the stream is waiting. A backlog that grows, or whose oldest entry gets old, means the writer is
not keeping up or not running. Database-backed sales write each purchase in its own request: nothing waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashReservation
from siyu.campaigns.services import flash_config as fc

RECENT = timedelta(days=1)


@dataclass(frozen=True)
class SaleBacklog:
    campaign_id: int
    title: str
    backend: str  # "redis" | "database"
    written: int  # reservations in the database
    waiting: int | None = None  # Redis: admitted, not written yet (None: Redis could not be read)
    in_progress: int | None = None  # Redis: read by a writer, not acknowledged yet
    oldest_seconds: float | None = None  # Redis: age of the oldest waiting purchase
    unreadable: bool = False  # Redis could not be read


def _redis_backlog(campaign_id: int) -> tuple[int, int, float | None]:
    client = fc.redis_client()
    keys = fc.Keys(campaign_id)
    waiting = int(client.xlen(keys.stream))
    in_progress = 0
    if waiting:
        try:
            in_progress = int(client.xpending(keys.stream, fc.GROUP).get("pending") or 0)
        except Exception as exc:  # no consumer group yet: nobody has read anything
            if "NOGROUP" not in str(exc):
                raise
    oldest: float | None = None
    first = client.xrange(keys.stream, count=1)
    if first:
        millis = int(str(first[0][0]).split("-", 1)[0])
        oldest = max(0.0, time.time() - millis / 1000)
    return waiting, in_progress, oldest


def write_behind_backlog(now: datetime | None = None) -> list[SaleBacklog]:
    """Flash sales running now or ended within a day, newest first, with what their write-behind still has
    to write (Redis) or has written (both)."""
    now = now or timezone.now()
    sales = list(
        Campaign.objects.filter(kind=CampaignKind.FLASH_SALE, ends_at__gte=now - RECENT, starts_at__lte=now)
        .exclude(status=CampaignStatus.DRAFT)
        .exclude(admission_backend="")
        .order_by("-starts_at", "-pk")[:50]
    )
    written = dict(
        FlashReservation.objects.filter(campaign_id__in=[s.pk for s in sales])
        .order_by()
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    out: list[SaleBacklog] = []
    for sale in sales:
        done = int(written.get(sale.pk, 0))
        if sale.admission_backend != "redis":
            out.append(SaleBacklog(sale.pk, sale.title, "database", done))
            continue
        try:
            if not fc.redis_url():
                raise RuntimeError("REDIS_URL is not configured")
            waiting, in_progress, oldest = _redis_backlog(sale.pk)
        except Exception:
            out.append(SaleBacklog(sale.pk, sale.title, "redis", done, unreadable=True))
            continue
        out.append(SaleBacklog(sale.pk, sale.title, "redis", done, waiting, in_progress, oldest))
    return out
