"""Cleaning a flash sale's setup from a form or JSON: texts, times, items, stores and groups.

See ``siyu.campaigns.services.flash_sales`` for the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    FlashSaleItem,
)
from siyu.campaigns.services import flash_config
from siyu.campaigns.services.flash_sales.phases import (
    DEFAULT_PICKUP,
    FLASH_FIELDS,
    ITEM_FIELDS,
    MAX_COMMUNITIES,
    MAX_DURATION,
    MAX_ITEMS,
    MAX_PER_MEMBER,
    MAX_PICKUP_AFTER_END,
    MAX_START_AHEAD,
    MAX_STOCK,
    MAX_STORES,
    MAX_WARMUP_BEFORE,
)
from siyu.campaigns.services.flash_sales.visibility import get_campaign
from siyu.catalog.models import Publication, Sku
from siyu.catalog.services.products import MAX_PRICE_FEN
from siyu.catalog.services.reach import publication_q
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import clean_int, clean_text, parse_ids
from siyu.communities.models import Community
from siyu.org.models import Staff, Store
from siyu.org.services.stores import open_stores

# --- validation ---------------------------------------------------------------------------------------


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    return clean_text(data.get(name), name, limit, required=required)


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


def id_list(value: Any, name: str, limit: int) -> list[int]:
    """Distinct ids, sorted (``parse_ids``); a set is taken as a list."""
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)
    try:
        return sorted(parse_ids(value, name, limit=limit))
    except NotFound:
        raise ValidationFailed(_("Expected a list of ids."), field=name) from None


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
        price = clean_int(
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
        stock = clean_int(
            row.get("stock"),
            f"items.{i}.stock",
            1,
            MAX_STOCK,
            _("The stock is a whole number from 1 to %(max)s.") % {"max": MAX_STOCK},
        )
        limit = clean_int(
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
        clean.store_ids = id_list(data.get("store_ids"), "store_ids", MAX_STORES)
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
            id_list(data.get("community_ids"), "community_ids", MAX_COMMUNITIES)
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
