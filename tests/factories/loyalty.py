"""Loyalty builders (issue 11). Each loyalty helper keeps their builders in their own block below."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

# --- coupons (helper "coupons") ------------------------------------------------------------------------
from siyu.loyalty.models import Coupon, CouponSource, CouponTemplate
from siyu.loyalty.services import coupons as coupon_service


def make_coupon_template(brand: Any, **fields: Any) -> CouponTemplate:
    """A coupon template: by default 10 yuan off, valid for 30 days after issue, one per member."""
    stores = fields.pop("stores", ())
    products = fields.pop("products", ())
    categories = fields.pop("categories", ())
    values: dict[str, Any] = {
        "name": "满减券",
        "kind": CouponTemplate.Kind.FIXED,
        "amount_fen": 1000,
        "valid_days": 30,
    }
    values.update(fields)
    if values.get("valid_until") is not None and "valid_days" not in fields:
        values["valid_days"] = None
    template = CouponTemplate.objects.create(brand=brand, **values)
    template.stores.set(stores)
    template.products.set(products)
    template.categories.set(categories)
    return template


def give_coupon(template: CouponTemplate, member: Any, *, key: str | None = None, **kwargs: Any) -> Coupon:
    """Issue one coupon of ``template`` to ``member`` through the service (source: manual)."""
    kwargs.setdefault("source", CouponSource.MANUAL)
    return coupon_service.issue(template, member, key=key or f"sys:test:{uuid.uuid4().hex}", **kwargs)


def window_days(days: int) -> dict[str, Any]:
    """``valid_from``/``valid_until`` for a window from now for ``days`` days."""
    now = timezone.now()
    return {"valid_from": now - timedelta(minutes=1), "valid_until": now + timedelta(days=days)}


# --- end coupons ---------------------------------------------------------------------------------------
