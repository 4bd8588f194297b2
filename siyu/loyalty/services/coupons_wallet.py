"""Reading a member's coupon wallet (H5): by tab, with counts and the names of the stores a coupon is for."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.validators import fen_to_yuan
from siyu.loyalty.models import Coupon, CouponStatus, CouponTemplate
from siyu.members.models import Member
from siyu.org.models import Store

MAX_SHOWN = 200


def _tab_filter(tab: str) -> Q:
    now = timezone.now()
    if tab == CouponStatus.AVAILABLE:
        return Q(status=CouponStatus.AVAILABLE, valid_until__gt=now)
    if tab == CouponStatus.EXPIRED:
        return Q(status=CouponStatus.EXPIRED) | Q(status=CouponStatus.AVAILABLE, valid_until__lte=now)
    return Q(status=tab)


def wallet(member: Member, tab: str) -> list[Coupon]:
    """The member's coupons in ``tab`` (available: soonest to expire first; others: latest first)."""
    qs = (
        Coupon.objects.filter(member=member)
        .filter(_tab_filter(tab))
        .select_related("template", "template__gift_sku", "template__gift_sku__product")
    )
    order = ("valid_until", "id") if tab == CouponStatus.AVAILABLE else ("-valid_until", "-id")
    return list(qs.order_by(*order)[:MAX_SHOWN])


def counts(member: Member) -> dict[str, int]:
    """How many coupons the member has in each tab."""
    now = timezone.now()
    row = Coupon.objects.filter(member=member).aggregate(
        available=Count("id", filter=Q(status=CouponStatus.AVAILABLE, valid_until__gt=now)),
        used=Count("id", filter=Q(status=CouponStatus.USED)),
        expired=Count(
            "id",
            filter=Q(status=CouponStatus.EXPIRED) | Q(status=CouponStatus.AVAILABLE, valid_until__lte=now),
        ),
    )
    return {k: int(v) for k, v in row.items()}


def store_names(templates: Iterable[CouponTemplate]) -> dict[int, list[str]]:
    """Template id → names of the stores it is limited to (absent: every store)."""
    ids = [t.pk for t in templates]
    out: dict[int, list[str]] = {}
    through = CouponTemplate.stores.through
    rows = through.objects.filter(coupontemplate_id__in=ids).values_list("coupontemplate_id", "store_id")
    names = dict(Store.objects.filter(pk__in={sid for _, sid in rows}).values_list("pk", "name"))
    for tid, sid in rows:
        out.setdefault(tid, []).append(names.get(sid, ""))
    return out


def headline(template: CouponTemplate) -> str:
    """The big text on a coupon: "¥10.00", "15% off", "Free gift"."""
    if template.kind == CouponTemplate.Kind.PERCENT:
        return _("%(pct)s%% off") % {"pct": template.percent_off}
    if template.kind == CouponTemplate.Kind.GIFT:
        return _("Free gift")
    return f"¥{fen_to_yuan(template.amount_fen)}"
