"""Coupons at the counter, inside the pickup scanner page (``/pickup/``): the same field takes a pickup code
or a coupon code; a coupon shows its rules, the clerk types the sale amount (yuan), sees the discount and
confirms. Thin callers of ``siyu.loyalty.services.coupons_counter``."""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from siyu.common.validators import fen_to_yuan as yuan
from siyu.common.validators import yuan_to_fen
from siyu.loyalty.services import coupons, coupons_counter
from siyu.loyalty.services import coupons_rules as rules
from siyu.org.models import Staff

from .helpers import request_ip


def is_coupon_qr(code: str) -> bool:
    return code.startswith(coupons.QR_PREFIX + ":")


def might_be_coupon(code: str) -> bool:
    """A scanned coupon QR, or a typed text shaped like a short code (it may name a coupon)."""
    return is_coupon_qr(code) or coupons.code_from_scan(code) is not None


def _found_context(found: coupons_counter.CounterCoupon, code: str) -> dict[str, Any]:
    coupon = found.coupon
    return {
        "code": code,
        "coupon": coupon,
        "member": coupon.member,
        "coupon_rules": found.text,
        "coupon_valid": rules.valid_text(coupon),
        "coupon_code": coupons.display_code(coupon),
        "stores": found.stores,
    }


def preview(staff: Staff, code: str, *, counted: bool) -> dict[str, Any]:
    """The coupon found (NotFound otherwise): its rules and a sale-amount form."""
    found = coupons_counter.find(staff, code, count_attempt=not counted)
    return {"step": "coupon", **_found_context(found, code)}


def step(request: HttpRequest, staff: Staff, code: str, which: str) -> dict[str, Any]:
    """``quote``: the discount on the typed sale amount, with a confirm button; ``confirm``: use it."""
    if which == "confirm":
        sale_fen = yuan_to_fen(request.POST.get("sale_fen_yuan", ""), "sale_fen", minimum=1)
        done = coupons_counter.redeem(
            staff,
            code,
            sale_fen=sale_fen,
            key=request.POST.get("idempotency_key", ""),
            store_id=request.POST.get("store") or None,
            ip=request_ip(request),
        )
        return {
            "step": "coupon_done",
            "code": "",
            "coupon": done.coupon,
            "sale": yuan(done.quote.sale_fen),
            "discount": yuan(done.quote.discount_fen),
            "pay": yuan(done.quote.pay_fen),
            "used_at": timezone.localtime(done.coupon.used_at) if done.coupon.used_at else None,
        }
    found = coupons_counter.find(staff, code, count_attempt=False)
    sale_fen = yuan_to_fen(request.POST.get("sale", ""), "sale", minimum=1)
    store = request.POST.get("store") or (str(found.stores[0].pk) if len(found.stores) == 1 else "")
    priced = coupons_counter.quote(
        found.coupon.template, sale_fen, store_id=int(store) if store.isdigit() else None
    )
    return {
        "step": "coupon_quote",
        **_found_context(found, code),
        "store_id": store,
        "sale_value": yuan(priced.sale_fen),
        "sale": yuan(priced.sale_fen),
        "discount": yuan(priced.discount_fen),
        "pay": yuan(priced.pay_fen),
        "idempotency_key": secrets.token_urlsafe(18),
    }
