"""Group buys set up without a staff actor (demo seeding, commands): created already published and kept
running. ``group_buys.create_group_buy``/``publish_group_buy`` are the path for head-office staff."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, GroupBuy
from siyu.catalog.models import Sku
from siyu.common.errors import ValidationFailed
from siyu.org.models import Brand


@transaction.atomic
def create_published_as_system(
    brand: Brand,
    *,
    sku: Sku,
    title: str,
    description: str,
    price_fen: int,
    min_size: int,
    max_size: int,
    team_hours: int,
    starts_at: datetime,
    ends_at: datetime,
    pickup_until: datetime,
    now: datetime,
) -> Campaign:
    """A published group buy of ``brand`` on ``sku`` in every store (no groups to post in), published at
    ``now``. Guarantees: the SKU is an active SKU of ``brand`` (ValidationFailed on ``sku``), the price is
    1 fen up to its price (``price_fen``), 2 ≤ ``min_size`` ≤ ``max_size`` (``min_size``) and
    ``starts_at`` < ``ends_at`` < ``pickup_until`` (``ends_at``); all or nothing."""
    if sku.product.brand_id != brand.pk or not (sku.active and sku.product.active):
        raise ValidationFailed(_("No such SKU."), field="sku")
    if not 1 <= price_fen <= sku.price_fen:
        raise ValidationFailed(_("The price must be between 1 fen and the SKU's price."), field="price_fen")
    if not 2 <= min_size <= max_size:
        raise ValidationFailed(_("A team needs 2 people or more."), field="min_size")
    if not starts_at < ends_at < pickup_until:
        raise ValidationFailed(_("The end must be after the start, pickup after the end."), field="ends_at")
    campaign = Campaign.objects.create(
        brand=brand,
        kind=CampaignKind.GROUP_BUY,
        title=title,
        description=description,
        status=CampaignStatus.PUBLISHED,
        starts_at=starts_at,
        ends_at=ends_at,
        pickup_until=pickup_until,
        relay_enabled=False,
        published_at=now,
    )
    GroupBuy.objects.create(
        campaign=campaign,
        sku=sku,
        price_fen=price_fen,
        min_size=min_size,
        max_size=max_size,
        team_hours=team_hours,
    )
    return campaign


@transaction.atomic
def keep_running_as_system(
    campaign: Campaign, *, starts_by: datetime, ends_after: datetime, pickup_until: datetime, now: datetime
) -> Campaign:
    """Make the group buy ``campaign`` published and running at ``now``: its window only ever widens (start
    no later than ``starts_by``, end no earlier than ``ends_after``, pickup no earlier than
    ``pickup_until``); published at ``now`` if it never was. Returns it refreshed; unchanged when it is
    already published and running."""
    if campaign.status == CampaignStatus.PUBLISHED and campaign.starts_at <= now < campaign.ends_at:
        return campaign
    ends_at = max(campaign.ends_at, ends_after)
    Campaign.objects.filter(pk=campaign.pk, kind=CampaignKind.GROUP_BUY).update(
        status=CampaignStatus.PUBLISHED,
        starts_at=min(campaign.starts_at, starts_by),
        ends_at=ends_at,
        pickup_until=max(campaign.pickup_until, pickup_until, ends_at),
        published_at=campaign.published_at or now,
    )
    campaign.refresh_from_db()
    return campaign
