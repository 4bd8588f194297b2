"""H5 coupon wallet: available / used / expired tabs, each coupon with its rules in a sentence, and a coupon's
page with its QR and short code to show at the counter. A member sees only their own coupons (404 else)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.common.validators import fen_to_yuan
from siyu.loyalty.models import Coupon, CouponStatus
from siyu.loyalty.services import coupons, coupons_wallet
from siyu.loyalty.services import coupons_rules as rules
from siyu.members.models import Member

from .views_mall import _member_view, _render, qr_png

TABS = (CouponStatus.AVAILABLE, CouponStatus.USED, CouponStatus.EXPIRED)


def _row(coupon: Coupon, store_names: dict[int, list[str]]) -> dict[str, Any]:
    template = coupon.template
    return {
        "coupon": coupon,
        "rules": rules.describe(template, store_names=store_names.get(template.pk, [])),
        "valid": rules.valid_text(coupon),
        "headline": coupons_wallet.headline(template),
        "discount": fen_to_yuan(coupon.discount_fen) if coupon.discount_fen else "",
    }


@never_cache
@require_GET
@_member_view
def wallet(request: HttpRequest, member: Member) -> HttpResponseBase:
    """The member's coupons in one tab (``?tab=available|used|expired``)."""
    tab = request.GET.get("tab") or CouponStatus.AVAILABLE
    if tab not in TABS:
        tab = CouponStatus.AVAILABLE
    found = coupons_wallet.wallet(member, tab)
    names = coupons_wallet.store_names({c.template for c in found})
    counts = coupons_wallet.counts(member)
    return _render(
        request,
        "h5/coupons/wallet.html",
        {
            "tab": tab,
            "tabs": [(t, CouponStatus(t).label, counts.get(t, 0)) for t in TABS],
            "rows": [_row(c, names) for c in found],
        },
    )


def _mine(member: Member, coupon_id: int) -> Coupon:
    coupon = (
        Coupon.objects.filter(pk=coupon_id, member=member)
        .select_related("template", "template__gift_sku", "template__gift_sku__product")
        .first()
    )
    if coupon is None:
        raise Http404
    return coupon


@never_cache
@require_GET
@_member_view
def coupon(request: HttpRequest, member: Member, coupon_id: int) -> HttpResponseBase:
    """One coupon: its rules, and while it can be used, its QR and short code for the counter."""
    found = _mine(member, coupon_id)
    names = coupons_wallet.store_names({found.template})
    status = coupons.effective_status(found)
    return _render(
        request,
        "h5/coupons/coupon.html",
        {
            **_row(found, names),
            "status": status,
            "status_label": CouponStatus(status).label,
            "usable": status == CouponStatus.AVAILABLE,
            "short_code": coupons.display_code(found),
        },
    )


@never_cache
@require_GET
@_member_view
def coupon_qr(request: HttpRequest, member: Member, coupon_id: int) -> HttpResponseBase:
    """The coupon's QR as a PNG while it can be used (else 404)."""
    found = _mine(member, coupon_id)
    if coupons.effective_status(found) != CouponStatus.AVAILABLE:
        raise Http404
    response = HttpResponse(qr_png(coupons.qr_payload(found)), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response
