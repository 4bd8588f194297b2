"""A flash sale's phase (draft, scheduled, running, ended, cancelled) and the limits of its setup.

See ``siyu.campaigns.services.flash_sales`` for the rules."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from siyu.campaigns.models import (
    Campaign,
    CampaignStatus,
)

logger = logging.getLogger("siyu.campaigns.setup")

FLASH_FIELDS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "pickup_until",
    "store_ids",
    "community_ids",
    "warmup_at",
    "warmup_text",
    "start_text",
    "relay_enabled",
    "items",
)
# What may still change once a sale is published.
PUBLISHED_EDITABLE = frozenset({"description", "ends_at", "pickup_until"})
ITEM_FIELDS = ("sku_id", "price_fen", "stock", "per_member_limit")

MAX_ITEMS = 20
MAX_STOCK = 100_000
MAX_PER_MEMBER = 99
MAX_STORES = 2000
MAX_COMMUNITIES = 500
DEFAULT_PICKUP = timedelta(days=3)
MAX_DURATION = timedelta(days=90)
MAX_PICKUP_AFTER_END = timedelta(days=90)
MAX_START_AHEAD = timedelta(days=365)
MAX_WARMUP_BEFORE = timedelta(days=30)

# Live view: orders per second over the last RATE_WINDOW, and a line of orders per BUCKET.
RATE_WINDOW = timedelta(seconds=10)
BUCKET = timedelta(seconds=10)
BUCKETS = 60
RELAY_LOG_SIZE = 30


class Phase:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    ENDED = "ended"
    CANCELLED = "cancelled"


def phase(campaign: Campaign, now: datetime | None = None) -> str:
    """Where a campaign stands: draft, scheduled (published, not started), running, ended or cancelled."""
    now = now or timezone.now()
    if campaign.status == CampaignStatus.DRAFT:
        return Phase.DRAFT
    if campaign.status == CampaignStatus.CANCELLED:
        return Phase.CANCELLED
    if now < campaign.starts_at:
        return Phase.SCHEDULED
    if now < campaign.ends_at:
        return Phase.RUNNING
    return Phase.ENDED


def is_running(campaign: Campaign, now: datetime | None = None) -> bool:
    """Published and now in [starts_at, ends_at)."""
    return phase(campaign, now) == Phase.RUNNING
