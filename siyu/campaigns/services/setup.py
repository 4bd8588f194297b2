"""Setting up flash sales (秒杀): create, edit, publish and cancel them; which sales a staff member sees; and
the live numbers of a running sale.

Who may do what:

- HQ admins and HQ operators create, edit, publish and cancel flash sales (store roles: PermissionDenied).
- Store staff (managers, clerks) see the *published or cancelled* sales that run in one of their stores
  (a sale with no stores chosen runs in every open store), read-only; drafts and other stores' sales look
  absent (NotFound). Their live numbers (units sold, orders written, orders per second, relay log) count
  only their own stores. The units *left* are the sale's one shared pool, the same number members see on
  the sale page, so everyone sees it.

Lifecycle: a sale is created as a **draft**, editable in full. **Publishing** fixes it: from then on its
items, prices, stock, limits, stores, groups and start are fixed — only the description, the end (later
only) and the pickup deadline (later only) can change — and ``flash_admission.open_sale`` opens admission.
**Cancelling** (draft or published, before the end) stops admission; orders already written stay as they
are, and staff cancel or refund them one by one like any order.

Every refused request raises ``ValidationFailed``/``Conflict`` (with ``field``) or ``PermissionDenied``/
``NotFound`` and changes nothing; every change is audited (``campaign.create|update|publish|cancel``).
Times are aware datetimes; money is integer fen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    FlashReservation,
    FlashSaleItem,
    RelayPost,
)
from siyu.campaigns.services import flash_admission, flash_config
from siyu.catalog.models import Publication, Sku
from siyu.catalog.services.products import MAX_PRICE_FEN
from siyu.catalog.services.reach import publication_q
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.communities.models import Community
from siyu.orders.models import Order, OrderSource
from siyu.org.models import Staff, Store
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

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


# --- permissions and lookups ---------------------------------------------------------------------------


def can_manage(staff: Staff) -> bool:
    """HQ roles (and superusers) set up flash sales; store roles only look."""
    return bool(staff.is_active and (staff.is_superuser or staff.is_hq))


def require_manager(staff: Staff) -> Staff:
    """Raise PermissionDenied unless ``staff`` is head office (admin or operator)."""
    require_staff(staff)
    if not can_manage(staff):
        raise PermissionDenied(_("Only head office can set up flash sales."))
    return staff


def _parse_id(value: Any, field_name: str, message: str) -> int:
    if isinstance(value, bool):
        raise NotFound(message, field=field_name)
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise NotFound(message, field=field_name) from None
    if not 0 < pk < 2**63:
        raise NotFound(message, field=field_name)
    return pk


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
    pk = _parse_id(campaign_id, "campaign", _("No such flash sale."))
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


# --- validation ---------------------------------------------------------------------------------------


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(_("Expected text."), field=name)
    value = value.strip()
    if "\x00" in value:
        raise ValidationFailed(_("Invalid characters."), field=name)
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=name)
    if len(value) > limit:
        raise ValidationFailed(_("Too long (%(limit)s characters at most).") % {"limit": limit}, field=name)
    return value


def _moment(value: Any, name: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise ValidationFailed(_("Choose a date and time."), field=name)
        return None
    if not isinstance(value, datetime):
        raise ValidationFailed(_("Choose a date and time."), field=name)
    if timezone.is_naive(value):
        raise ValidationFailed(_("Give the time with its time zone."), field=name)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed(_("Choose a date and time."), field=name) from None


def _int(value: Any, name: str, low: int, high: int, message: str) -> int:
    # bool is an int subclass and floats/strings hide rounding: only a real int counts.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(message, field=name)
    return value


def _ids(value: Any, name: str, limit: int) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValidationFailed(_("Expected a list of ids."), field=name)
    if len(value) > limit:
        raise ValidationFailed(_("Too many (%(limit)s at most).") % {"limit": limit}, field=name)
    ids: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 < item < 2**63:
            raise ValidationFailed(_("Expected a list of ids."), field=name)
        ids.add(item)
    return sorted(ids)


@dataclass
class _ItemSpec:
    sku: Sku
    price_fen: int
    stock: int
    per_member_limit: int

    def as_audit(self) -> list[int]:
        return [self.sku.pk, self.price_fen, self.stock, self.per_member_limit]


def _item_dict(raw: Any, index: int) -> dict[str, Any]:
    if isinstance(raw, list | tuple) and len(raw) == len(ITEM_FIELDS):
        return dict(zip(ITEM_FIELDS, raw, strict=True))
    if isinstance(raw, dict):
        data = dict(raw)
        if "sku" in data and "sku_id" not in data:
            data["sku_id"] = data.pop("sku")
        unknown = set(data) - set(ITEM_FIELDS)
        if unknown:
            raise ValidationFailed(_("Unknown field."), field=f"items.{index}.{sorted(unknown)[0]}")
        return data
    raise ValidationFailed(_("Each item needs a SKU, a price, a stock and a limit."), field=f"items.{index}")


def _clean_items(value: Any, brand_id: int) -> list[_ItemSpec]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(_("Add at least one item."), field="items")
    if len(value) > MAX_ITEMS:
        raise ValidationFailed(_("A flash sale has at most %(n)s items.") % {"n": MAX_ITEMS}, field="items")
    rows = [_item_dict(raw, i) for i, raw in enumerate(value)]
    sku_ids: list[int] = []
    for i, row in enumerate(rows):
        sku_id = row.get("sku_id")
        if isinstance(sku_id, Sku):
            sku_id = sku_id.pk
        if isinstance(sku_id, bool) or not isinstance(sku_id, int) or not 0 < sku_id < 2**63:
            raise ValidationFailed(_("Choose a SKU."), field=f"items.{i}.sku_id")
        if sku_id in sku_ids:
            raise ValidationFailed(_("Each SKU can be in a sale only once."), field=f"items.{i}.sku_id")
        sku_ids.append(sku_id)
    skus = {
        s.pk: s
        for s in Sku.objects.select_related("product").filter(pk__in=sku_ids, product__brand_id=brand_id)
    }
    specs: list[_ItemSpec] = []
    for i, (row, sku_id) in enumerate(zip(rows, sku_ids, strict=True)):
        sku = skus.get(sku_id)
        if sku is None:
            raise ValidationFailed(_("No such SKU."), field=f"items.{i}.sku_id")
        if not (sku.active and sku.product.active):
            raise ValidationFailed(
                _("%(sku)s is not active.") % {"sku": _sku_label(sku)}, field=f"items.{i}.sku_id"
            )
        price = _int(
            row.get("price_fen"),
            f"items.{i}.price_fen",
            1,
            MAX_PRICE_FEN,
            _("Give the flash price as a whole number of fen above zero."),
        )
        if price > sku.price_fen:
            raise ValidationFailed(
                _("The flash price cannot be above the normal price (%(price)s fen).")
                % {"price": sku.price_fen},
                field=f"items.{i}.price_fen",
            )
        stock = _int(
            row.get("stock"),
            f"items.{i}.stock",
            1,
            MAX_STOCK,
            _("The stock is a whole number from 1 to %(max)s.") % {"max": MAX_STOCK},
        )
        limit = _int(
            row.get("per_member_limit", 1),
            f"items.{i}.per_member_limit",
            1,
            MAX_PER_MEMBER,
            _("The limit per member is a whole number from 1 to %(max)s.") % {"max": MAX_PER_MEMBER},
        )
        specs.append(_ItemSpec(sku=sku, price_fen=price, stock=stock, per_member_limit=limit))
    return specs


def _sku_label(sku: Sku) -> str:
    return f"{sku.product.name} {sku.spec or sku.code}".strip()


def _check_published(items: list[_ItemSpec], stores: list[Store]) -> None:
    """Every item's product must be published (a live publication) to every pickup store of the sale."""
    product_ids = {spec.sku.product_id for spec in items}
    if not stores:
        raise ValidationFailed(_("The sale has no open store to pick up at."), field="store_ids")
    for store in stores:
        reached = set(
            Publication.objects.filter(publication_q(store), product_id__in=product_ids).values_list(
                "product_id", flat=True
            )
        )
        for i, spec in enumerate(items):
            if spec.sku.product_id not in reached:
                raise ValidationFailed(
                    _("%(sku)s is not published to %(store)s.")
                    % {"sku": _sku_label(spec.sku), "store": store.name},
                    field=f"items.{i}.sku_id",
                )


@dataclass
class _Clean:
    fields: dict[str, Any] = field(default_factory=dict)
    store_ids: list[int] | None = None
    community_ids: list[int] | None = None
    items: list[_ItemSpec] | None = None


def _resolve_stores(brand_id: int, store_ids: list[int]) -> list[Store]:
    """The pickup stores for ``store_ids`` (none: every open store of the brand)."""
    if not store_ids:
        return list(open_stores(brand_id))
    found = list(Store.objects.filter(brand_id=brand_id, pk__in=store_ids).order_by("code"))
    if len(found) != len(store_ids):
        raise ValidationFailed(_("No such store."), field="store_ids")
    for store in found:
        if store.status != Store.Status.OPEN:
            raise ValidationFailed(_("%(store)s is not open.") % {"store": store.name}, field="store_ids")
    return found


def _resolve_communities(brand_id: int, community_ids: list[int], stores: list[Store]) -> list[int]:
    if not community_ids:
        return []
    store_ids = {s.pk for s in stores}
    rows = list(
        Community.objects.filter(brand_id=brand_id, pk__in=community_ids).values_list(
            "pk", "store_id", "status"
        )
    )
    if len(rows) != len(community_ids):
        raise ValidationFailed(_("No such group."), field="community_ids")
    for _pk, store_id, status in rows:
        if status == Community.Status.ARCHIVED:
            raise ValidationFailed(_("A chosen group is closed."), field="community_ids")
        if store_id not in store_ids:
            raise ValidationFailed(_("Choose groups of the sale's stores only."), field="community_ids")
    return sorted(community_ids)


def _clean(data: dict[str, Any], *, brand_id: int, current: Campaign | None, now: datetime) -> _Clean:
    """Validate ``data`` (all fields when creating, the given ones when editing) against the result it
    would give; raises on the first refused field."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("Expected an object."), field=None)
    unknown = set(data) - set(FLASH_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    creating = current is None
    clean = _Clean()
    out = clean.fields
    if creating or "title" in data:
        out["title"] = _text(data, "title", 100, required=True)
    if "description" in data:
        out["description"] = _text(data, "description", 2000)
    for name in ("warmup_text", "start_text"):
        if name in data:
            out[name] = _text(data, name, 500)
    if "relay_enabled" in data:
        if not isinstance(data["relay_enabled"], bool):
            raise ValidationFailed(_("Expected true or false."), field="relay_enabled")
        out["relay_enabled"] = data["relay_enabled"]
    for name in ("starts_at", "ends_at"):
        if creating or name in data:
            out[name] = _moment(data.get(name), name, required=True)
    for name in ("pickup_until", "warmup_at"):
        if name in data:
            out[name] = _moment(data.get(name), name, required=False)

    def value(name: str) -> Any:
        return out[name] if name in out else getattr(current, name, None)

    starts_at: datetime = value("starts_at")
    ends_at: datetime = value("ends_at")
    if ends_at <= starts_at:
        raise ValidationFailed(_("The sale must end after it starts."), field="ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise ValidationFailed(_("A flash sale runs at most 90 days."), field="ends_at")
    if ends_at <= now:
        raise ValidationFailed(_("The end must be in the future."), field="ends_at")
    if "starts_at" in out and starts_at > now + MAX_START_AHEAD:
        raise ValidationFailed(_("A flash sale starts at most a year ahead."), field="starts_at")
    pickup_until = value("pickup_until")
    if pickup_until is None or (
        "pickup_until" not in data
        and current is not None
        and "ends_at" in out
        and (pickup_until < ends_at or pickup_until == current.ends_at + DEFAULT_PICKUP)
    ):
        # Not given: three days after the end (following the end when it moves, unless set by hand).
        pickup_until = ends_at + DEFAULT_PICKUP
        out["pickup_until"] = pickup_until
    if pickup_until < ends_at:
        raise ValidationFailed(_("Pickup must last at least until the sale ends."), field="pickup_until")
    if pickup_until - ends_at > MAX_PICKUP_AFTER_END:
        raise ValidationFailed(_("Pickup lasts at most 90 days after the end."), field="pickup_until")
    warmup_at = value("warmup_at")
    if warmup_at is not None and not (starts_at - MAX_WARMUP_BEFORE <= warmup_at < starts_at):
        raise ValidationFailed(
            _("The warm-up post goes out before the start (at most 30 days before)."), field="warmup_at"
        )

    if creating or "store_ids" in data:
        clean.store_ids = _ids(data.get("store_ids"), "store_ids", MAX_STORES)
    store_ids = (
        clean.store_ids
        if clean.store_ids is not None
        else list(current.stores.values_list("pk", flat=True))
        if current is not None
        else []
    )
    stores = _resolve_stores(brand_id, store_ids)
    if creating or "community_ids" in data or "store_ids" in data:
        community_ids = (
            _ids(data.get("community_ids"), "community_ids", MAX_COMMUNITIES)
            if creating or "community_ids" in data
            else list(current.communities.values_list("pk", flat=True))  # type: ignore[union-attr]
        )
        clean.community_ids = _resolve_communities(brand_id, community_ids, stores)
    if creating or "items" in data:
        clean.items = _clean_items(data.get("items"), brand_id)
    if clean.items is not None or clean.store_ids is not None:
        items = clean.items if clean.items is not None else _current_items(current)
        _check_published(items, stores)
    return clean


def _current_items(campaign: Campaign | None) -> list[_ItemSpec]:
    if campaign is None:
        return []
    return [
        _ItemSpec(sku=i.sku, price_fen=i.price_fen, stock=i.stock, per_member_limit=i.per_member_limit)
        for i in campaign.flash_items.select_related("sku__product").order_by("position", "id")
    ]


def _write_items(campaign: Campaign, items: list[_ItemSpec]) -> None:
    FlashSaleItem.objects.filter(campaign=campaign).delete()
    FlashSaleItem.objects.bulk_create(
        [
            FlashSaleItem(
                campaign=campaign,
                sku=spec.sku,
                price_fen=spec.price_fen,
                stock=spec.stock,
                per_member_limit=spec.per_member_limit,
                position=i,
            )
            for i, spec in enumerate(items)
        ]
    )


def _audit_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _forget_config_on_commit(campaign_id: int) -> None:
    # Admission reads a sale's window and status from a per-process cache (2 s): this process forgets it
    # now and again after the commit; other processes within the cache's lifetime.
    flash_config.invalidate(campaign_id)
    transaction.on_commit(lambda: flash_config.invalidate(campaign_id))


def _locked(staff: Staff, campaign_id: Any) -> Campaign:
    campaign = get_campaign(staff, campaign_id)
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


# --- create / update / publish / cancel ---------------------------------------------------------------


def create_flash_sale(staff: Staff, data: dict[str, Any], *, now: datetime | None = None) -> Campaign:
    """Create a draft flash sale (head office only).

    ``data``: title, description, starts_at, ends_at (after the start, in the future, ≤ 90 days long),
    pickup_until (≥ end; default end + 3 days), store_ids (none: every open store), community_ids (groups
    of those stores, not archived), warmup_at (before the start), warmup_text, start_text, relay_enabled,
    items: a list of ``{"sku_id", "price_fen", "stock", "per_member_limit"}`` (or 4-tuples) — 1 to 20
    items, no SKU twice, each SKU active and its product published to every pickup store, price 1 fen up
    to the SKU's normal price, stock 1–100000, limit 1–99.

    Guarantees: all or nothing; audited as ``campaign.create``; ValidationFailed names the first refused
    field (``items.<n>.<field>`` for an item).
    """
    return _create(staff, data, now=now)


def create_as_system(brand_id: int, data: dict[str, Any], *, now: datetime | None = None) -> Campaign:
    """``create_flash_sale`` without a staff actor (demo seeding, commands): same rules and guarantees,
    audited with no actor."""
    return _create(None, data, now=now, brand_id=brand_id)


def _create(
    staff: Staff | None, data: dict[str, Any], *, now: datetime | None, brand_id: int | None = None
) -> Campaign:
    if staff is not None:
        require_manager(staff)
        brand_id = current_brand_id(staff)
    assert brand_id is not None
    now = now or timezone.now()
    clean = _clean(data, brand_id=brand_id, current=None, now=now)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            brand_id=brand_id,
            kind=CampaignKind.FLASH_SALE,
            created_by=staff if staff is not None and staff.pk else None,
            **clean.fields,
        )
        campaign.stores.set(clean.store_ids or [])
        campaign.communities.set(clean.community_ids or [])
        _write_items(campaign, clean.items or [])
        record_audit(
            staff,
            "campaign.create",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "kind": campaign.kind,
                "title": campaign.title,
                "starts_at": campaign.starts_at.isoformat(),
                "ends_at": campaign.ends_at.isoformat(),
                "stores": clean.store_ids or [],
                "communities": clean.community_ids or [],
                "items": [spec.as_audit() for spec in clean.items or []],
            },
        )
    return campaign


def update_flash_sale(
    staff: Staff, campaign_id: Any, data: dict[str, Any], *, now: datetime | None = None
) -> Campaign:
    """Change a flash sale (head office only); only the fields given change, with the rules of
    ``create_flash_sale`` checked on the result (``items``, when given, replace all items).

    A draft is editable in full. A published sale only takes ``description``, a later ``ends_at`` and a
    later ``pickup_until`` (anything else: Conflict ``published``); a cancelled or ended one nothing
    (Conflict). Unchanged values write nothing; a change is audited as ``campaign.update``.
    """
    require_manager(staff)
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(staff, campaign_id)
        if campaign.status == CampaignStatus.CANCELLED:
            raise Conflict(_("This flash sale was cancelled."), field="status", code="cancelled")
        if campaign.status == CampaignStatus.PUBLISHED:
            if not isinstance(data, dict):
                raise ValidationFailed(_("Expected an object."))
            fixed = sorted(set(data) - PUBLISHED_EDITABLE)
            if fixed and set(fixed) <= set(FLASH_FIELDS):
                raise Conflict(
                    _(
                        "A published flash sale is fixed: only its description, end and pickup "
                        "deadline can change."
                    ),
                    field=fixed[0],
                    code="published",
                )
            if campaign.ends_at <= now:
                raise Conflict(_("This flash sale has ended."), field="ends_at", code="ended")
        clean = _clean(data, brand_id=campaign.brand_id, current=campaign, now=now)
        if campaign.status == CampaignStatus.PUBLISHED:
            for name in ("ends_at", "pickup_until"):
                if name in clean.fields and clean.fields[name] < getattr(campaign, name):
                    raise Conflict(
                        _("A published flash sale can only be extended."), field=name, code="published"
                    )
        changes: dict[str, Any] = {k: v for k, v in clean.fields.items() if getattr(campaign, k) != v}
        if clean.store_ids is not None and set(clean.store_ids) != set(
            campaign.stores.values_list("pk", flat=True)
        ):
            changes["store_ids"] = clean.store_ids
        if clean.community_ids is not None and set(clean.community_ids) != set(
            campaign.communities.values_list("pk", flat=True)
        ):
            changes["community_ids"] = clean.community_ids
        if clean.items is not None and [s.as_audit() for s in clean.items] != [
            s.as_audit() for s in _current_items(campaign)
        ]:
            changes["items"] = clean.items
        if not changes:
            return campaign
        for name, new in changes.items():
            if name in FLASH_FIELDS and name not in ("store_ids", "community_ids", "items"):
                setattr(campaign, name, new)
        campaign.save()
        if "store_ids" in changes:
            campaign.stores.set(changes["store_ids"])
        if "community_ids" in changes:
            campaign.communities.set(changes["community_ids"])
        if "items" in changes:
            _write_items(campaign, changes["items"])
        if campaign.status == CampaignStatus.PUBLISHED and {"ends_at", "pickup_until"} & set(changes):
            # The counters' lifetime follows the window: load them again (idempotent, under its lock).
            flash_admission.open_sale(campaign)
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.update",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "changes": {
                    k: [s.as_audit() for s in v] if k == "items" else _audit_value(v)
                    for k, v in sorted(changes.items())
                }
            },
        )
    return campaign


def publish_flash_sale(staff: Staff, campaign_id: Any, *, now: datetime | None = None) -> Campaign:
    """Publish a draft flash sale (head office only): status published, ``published_at`` set, admission
    opened with ``flash_admission.open_sale`` — in one transaction, so a failure to open leaves the draft.

    Checks again that the sale has items, has not ended and that every item's SKU is still active and
    published to every pickup store. Publishing a published sale returns it unchanged; a cancelled one is
    Conflict ``cancelled``, an ended one Conflict ``ended``. Audited as ``campaign.publish``.
    """
    return _publish(staff, campaign_id, now=now)


def publish_as_system(campaign: Campaign, *, now: datetime | None = None) -> Campaign:
    """``publish_flash_sale`` without a staff actor (demo seeding, commands): same checks and
    guarantees, audited with no actor."""
    return _publish(None, campaign.pk, now=now, campaign=campaign)


def _publish(
    staff: Staff | None, campaign_id: Any, *, now: datetime | None, campaign: Campaign | None = None
) -> Campaign:
    if staff is not None:
        require_manager(staff)
    now = now or timezone.now()
    with transaction.atomic():
        if staff is not None:
            campaign = _locked(staff, campaign_id)
        else:
            assert campaign is not None
            campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.PUBLISHED:
            return campaign
        if campaign.status == CampaignStatus.CANCELLED:
            raise Conflict(_("This flash sale was cancelled."), field="status", code="cancelled")
        if campaign.ends_at <= now:
            raise Conflict(_("This flash sale has already ended."), field="ends_at", code="ended")
        items = _current_items(campaign)
        if not items:
            raise ValidationFailed(_("Add at least one item."), field="items")
        for i, spec in enumerate(items):
            if not (spec.sku.active and spec.sku.product.active):
                raise ValidationFailed(
                    _("%(sku)s is not active.") % {"sku": _sku_label(spec.sku)}, field=f"items.{i}.sku_id"
                )
        _check_published(items, list(sale_stores(campaign)))
        claimed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.PUBLISHED, published_at=now, updated_at=now
        )
        if not claimed:  # pragma: no cover - the row is locked; kept as the guard the rules ask for
            raise Conflict(_("This flash sale changed meanwhile; try again."), code="conflict")
        campaign.refresh_from_db()
        flash_admission.open_sale(campaign)  # fixes admission_backend; on Redis loads the counters
        campaign.refresh_from_db()
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.publish",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"backend": campaign.admission_backend, "starts_at": campaign.starts_at.isoformat()},
        )
    return campaign


def cancel_flash_sale(
    staff: Staff, campaign_id: Any, *, reason: str = "", now: datetime | None = None
) -> Campaign:
    """Cancel a draft or published flash sale before its end (head office only): status cancelled, so
    admission refuses every further purchase (``not_running``). Orders already written stay; staff cancel
    or refund them one by one. Cancelling a cancelled sale returns it unchanged; an ended sale is Conflict
    ``ended``. ``reason`` (≤ 200 characters) goes into the audit entry ``campaign.cancel``."""
    require_manager(staff)
    now = now or timezone.now()
    reason = _text({"reason": reason}, "reason", 200)
    with transaction.atomic():
        campaign = _locked(staff, campaign_id)
        if campaign.status == CampaignStatus.CANCELLED:
            return campaign
        if campaign.status == CampaignStatus.PUBLISHED and campaign.ends_at <= now:
            raise Conflict(_("This flash sale has already ended."), field="ends_at", code="ended")
        previous = campaign.status
        claimed = Campaign.objects.filter(
            pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.PUBLISHED]
        ).update(status=CampaignStatus.CANCELLED, updated_at=now)
        if not claimed:  # pragma: no cover - the row is locked
            raise Conflict(_("This flash sale changed meanwhile; try again."), code="conflict")
        campaign.refresh_from_db()
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.cancel",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"from": previous, "reason": reason},
        )
    return campaign


# --- live numbers ---------------------------------------------------------------------------------------


@dataclass
class ItemStats:
    item: FlashSaleItem
    stock: int
    remaining: int | None  # the sale's shared pool; None when the counters cannot be read
    sold: int  # units held by written orders (store staff: picked up at their stores)

    @property
    def admitted(self) -> int | None:
        """Units admitted so far, written or not (stock − remaining)."""
        return None if self.remaining is None else self.stock - self.remaining


@dataclass
class RelayLine:
    post: RelayPost
    group: str
    text: str


@dataclass
class LiveStats:
    campaign: Campaign
    phase: str
    scoped: bool  # numbers limited to the caller's stores
    items: list[ItemStats]
    orders_written: int
    orders_last_window: int
    orders_per_second: float
    series_labels: list[str]
    series_counts: list[int]
    relay: list[RelayLine]
    remaining_known: bool = True
    now: datetime = field(default_factory=timezone.now)

    @property
    def stock_total(self) -> int:
        return sum(i.stock for i in self.items)

    @property
    def sold_total(self) -> int:
        return sum(i.sold for i in self.items)

    @property
    def remaining_total(self) -> int | None:
        if not self.remaining_known:
            return None
        return sum(i.remaining or 0 for i in self.items)


def units_left(campaign: Campaign, items: list[FlashSaleItem]) -> dict[int, int] | None:
    """Units left per item of ``items`` (the sale's shared pool, ``flash_admission.remaining_units``; a
    draft: its stock), or None when the counters cannot be read — pages showing it must not fail."""
    if campaign.status == CampaignStatus.DRAFT:
        return {i.pk: i.stock for i in items}
    try:
        left = flash_admission.remaining_units(campaign.pk)
    except Exception:
        logger.exception("remaining units of campaign %s unavailable", campaign.pk)
        return None
    return {i.pk: left.get(i.pk, 0) for i in items}


def live_stats(staff: Staff, campaign_id: Any, *, now: datetime | None = None) -> LiveStats:
    """The live numbers of a flash sale for ``staff`` (NotFound when it may not see it): per item stock,
    units left (the shared pool, from ``flash_admission.remaining_units``) and units sold by written
    orders; orders written; orders per second over the last 10 seconds; orders per 10 seconds over the
    last 10 minutes; and the latest relay posts. For store staff every count (not the units left) covers
    only their stores, and the relay log only their stores' groups. Reads only."""
    campaign = get_campaign(staff, campaign_id)
    now = now or timezone.now()
    scope = store_scope(staff)
    items = list(campaign.flash_items.select_related("sku__product").order_by("position", "id"))
    left = units_left(campaign, items)
    if scope is None:
        sold = {i.pk: i.sold for i in items}
    else:
        sold = dict(
            FlashReservation.objects.filter(
                campaign=campaign, status=FlashReservation.Status.ACTIVE, store_id__in=scope
            )
            .order_by()
            .values("item_id")
            .annotate(total=Sum("quantity"))
            .values_list("item_id", "total")
        )
    item_stats = [
        ItemStats(
            item=i,
            stock=i.stock,
            remaining=None if left is None else left.get(i.pk, 0),
            sold=int(sold.get(i.pk) or 0),
        )
        for i in items
    ]
    orders = Order.objects.filter(campaign_id=campaign.pk, source=OrderSource.FLASH_SALE)
    if scope is not None:
        orders = orders.filter(store_id__in=scope)
    start = now - BUCKET * BUCKETS
    aggregates: dict[str, Any] = {
        "total": Count("id"),
        "recent": Count("id", filter=Q(created_at__gt=now - RATE_WINDOW, created_at__lte=now)),
    }
    edges = [start + BUCKET * i for i in range(BUCKETS + 1)]
    for i in range(BUCKETS):
        aggregates[f"b{i}"] = Count("id", filter=Q(created_at__gt=edges[i], created_at__lte=edges[i + 1]))
    counts = orders.aggregate(**aggregates)
    relay_qs = RelayPost.objects.filter(campaign=campaign).select_related("community", "message")
    if scope is not None:
        relay_qs = relay_qs.filter(community__store_id__in=scope)
    relay = [
        RelayLine(
            post=p,
            group=p.community.name,
            text=(p.message.text or (p.message.card or {}).get("title", "")) if p.message else "",
        )
        for p in relay_qs.order_by("-created_at", "-id")[:RELAY_LOG_SIZE]
    ]
    recent = int(counts["recent"] or 0)
    return LiveStats(
        campaign=campaign,
        phase=phase(campaign, now),
        scoped=scope is not None,
        items=item_stats,
        orders_written=int(counts["total"] or 0),
        orders_last_window=recent,
        orders_per_second=round(recent / RATE_WINDOW.total_seconds(), 1),
        series_labels=[timezone.localtime(edges[i + 1]).strftime("%H:%M:%S") for i in range(BUCKETS)],
        series_counts=[int(counts[f"b{i}"] or 0) for i in range(BUCKETS)],
        relay=relay,
        remaining_known=left is not None,
        now=now,
    )
