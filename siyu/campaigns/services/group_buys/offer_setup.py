"""Head office sets up a group buy: create (draft), publish, cancel (capability ``campaigns.manage``).

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    GroupBuy,
    GroupBuyTeam,
)
from siyu.campaigns.services.group_buys.rules import (
    MAX_CAMPAIGN_DAYS,
    MAX_DESCRIPTION,
    MAX_TEAM_HOURS,
    MAX_TEAM_SIZE,
    MAX_TITLE,
    T,
    clean_when,
    id_list,
)
from siyu.campaigns.services.group_buys.team_closing import fail_team
from siyu.catalog.models import Sku
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import clean_int, clean_text, optional_id
from siyu.communities.models import Community
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

# --- setup by head office --------------------------------------------------------------------------------


def _require_hq(staff: Staff) -> None:
    check_capability(staff, "campaigns.manage", message=_("Only head office sets up group buys."))


def create_group_buy(staff: Staff, data: dict[str, Any], *, ip: str | None = None) -> Campaign:
    """Create a draft group-buy campaign (HQ only: PermissionDenied otherwise).

    ``data``: ``title``, ``description``, ``sku`` (an active SKU of the brand), ``price_fen`` (1 … the SKU's
    price), ``min_size`` (2–100), ``max_size`` (min–100), ``team_hours`` (1–720), ``starts_at`` <
    ``ends_at`` (in the future, at most 90 days apart) < ``pickup_until``, ``stores`` (ids of the brand's
    stores; empty = every open store) and ``communities`` (the groups the robot may post in, of those
    stores). Anything else is ValidationFailed/NotFound and creates nothing. Audited ``campaign.create``."""
    _require_hq(staff)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Invalid request."), field=None)
    brand_id = current_brand_id(staff)
    title = clean_text(data.get("title"), "title", MAX_TITLE, required=True)
    description = clean_text(data.get("description"), "description", MAX_DESCRIPTION, required=False)
    sku_id = clean_int(data.get("sku"), "sku", 1, 2**63 - 1, from_text=True)
    sku = (
        Sku.objects.select_related("product")
        .filter(pk=sku_id, product__brand_id=brand_id, active=True, product__active=True)
        .first()
    )
    if sku is None:
        raise NotFound(_("No such SKU."), field="sku")
    price_fen = clean_int(data.get("price_fen"), "price_fen", 1, sku.price_fen, from_text=True)
    min_size = clean_int(data.get("min_size", 3), "min_size", 2, MAX_TEAM_SIZE, from_text=True)
    max_size = clean_int(
        data.get("max_size", max(min_size, 10)), "max_size", min_size, MAX_TEAM_SIZE, from_text=True
    )
    team_hours = clean_int(data.get("team_hours", 24), "team_hours", 1, MAX_TEAM_HOURS, from_text=True)
    starts_at = clean_when(data.get("starts_at"), "starts_at")
    ends_at = clean_when(data.get("ends_at"), "ends_at")
    pickup_until = clean_when(data.get("pickup_until"), "pickup_until")
    now = timezone.now()
    if ends_at <= starts_at:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    if ends_at <= now:
        raise ValidationFailed(_("The end must be in the future."), field="ends_at")
    if ends_at - starts_at > timedelta(days=MAX_CAMPAIGN_DAYS):
        raise ValidationFailed(_("A group buy runs at most 90 days."), field="ends_at")
    if pickup_until <= ends_at:
        raise ValidationFailed(_("Pickup must end after the group buy ends."), field="pickup_until")
    store_ids = id_list(data.get("stores"), "stores")
    stores = list(Store.objects.filter(pk__in=store_ids, brand_id=brand_id))
    if len(stores) != len(store_ids):
        raise NotFound(_("No such store."), field="stores")
    community_ids = id_list(data.get("communities"), "communities")
    communities = list(
        Community.objects.filter(pk__in=community_ids, brand_id=brand_id).exclude(
            status=Community.Status.ARCHIVED
        )
    )
    if len(communities) != len(community_ids):
        raise NotFound(_("No such group."), field="communities")
    if store_ids and any(c.store_id not in store_ids for c in communities):
        raise ValidationFailed(_("Choose groups of the chosen stores."), field="communities")
    with transaction.atomic():
        campaign = Campaign.objects.create(
            brand_id=brand_id,
            kind=CampaignKind.GROUP_BUY,
            title=title,
            description=description,
            starts_at=starts_at,
            ends_at=ends_at,
            pickup_until=pickup_until,
            relay_enabled=False,
            created_by=staff,
        )
        campaign.stores.set(stores)
        campaign.communities.set(communities)
        GroupBuy.objects.create(
            campaign=campaign,
            sku=sku,
            price_fen=price_fen,
            min_size=min_size,
            max_size=max_size,
            team_hours=team_hours,
        )
        record_audit(
            staff,
            "campaign.create",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "kind": CampaignKind.GROUP_BUY,
                "sku_id": sku.pk,
                "price_fen": price_fen,
                "min_size": min_size,
                "max_size": max_size,
                "team_hours": team_hours,
                "stores": store_ids,
                "communities": community_ids,
            },
            ip=ip,
        )
    return campaign


def _hq_campaign(staff: Staff, campaign_id: Any) -> Campaign:
    _require_hq(staff)
    pk = optional_id(campaign_id)
    campaign = (
        Campaign.objects.filter(pk=pk, brand_id=current_brand_id(staff), kind=CampaignKind.GROUP_BUY).first()
        if pk
        else None
    )
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def publish_group_buy(staff: Staff, campaign_id: Any, *, ip: str | None = None) -> Campaign:
    """draft → published, once (Conflict ``not_draft`` otherwise; ``ended`` when its end has passed,
    ``unavailable`` when the SKU was deactivated). HQ only. Audited ``campaign.publish``."""
    campaign = _hq_campaign(staff, campaign_id)
    now = timezone.now()
    group_buy = GroupBuy.objects.select_related("sku", "sku__product").get(campaign=campaign)
    if campaign.ends_at <= now:
        raise Conflict(_("This group buy has already ended."), field="campaign", code="ended")
    if not (group_buy.sku.active and group_buy.sku.product.active):
        raise Conflict(_("The product is no longer active."), field="sku", code="unavailable")
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.PUBLISHED, published_at=now, updated_at=now
        ):
            raise Conflict(_("Only a draft can be published."), field="status", code="not_draft")
        record_audit(staff, "campaign.publish", target_type="campaign", target_id=campaign.pk, ip=ip)
    campaign.refresh_from_db()
    return campaign


def cancel_group_buy(staff: Staff, campaign_id: Any, *, ip: str | None = None) -> Campaign:
    """draft/published → cancelled, once (Conflict ``already_cancelled``). HQ only. Its open teams fail at
    once (the robot says so); their orders are cancelled or refunded by the next ``close_due_teams`` run.
    Formed teams keep their orders. Audited ``campaign.cancel``."""
    campaign = _hq_campaign(staff, campaign_id)
    now = timezone.now()
    with transaction.atomic():
        if not Campaign.objects.filter(
            pk=campaign.pk, status__in=(CampaignStatus.DRAFT, CampaignStatus.PUBLISHED)
        ).update(status=CampaignStatus.CANCELLED, updated_at=now):
            raise Conflict(
                _("This group buy is already cancelled."), field="status", code="already_cancelled"
            )
        failed = 0
        for team_id in GroupBuyTeam.objects.filter(campaign=campaign, status=T.OPEN).values_list(
            "pk", flat=True
        ):
            failed += fail_team(team_id, now, force=True)
        record_audit(
            staff,
            "campaign.cancel",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"teams_failed": failed},
            ip=ip,
        )
    campaign.refresh_from_db()
    return campaign
