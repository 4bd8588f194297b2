"""Who may set up flash sales and which sales a staff member sees.

See ``siyu.campaigns.services.flash_sales`` for the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    FlashReservation,
    FlashSaleItem,
)
from siyu.common.errors import NotFound
from siyu.common.validators import parse_id
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability, has_capability, require_staff, store_scope
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

# --- permissions and lookups ---------------------------------------------------------------------------


def can_manage(staff: Staff) -> bool:
    """HQ roles (and superusers) set up flash sales; store roles only look."""
    return has_capability(staff, "campaigns.manage")


def require_manager(staff: Staff) -> Staff:
    """Raise PermissionDenied unless ``staff`` may set up campaigns (head office: admin or operator)."""
    return check_capability(staff, "campaigns.manage", message=_("Only head office can set up flash sales."))


def _stores_through() -> Any:
    return Campaign.stores.through


def _in_scope_q(scope: set[int]) -> Q:
    """Campaigns that run in one of ``scope``'s stores: chosen stores meet it, or none chosen (all)."""
    through = _stores_through()
    has_stores = Exists(through.objects.filter(campaign_id=OuterRef("pk")))
    meets = Exists(through.objects.filter(campaign_id=OuterRef("pk"), store_id__in=scope))
    return ~has_stores | meets


def visible_campaigns(staff: Staff, *, kind: str | None = CampaignKind.FLASH_SALE) -> QuerySet[Campaign]:
    """The campaigns ``staff`` may see, newest start first: head office every campaign of the brand; store
    staff the published or cancelled ones running in one of their stores (never drafts)."""
    require_staff(staff)
    qs = Campaign.objects.filter(brand_id=current_brand_id(staff))
    if kind:
        qs = qs.filter(kind=kind)
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.exclude(status=CampaignStatus.DRAFT).filter(_in_scope_q(scope))
    return qs.order_by("-starts_at", "-id")


def annotate_totals(staff: Staff, qs: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Add ``stock_total`` (units of the sale) and ``sold_total`` (units held by written orders; for store
    staff only those picked up at their stores) to each campaign of ``qs``."""
    stock = (
        FlashSaleItem.objects.filter(campaign_id=OuterRef("pk"))
        .order_by()
        .values("campaign_id")
        .annotate(total=Sum("stock"))
        .values("total")
    )
    scope = store_scope(staff)
    sold: QuerySet[Any, Any]
    if scope is None:
        sold = (
            FlashSaleItem.objects.filter(campaign_id=OuterRef("pk"))
            .order_by()
            .values("campaign_id")
            .annotate(total=Sum("sold"))
            .values("total")
        )
    else:
        sold = (
            FlashReservation.objects.filter(
                campaign_id=OuterRef("pk"),
                status=FlashReservation.Status.ACTIVE,
                store_id__in=scope,
            )
            .order_by()
            .values("campaign_id")
            .annotate(total=Sum("quantity"))
            .values("total")
        )
    return qs.annotate(
        stock_total=Coalesce(Subquery(stock, output_field=IntegerField()), 0),
        sold_total=Coalesce(Subquery(sold, output_field=IntegerField()), 0),
    )


def get_campaign(staff: Staff, campaign_id: Any) -> Campaign:
    """The flash sale ``campaign_id`` if ``staff`` may see it (see ``visible_campaigns``); NotFound
    otherwise — another brand's sale, a draft for store staff and a sale in other stores look absent."""
    pk = parse_id(campaign_id, "campaign", _("No such flash sale."))
    campaign = visible_campaigns(staff).filter(pk=pk).first()
    if campaign is None:
        raise NotFound(_("No such flash sale."), field="campaign")
    return campaign


def sale_stores(campaign: Campaign) -> QuerySet[Store]:
    """The pickup stores of a sale: the chosen ones, or (none chosen) every open store of the brand. Only
    open stores are returned: a chosen store that closed or was suspended takes no pickups."""
    qs = open_stores(campaign.brand_id)
    chosen = list(campaign.stores.values_list("pk", flat=True))
    return qs.filter(pk__in=chosen) if chosen else qs


def running_flash_sales(brand_id: int, *, now: datetime | None = None) -> list[Campaign]:
    """The brand's flash sales running now (published, now in [start, end)), ending soonest first."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(
            brand_id=brand_id,
            kind=CampaignKind.FLASH_SALE,
            status=CampaignStatus.PUBLISHED,
            starts_at__lte=now,
            ends_at__gt=now,
        ).order_by("ends_at", "id")[:20]
    )
