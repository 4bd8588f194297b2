"""Stores: scoped reads, and creation and changes by HQ admins (validated and audited)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import MAX_DB_ID, clean_int, parse_id
from siyu.org.models import Region, Staff, Store
from siyu.org.services.access import check_capability, visible_stores
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

STORE_FIELDS = (
    "code",
    "name",
    "city",
    "district",
    "address",
    "latitude",
    "longitude",
    "opening_hours",
    "phone",
    "status",
    "region",
)
# Store codes appear in exports, imports and rules (``home_store_code``): keep them plain.
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_TEXT_LIMITS = {"city": 50, "district": 50, "address": 255, "opening_hours": 100, "phone": 32}


def open_stores(brand_id: int) -> QuerySet[Store]:
    """The brand's open stores (those that take members and pickups), by code. No scope: for choices a
    service narrows itself, e.g. a campaign's pickup stores."""
    return Store.objects.filter(brand_id=brand_id, status=Store.Status.OPEN).order_by("code", "id")


def list_stores(staff: Staff) -> QuerySet[Store]:
    """Stores ``staff`` may see (all for HQ, its own for store roles), in code order."""
    return visible_stores(staff).select_related("region")


def get_store(staff: Staff, store_id: Any) -> Store:
    """The store ``store_id`` if ``staff`` may see it; NotFound otherwise (out of scope looks missing)."""
    pk = parse_id(store_id, "store", _("No such store."))
    store = list_stores(staff).filter(pk=pk).first()
    if store is None:
        raise NotFound(_("No such store."), field="store")
    return store


def _coordinate(value: Any, field: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationFailed(_("Not a number."), field=field)
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("Not a number."), field=field) from None
    if not number.is_finite() or not -limit <= number <= limit:
        raise ValidationFailed(_("Must be between -%(limit)s and %(limit)s.") % {"limit": limit}, field=field)
    return number.quantize(Decimal("0.000001"))


def _clean_store(data: dict[str, Any], *, creating: bool, brand_id: int) -> dict[str, Any]:
    unknown = set(data) - set(STORE_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    if creating:
        for required in ("code", "name"):
            if not data.get(required):
                raise ValidationFailed(_("This field is required."), field=required)
    clean: dict[str, Any] = {}
    if "code" in data:
        code = str(data["code"] or "").strip()
        if not _CODE_RE.match(code):
            raise ValidationFailed(
                _("A store code has 1 to 32 letters, digits, dashes or underscores."), field="code"
            )
        clean["code"] = code
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name or len(name) > 100:
            raise ValidationFailed(_("A store name has 1 to 100 characters."), field="name")
        clean["name"] = name
    for field, limit in _TEXT_LIMITS.items():
        if field in data:
            value = str(data[field] or "").strip()
            if len(value) > limit:
                raise ValidationFailed(
                    _("Too long (%(limit)s characters at most).") % {"limit": limit}, field=field
                )
            clean[field] = value
    if "latitude" in data:
        clean["latitude"] = _coordinate(data["latitude"], "latitude", 90)
    if "longitude" in data:
        clean["longitude"] = _coordinate(data["longitude"], "longitude", 180)
    if "status" in data:
        if data["status"] not in Store.Status.values:
            raise ValidationFailed(_("Unknown store status."), field="status")
        clean["status"] = data["status"]
    if "region" in data:
        ref = data["region"]
        region = None
        if ref not in (None, ""):
            qs = Region.objects.filter(brand_id=brand_id)
            if isinstance(ref, int) and not isinstance(ref, bool):
                region = qs.filter(pk=ref).first() if 0 < ref <= MAX_DB_ID else None
            elif isinstance(ref, str):
                region = qs.filter(code=ref.strip()).first()
            if region is None:
                raise ValidationFailed(_("No such region."), field="region")
        clean["region"] = region
    return clean


def _audit_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Region):
        return value.code
    return value


@transaction.atomic
def create_store(staff: Staff, data: dict[str, Any], *, ip: str | None = None) -> Store:
    """Create a store (HQ admins only). ``code`` is unique across the chain; coordinates must be in
    range; ``status`` is one of ``Store.Status``. Raises Conflict for a taken code; nothing is written then.
    """
    check_capability(staff, "staff.manage")
    brand_id = current_brand_id(staff)
    clean = _clean_store(data, creating=True, brand_id=brand_id)
    if Store.objects.filter(code__iexact=clean["code"]).exists():
        raise Conflict(_("A store with this code already exists."), field="code")
    try:
        with transaction.atomic():
            store = Store.objects.create(brand_id=brand_id, **clean)
    except IntegrityError:
        raise Conflict(_("A store with this code already exists."), field="code") from None
    record_audit(
        staff,
        "store.create",
        target_type="store",
        target_id=store.pk,
        store_id=store.pk,
        detail={"code": store.code, "name": store.name},
        ip=ip,
    )
    return store


@transaction.atomic
def update_store(staff: Staff, store_id: Any, data: dict[str, Any], *, ip: str | None = None) -> Store:
    """Change a store's fields (HQ admins only), with the same validation as ``create_store``.
    An unchanged request writes nothing; a change is audited with the changed field names and values."""
    check_capability(staff, "staff.manage")
    store = get_store(staff, store_id)
    store = Store.objects.select_for_update().get(pk=store.pk)
    clean = _clean_store(data, creating=False, brand_id=store.brand_id)
    if "code" in clean and (Store.objects.filter(code__iexact=clean["code"]).exclude(pk=store.pk).exists()):
        raise Conflict(_("A store with this code already exists."), field="code")
    changed = {k: v for k, v in clean.items() if getattr(store, k) != v}
    if not changed:
        return store
    for k, v in changed.items():
        setattr(store, k, v)
    try:
        with transaction.atomic():
            store.save(update_fields=list(changed))
    except IntegrityError:
        raise Conflict(_("A store with this code already exists."), field="code") from None
    record_audit(
        staff,
        "store.update",
        target_type="store",
        target_id=store.pk,
        store_id=store.pk,
        detail={"changes": {k: _audit_value(v) for k, v in sorted(changed.items())}},
        ip=ip,
    )
    return store


def brand_stores(brand_id: int, raw: Any, *, field: str = "store_ids", limit: int = 500) -> list[Store]:
    """The stores of brand ``brand_id`` chosen in ``raw`` (a list of ids, as numbers or digit strings from a
    form). ValidationFailed on ``field`` when it is not such a list, is longer than ``limit``, or names a
    store that is not the brand's (another brand's store looks like none)."""
    message = _("Choose stores from the list.")
    if raw is None:
        raw = []
    if not isinstance(raw, list | tuple) or len(raw) > limit:
        raise ValidationFailed(message, field=field)
    ids = {clean_int(v, field, 1, MAX_DB_ID, message, from_text=True) for v in raw}
    stores = list(Store.objects.filter(brand_id=brand_id, pk__in=ids))
    if len(stores) != len(ids):
        raise ValidationFailed(message, field=field)
    return stores
