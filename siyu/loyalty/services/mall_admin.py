"""The points mall as head office sets it up: items (create, edit, deactivate, add stock), for the console
and the API.

Guarantees:
- Changing items needs the capability ``loyalty.manage`` (head office); reading is open to every staff member
  of the brand (store staff see the list read-only). Items of another brand are NotFound.
- Every value is checked here, so a form and the API refuse the same things with the same message
  (``ValidationFailed`` naming the field): a coupon item names a coupon template of the brand, a product item
  a SKU of the brand (and optionally one of that product's pictures); points 1–1,000,000; a per-member limit
  1–1,000 or none; a window whose end is after its start; stores of the brand.
- **Stock is never set by read-modify-write.** An item is created with its first stock; afterwards stock only
  grows through ``add_stock`` — one conditional ``UPDATE … SET stock = stock + n`` in the same transaction as
  a ``StockAddition`` row whose key is unique (client keys scoped to the staff member): a retried addition
  adds once, the same key for another addition is ``idempotency_mismatch``. Exchanges take units with their
  own conditional UPDATE, so the two never overwrite each other.
- Deactivating hides the item from the mall at once; live exchanges are untouched. Changes are audited
  (``loyalty.mall``).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext as _

from siyu.catalog.models import ProductImage, Sku
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash
from siyu.common.validators import (
    MAX_DB_ID,
    clean_idempotency_key,
    clean_int,
    clean_text,
    optional_aware_datetime,
)
from siyu.loyalty.models import CouponTemplate, MallItem, StockAddition
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import brand_stores

MAX_POINTS = 1_000_000
MAX_STOCK = 1_000_000
MAX_LIMIT = 1_000
FIELDS = (
    "kind",
    "name",
    "description",
    "points",
    "stock",
    "member_limit",
    "coupon_template_id",
    "sku_id",
    "image_id",
    "store_ids",
    "starts_at",
    "ends_at",
    "position",
    "active",
)


def list_items(staff: Staff, *, active: bool | None = None) -> QuerySet[MallItem]:
    """The brand's items with ``exchanges_count`` (live exchanges), newest position order."""
    require_staff(staff)
    qs = (
        MallItem.objects.filter(brand_id=current_brand_id(staff))
        .select_related("sku__product", "coupon_template", "image")
        .prefetch_related("stores", "sku__product__images")
        .annotate(exchanges_count=Count("exchanges", filter=Q(exchanges__status="done")))
    )
    if active is not None:
        qs = qs.filter(active=active)
    return qs.order_by("-active", "position", "id")


def get_item(staff: Staff, item_id: Any) -> MallItem:
    pk = clean_int(item_id, "item", 1, MAX_DB_ID, _("No such item in the points mall."), from_text=True)
    item = list_items(staff).filter(pk=pk).first()
    if item is None:
        raise NotFound(_("No such item in the points mall."), field="item")
    return item


def coupon_choices(staff: Staff) -> QuerySet[CouponTemplate]:
    return CouponTemplate.objects.filter(brand_id=current_brand_id(staff)).order_by("-id")


def sku_choices(staff: Staff) -> QuerySet[Sku]:
    return (
        Sku.objects.filter(product__brand_id=current_brand_id(staff))
        .select_related("product")
        .order_by("product__name", "code")
    )


def picture_choices(item: MallItem | None) -> list[ProductImage]:
    """The pictures an item can show: its product's."""
    if item is None or item.sku is None:
        return []
    return list(item.sku.product.images.order_by("position", "id"))


def picture_url(item: MallItem) -> str:
    """The item's picture (the chosen one, else the product's main one; coupons: none)."""
    if item.sku is None:
        return ""
    if item.image is not None and item.image.product_id == item.sku.product_id:
        return item.image.url("thumb")
    images = sorted(item.sku.product.images.all(), key=lambda i: (i.position, i.pk))
    return images[0].url("thumb") if images else item.sku.product.image_url


def _ref(value: Any, field: str, message: str) -> int:
    return clean_int(value, field, 1, MAX_DB_ID, message, from_text=True)


def _clean(
    staff: Staff, data: dict[str, Any], item: MallItem | None
) -> tuple[dict[str, Any], list[Store] | None]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    brand_id = current_brand_id(staff)
    kind = data.get("kind", item.kind if item else None)
    if kind not in MallItem.Kind.values:
        raise ValidationFailed(_("Choose a coupon or a product."), field="kind")
    if item is not None and kind != item.kind:
        raise ValidationFailed(_("An item's kind cannot change; make a new item."), field="kind")
    values: dict[str, Any] = {"kind": kind}
    if item is None or "name" in data:
        values["name"] = clean_text(data.get("name"), "name", 60, required=True)
    if "description" in data:
        values["description"] = clean_text(data.get("description"), "description", 200)
    if item is None or "points" in data:
        values["points"] = clean_int(
            data.get("points"),
            "points",
            1,
            MAX_POINTS,
            _("Points must be a whole number from 1 to 1,000,000."),
            from_text=True,
        )
    if item is None:
        values["stock"] = clean_int(
            data.get("stock", 0),
            "stock",
            0,
            MAX_STOCK,
            _("Stock must be a whole number from 0 to 1,000,000."),
            from_text=True,
        )
    elif "stock" in data:
        raise ValidationFailed(_("Add stock instead of setting it."), field="stock")
    if item is None or "member_limit" in data:
        raw = data.get("member_limit")
        values["member_limit"] = (
            None
            if raw in (None, "")
            else clean_int(
                raw,
                "member_limit",
                1,
                MAX_LIMIT,
                _("Leave empty, or give a whole number from 1 to 1,000."),
                from_text=True,
            )
        )
    if kind == MallItem.Kind.COUPON:
        if item is None or "coupon_template_id" in data:
            pk = _ref(data.get("coupon_template_id"), "coupon_template_id", _("Choose a coupon."))
            template = CouponTemplate.objects.filter(brand_id=brand_id, pk=pk).first()
            if template is None:
                raise ValidationFailed(_("Choose a coupon."), field="coupon_template_id")
            values["coupon_template"] = template
        for field in ("sku_id", "image_id"):
            if data.get(field) not in (None, ""):
                raise ValidationFailed(_("A coupon item has no product."), field=field)
    else:
        if data.get("coupon_template_id") not in (None, ""):
            raise ValidationFailed(_("A product item has no coupon."), field="coupon_template_id")
        sku = item.sku if item else None
        if item is None or "sku_id" in data:
            pk = _ref(data.get("sku_id"), "sku_id", _("Choose a product."))
            sku = Sku.objects.filter(product__brand_id=brand_id, pk=pk).select_related("product").first()
            if sku is None:
                raise ValidationFailed(_("Choose a product."), field="sku_id")
            values["sku"] = sku
        if "image_id" in data or "sku_id" in data:
            raw = data.get("image_id")
            image = None
            if raw not in (None, ""):
                image_pk = _ref(raw, "image_id", _("Choose one of the product's pictures."))
                assert sku is not None
                image = ProductImage.objects.filter(pk=image_pk, product_id=sku.product_id).first()
                if image is None:
                    raise ValidationFailed(_("Choose one of the product's pictures."), field="image_id")
            values["image"] = image
    for field in ("starts_at", "ends_at"):
        if item is None or field in data:
            values[field] = optional_aware_datetime(data.get(field), field)
    starts = values.get("starts_at", item.starts_at if item else None)
    ends = values.get("ends_at", item.ends_at if item else None)
    if starts and ends and ends <= starts:
        raise ValidationFailed(_("The item must end after it starts."), field="ends_at")
    if "position" in data:
        values["position"] = clean_int(data["position"], "position", 0, 1000, from_text=True)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationFailed(_("Give true or false."), field="active")
        values["active"] = data["active"]
    stores: list[Store] | None = None
    if item is None or "store_ids" in data:
        stores = brand_stores(brand_id, data.get("store_ids"))
    return values, stores


def create_item(staff: Staff, data: dict[str, Any]) -> MallItem:
    """A new item of the staff member's brand, with its first stock."""
    check_capability(staff, "loyalty.manage")
    values, stores = _clean(staff, data, None)
    with transaction.atomic():
        item = MallItem.objects.create(brand_id=current_brand_id(staff), **values)
        if stores:
            item.stores.set(stores)
        record_audit(
            staff, "loyalty.mall", target_type="mall_item", target_id=item.pk, detail={"created": True}
        )
    return get_item(staff, item.pk)


def update_item(staff: Staff, item_id: Any, data: dict[str, Any]) -> MallItem:
    """Change the fields given (not the kind, not the stock: ``add_stock``)."""
    check_capability(staff, "loyalty.manage")
    item = get_item(staff, item_id)
    values, stores = _clean(staff, data, item)
    values.pop("kind", None)
    with transaction.atomic():
        if values:
            MallItem.objects.filter(pk=item.pk).update(**values)
        if stores is not None:
            item.stores.set(stores)
        record_audit(
            staff,
            "loyalty.mall",
            target_type="mall_item",
            target_id=item.pk,
            detail={"changed": sorted(data)},
        )
    return get_item(staff, item.pk)


def set_active(staff: Staff, item_id: Any, active: bool) -> MallItem:
    """Deactivate (hide from the mall) or reactivate an item."""
    return update_item(staff, item_id, {"active": bool(active)})


def add_stock(staff: Staff, item_id: Any, amount: Any, *, key: Any) -> MallItem:
    """Add ``amount`` (1–1,000,000) units to the item's stock, once per key (see module guarantees)."""
    check_capability(staff, "loyalty.manage")
    item = get_item(staff, item_id)
    added = clean_int(
        amount, "amount", 1, MAX_STOCK, _("Add a whole number from 1 to 1,000,000."), from_text=True
    )
    stored_key = client_key(actor_ref("staff", staff.pk), "mall.stock", item.pk, clean_idempotency_key(key))
    rhash = request_hash("mall.stock", item.pk, added)
    existing = StockAddition.objects.filter(idempotency_key=stored_key).first()
    if existing is not None:
        if existing.request_hash != rhash:
            raise mismatch()
        return get_item(staff, item.pk)
    try:
        with transaction.atomic():
            StockAddition.objects.create(
                item=item, added=added, staff=staff, idempotency_key=stored_key, request_hash=rhash
            )
            MallItem.objects.filter(pk=item.pk).update(stock=F("stock") + added)
            record_audit(
                staff,
                "loyalty.mall",
                target_type="mall_item",
                target_id=item.pk,
                detail={"stock_added": added},
            )
    except IntegrityError:
        # The same key, committed by a parallel retry in between: answer as the replay does.
        existing = StockAddition.objects.filter(idempotency_key=stored_key).first()
        if existing is None:
            raise
        if existing.request_hash != rhash:
            raise mismatch() from None
    return get_item(staff, item.pk)
