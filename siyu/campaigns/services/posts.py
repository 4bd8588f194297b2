"""The robot's campaign posts: the warm-up (预热) before a flash sale and the start post when it opens.

Each post goes into every group of the sale (``Campaign.communities``) once:

- the **warm-up** at ``warmup_at``: a text with the title, the start time and the items with their flash
  and normal prices (``warmup_text`` leads it when set); sent only while the sale has not started — a
  warm-up whose time came after the start (e.g. published late) is never sent;
- the **start** at ``starts_at``: a card (title, description, link to the sale page ``/h5/flash/<id>/``,
  the first item's picture) and a text with the items (``start_text`` leads it when set); skipped when the
  sale has already ended.

Sold-out and relay (接龙) posts are the relay's (``siyu.campaigns.services.relay``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashSaleItem
from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community, GroupDelivery
from siyu.communities.services.robot import MAX_ROBOT_TEXT, post_to_group

logger = logging.getLogger("siyu.campaigns.posts")

BATCH = 50
MAX_ITEM_LINES = 20
WARMUP = "warmup"
START = "start"
_SAFE_URL = re.compile(r"^(https?://|/(?!/))\S{1,999}$")


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%m-%d %H:%M")


def sale_url(campaign: Campaign) -> str:
    """The member's sale page, as a link within Siyu."""
    return reverse("h5:flash_sale", args=[campaign.pk])


def _items(campaign: Campaign) -> list[FlashSaleItem]:
    return list(campaign.flash_items.select_related("sku__product").order_by("position", "id"))


def item_lines(items: list[FlashSaleItem]) -> list[str]:
    """One line per item: name, flash price, normal price, limit per member."""
    lines = []
    for item in items[:MAX_ITEM_LINES]:
        sku = item.sku
        name = f"{sku.product.name} {sku.spec}".strip()
        lines.append(
            "• "
            + _("%(name)s ¥%(price)s (was ¥%(normal)s), %(limit)s per person")
            % {
                "name": name,
                "price": fen_to_yuan(item.price_fen),
                "normal": fen_to_yuan(sku.price_fen),
                "limit": item.per_member_limit,
            }
        )
    if len(items) > MAX_ITEM_LINES:
        lines.append(_("…and %(n)s more") % {"n": len(items) - MAX_ITEM_LINES})
    return lines


def warmup_text(campaign: Campaign, items: list[FlashSaleItem]) -> str:
    """The warm-up post: the staff's text (or a default), title, start time and the items."""
    intro = campaign.warmup_text.strip() or _("⚡ Flash sale coming soon!")
    parts = [
        intro,
        f"【{campaign.title}】",
        _("Starts %(start)s, until %(end)s.")
        % {"start": _local(campaign.starts_at), "end": _local(campaign.ends_at)},
        *item_lines(items),
        _("Set an alarm — quantities are limited!"),
    ]
    return "\n".join(parts)[:MAX_ROBOT_TEXT]


def start_text(campaign: Campaign, items: list[FlashSaleItem]) -> str:
    """The start post's text: the staff's text (or a default), title, items and the end time."""
    intro = campaign.start_text.strip() or _("🔥 The flash sale has started — first come, first served!")
    parts = [
        intro,
        f"【{campaign.title}】",
        *item_lines(items),
        _("Until %(end)s. Tap the card to buy.") % {"end": _local(campaign.ends_at)},
    ]
    return "\n".join(parts)[:MAX_ROBOT_TEXT]


def start_card(campaign: Campaign, items: list[FlashSaleItem]) -> dict[str, Any]:
    """The start post's card: title, description (or the first items), link and the first picture."""
    description = campaign.description.strip() or " · ".join(
        f"{i.sku.product.name} ¥{fen_to_yuan(i.price_fen)}" for i in items[:5]
    )
    image = next((i.sku.product.picture for i in items if i.sku.product.picture), "")
    return {
        "title": campaign.title[:128],
        "description": description[:500],
        "url": sale_url(campaign),
        "image_url": image if image and _SAFE_URL.match(image) else "",
    }


def _groups(campaign: Campaign) -> list[Community]:
    return list(
        campaign.communities.exclude(status=Community.Status.ARCHIVED)
        .select_related("connector", "store")
        .order_by("store_id", "id")
    )


def _post(community: Community, key: str, *, expires_at: datetime | None = None, **content: Any) -> bool:
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
        logger.warning("Campaign post %s refused in group %s: %s", key, community.pk, exc.message)
        return False
    return True


def _claim(campaign_id: int, kind: str, now: datetime) -> bool:
    """Take the post ``kind`` of one campaign for this runner: one conditional UPDATE of its
    ``*_posted_at`` from NULL, repeating the due conditions, so only one runner ever wins."""
    qs = Campaign.objects.filter(
        pk=campaign_id, status=CampaignStatus.PUBLISHED, kind=CampaignKind.FLASH_SALE
    )
    if kind == WARMUP:
        return bool(
            qs.filter(warmup_posted_at__isnull=True, warmup_at__lte=now, starts_at__gt=now).update(
                warmup_posted_at=now
            )
        )
    return bool(
        qs.filter(start_posted_at__isnull=True, starts_at__lte=now, ends_at__gt=now).update(
            start_posted_at=now
        )
    )


def post_campaign(campaign_id: int, kind: str, now: datetime) -> int:
    """Claim and send one campaign's warm-up or start post to each of its groups; returns the number of
    messages posted (0 when another runner claimed it, or it is no longer due). Claim and posts commit
    together: a runner that fails midway leaves the post unclaimed for the next run, and the per-group
    idempotency keys (``campaign:<id>:<kind>:<group>``) make a repeated post return the first message."""
    posted = 0
    with transaction.atomic():
        if not _claim(campaign_id, kind, now):
            return 0
        campaign = Campaign.objects.get(pk=campaign_id)
        items = _items(campaign)
        with translation.override(settings.LANGUAGE_CODE):
            if kind == WARMUP:
                text = warmup_text(campaign, items)
                for group in _groups(campaign):
                    posted += _post(
                        group,
                        f"campaign:{campaign.pk}:warmup:{group.pk}",
                        text=text,
                        expires_at=campaign.starts_at,
                    )
            else:
                card = start_card(campaign, items)
                text = start_text(campaign, items)
                for group in _groups(campaign):
                    posted += _post(
                        group,
                        f"campaign:{campaign.pk}:start-card:{group.pk}",
                        card=card,
                        expires_at=campaign.ends_at,
                    )
                    posted += _post(
                        group,
                        f"campaign:{campaign.pk}:start:{group.pk}",
                        text=text,
                        expires_at=campaign.ends_at,
                    )
    return posted


def run_due_posts(now: datetime | None = None) -> int:
    """Send every due warm-up and start post of published flash sales; returns the messages posted.

    Guarantees: each campaign's warm-up and start go out at most once (claimed by a conditional UPDATE of
    ``warmup_posted_at`` / ``start_posted_at``), so concurrent and repeated runs never double-post; only
    published sales post; a warm-up is sent only before the start and a start only before the end. A group
    the robot refuses (e.g. archived meanwhile) is skipped and logged, the other groups still get the post.
    """
    now = now or timezone.now()
    base = Campaign.objects.filter(status=CampaignStatus.PUBLISHED, kind=CampaignKind.FLASH_SALE)
    warmups = list(
        base.filter(warmup_posted_at__isnull=True, warmup_at__lte=now, starts_at__gt=now)
        .order_by("warmup_at", "id")
        .values_list("id", flat=True)[:BATCH]
    )
    starts = list(
        base.filter(start_posted_at__isnull=True, starts_at__lte=now, ends_at__gt=now)
        .order_by("starts_at", "id")
        .values_list("id", flat=True)[:BATCH]
    )
    posted = 0
    for campaign_id in warmups:
        posted += post_campaign(campaign_id, WARMUP, now)
    for campaign_id in starts:
        posted += post_campaign(campaign_id, START, now)
    return posted
