"""Setting up a recharge-slot campaign (head office): the deposit SKU, the flash sale selling it, and the
slot settings — all or nothing, audited. Publishing and cancelling are the flash sale's own services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import Campaign, CampaignStatus, RechargeSlotCampaign, UnusedPolicy
from siyu.campaigns.services import flash_sales
from siyu.campaigns.services.flash_sales.phases import MAX_PICKUP_AFTER_END, MAX_STOCK
from siyu.catalog.services import products, publication
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import clean_fen, clean_int, clean_text, fen_to_yuan, parse_id
from siyu.orders.models import PaymentMethod
from siyu.orders.services.create import payment_method
from siyu.org.models import Staff
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit

MAX_DEPOSIT_FEN = 100_000  # ¥1,000: a deposit is a token amount
MAX_THRESHOLD_FEN = 10_000_000  # ¥100,000
SLOT_FIELDS = frozenset(
    {"deposit_fen", "slots", "threshold_fen", "gift_text", "convert_until", "unused_policy"}
)
SALE_FIELDS = frozenset({"title", "description", "starts_at", "ends_at", "store_ids", "community_ids"})


@dataclass(frozen=True)
class SlotSettings:
    deposit_fen: int
    slots: int
    threshold_fen: int
    gift_text: str
    convert_until: datetime
    unused_policy: str


def _clean_settings(data: dict[str, Any]) -> SlotSettings:
    deposit = clean_fen(data.get("deposit_fen"), "deposit_fen", minimum=1, maximum=MAX_DEPOSIT_FEN)
    slots = clean_int(
        data.get("slots"),
        "slots",
        1,
        MAX_STOCK,
        _("The number of slots is a whole number from 1 to %(max)s.") % {"max": MAX_STOCK},
    )
    threshold = clean_fen(data.get("threshold_fen"), "threshold_fen", minimum=1, maximum=MAX_THRESHOLD_FEN)
    gift = clean_text(data.get("gift_text"), "gift_text", 200)
    until = data.get("convert_until")
    if not isinstance(until, datetime) or timezone.is_naive(until):
        raise ValidationFailed(_("Choose a date and time."), field="convert_until")
    policy = data.get("unused_policy", UnusedPolicy.REFUND)
    if policy not in UnusedPolicy.values:
        raise ValidationFailed(_("Choose refund or forfeit."), field="unused_policy")
    return SlotSettings(deposit, slots, threshold, gift, until, policy)


def create_slot_campaign(
    staff: Staff, data: dict[str, Any], *, now: datetime | None = None
) -> RechargeSlotCampaign:
    """Create a draft recharge-slot campaign (head office: ``campaigns.manage`` and ``catalog.manage``).

    ``data``: the flash sale's title, description, starts_at, ends_at, store_ids, community_ids (see
    ``flash_sales.create_flash_sale``) and deposit_fen (1…¥1,000), slots (1…100000), threshold_fen (the least
    in-store recharge), gift_text (shown to members), convert_until (the deadline: after the sale's end,
    at most 90 days later) and unused_policy (``refund`` | ``forfeit``).

    Creates a deposit product "充值名额 ¥11" with one SKU priced at the deposit, published to the campaign's
    stores (all stores when none chosen), and the flash sale with that SKU as its single item (price = the
    deposit, stock = slots, one per member, pickup deadline = convert_until). Deposits are paid online:
    Conflict ``online_payment_required`` when no payment provider is configured. All or nothing; audited as
    ``recharge_slots.create``."""
    check_capability(staff, "campaigns.manage")
    check_capability(staff, "catalog.manage")
    if not isinstance(data, dict):
        raise ValidationFailed(_("Expected an object."))
    unknown = set(data) - SLOT_FIELDS - SALE_FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    settings = _clean_settings(data)
    if payment_method() == PaymentMethod.PAY_AT_PICKUP:
        raise Conflict(
            _("Slot deposits are paid online: configure a payment provider first."),
            field="deposit_fen",
            code="online_payment_required",
        )
    ends_at = data.get("ends_at")
    if isinstance(ends_at, datetime) and not timezone.is_naive(ends_at):
        if settings.convert_until < ends_at:
            raise ValidationFailed(_("The deadline must be after the sale ends."), field="convert_until")
        if settings.convert_until > ends_at + MAX_PICKUP_AFTER_END:
            raise ValidationFailed(
                _("The deadline can be at most 90 days after the sale ends."), field="convert_until"
            )
    store_ids = data.get("store_ids") or []
    with transaction.atomic():
        label = _("Recharge slot ¥%(yuan)s") % {"yuan": fen_to_yuan(settings.deposit_fen)}
        product = products.create_product(
            staff,
            {"name": label[:100], "subtitle": clean_text(data.get("title"), "title", 100)[:200]},
            skus=[{"code": f"SLOT-{secrets.token_hex(6).upper()}", "price_fen": settings.deposit_fen}],
        )
        sku = product.skus.get()
        if store_ids:
            publication.publish(staff, product.pk, scope="stores", store_ids=list(store_ids))
        else:
            publication.publish(staff, product.pk, scope="all")
        sale = {k: v for k, v in data.items() if k in SALE_FIELDS}
        sale["pickup_until"] = settings.convert_until
        sale["relay_enabled"] = False
        sale["items"] = [
            {
                "sku_id": sku.pk,
                "price_fen": settings.deposit_fen,
                "stock": settings.slots,
                "per_member_limit": 1,
            }
        ]
        campaign = flash_sales.create_flash_sale(staff, sale, now=now)
        slot_campaign = RechargeSlotCampaign.objects.create(
            campaign=campaign,
            deposit_fen=settings.deposit_fen,
            threshold_fen=settings.threshold_fen,
            gift_text=settings.gift_text,
            convert_until=campaign.pickup_until,
            unused_policy=settings.unused_policy,
        )
        record_audit(
            staff,
            "recharge_slots.create",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "deposit_fen": settings.deposit_fen,
                "slots": settings.slots,
                "threshold_fen": settings.threshold_fen,
                "convert_until": campaign.pickup_until.isoformat(),
                "unused_policy": settings.unused_policy,
                "sku": sku.pk,
            },
        )
    return slot_campaign


def publish_slot_campaign(staff: Staff, slot_campaign_id: Any) -> RechargeSlotCampaign:
    """Publish (open for sale) a draft slot campaign: ``flash_sales.publish_flash_sale`` of its sale."""
    check_capability(staff, "campaigns.manage")
    slot_campaign = get_slot_campaign(staff, slot_campaign_id)
    flash_sales.publish_flash_sale(staff, slot_campaign.campaign_id)
    slot_campaign.campaign.refresh_from_db()
    return slot_campaign


def visible_slot_campaigns(staff: Staff) -> QuerySet[RechargeSlotCampaign]:
    """The slot campaigns ``staff`` may see: head office all of the brand; store staff the published or
    cancelled ones running in one of their stores (as for flash sales)."""
    campaigns = flash_sales.visible_campaigns(staff)
    return (
        RechargeSlotCampaign.objects.filter(campaign__in=campaigns)
        .select_related("campaign")
        .order_by("-campaign__starts_at", "-pk")
    )


def get_slot_campaign(staff: Staff, slot_campaign_id: Any) -> RechargeSlotCampaign:
    """One slot campaign ``staff`` may see; NotFound otherwise (another brand, other
    stores, drafts for store staff)."""
    pk = parse_id(slot_campaign_id, "slot_campaign", _("No such slot campaign."))
    found = visible_slot_campaigns(staff).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such slot campaign."), field="slot_campaign")
    return found


def slots_for_sale(slot_campaign: RechargeSlotCampaign) -> int:
    item = slot_campaign.campaign.flash_items.first()
    return item.stock if item is not None else 0


def member_slot_campaigns(brand_id: int, *, now: datetime | None = None) -> list[RechargeSlotCampaign]:
    """Published slot campaigns of the brand whose sale has not ended, for the member's H5."""
    now = now or timezone.now()
    return list(
        RechargeSlotCampaign.objects.filter(
            campaign__brand_id=brand_id, campaign__status=CampaignStatus.PUBLISHED, campaign__ends_at__gt=now
        )
        .select_related("campaign")
        .order_by("campaign__starts_at", "pk")
    )


def attach_as_system(
    campaign: Campaign, *, threshold_fen: int, gift_text: str, unused_policy: str
) -> RechargeSlotCampaign:
    """Make an existing draft flash sale of one item (the deposit SKU) a slot campaign, without a staff actor
    (demo seeding, ``siyu bench slots``): the deposit is the item's price, the deadline its pickup deadline.
    Audited with no actor."""
    item = campaign.flash_items.get()
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(_("Only a draft can become a slot campaign."), field="campaign", code="published")
    if unused_policy not in UnusedPolicy.values:
        raise ValidationFailed(_("Choose refund or forfeit."), field="unused_policy")
    slot_campaign = RechargeSlotCampaign.objects.create(
        campaign=campaign,
        deposit_fen=item.price_fen,
        threshold_fen=clean_fen(threshold_fen, "threshold_fen", minimum=1, maximum=MAX_THRESHOLD_FEN),
        gift_text=clean_text(gift_text, "gift_text", 200),
        convert_until=campaign.pickup_until,
        unused_policy=unused_policy,
    )
    record_audit(
        None,
        "recharge_slots.create",
        target_type="campaign",
        target_id=campaign.pk,
        detail={"deposit_fen": item.price_fen, "slots": item.stock, "threshold_fen": threshold_fen},
    )
    return slot_campaign
