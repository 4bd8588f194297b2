"""Reading the points ledger for staff: one member's points and history, the points liability per store, and
coupons issued / used / cost per store and campaign.

Guarantees: store staff see only members and stores they serve (a member of another store is NotFound); what
is counted is what members can still spend — batches past their expiry count as gone even before the expiry
job has written them off — and what refunds left owing is shown beside it, never netted silently. Values are
whole fen (points × the brand's ``fen_per_point``, rounded half up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.loyalty.models import (
    Coupon,
    CouponSource,
    CouponStatus,
    PointsAccount,
    PointsBatch,
    PointsEntry,
    PointsPolicy,
)
from siyu.loyalty.services import points
from siyu.members.models import Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, store_scope, visible_stores
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_FEN_PER_POINT = Decimal("10000")


@dataclass(frozen=True)
class MemberPoints:
    member: Member
    balance: points.Balance
    earned_total: int
    live_batches: list[PointsBatch]


def member_points(staff: Staff, member_id: Any, *, now: datetime | None = None) -> MemberPoints:
    """A member's balance (what they can spend, what they owe) and live batches, soonest to expire first."""
    member = get_member(staff, member_id)
    now = now or timezone.now()
    account = PointsAccount.objects.filter(member=member).first()
    batches = (
        list(
            PointsBatch.objects.filter(account=account, remaining__gt=0, expires_at__gt=now).order_by(
                "expires_at", "id"
            )[:50]
        )
        if account
        else []
    )
    return MemberPoints(
        member=member,
        balance=points.balance_of(member, now=now),
        earned_total=account.earned_total if account else 0,
        live_batches=batches,
    )


def member_entries(staff: Staff, member_id: Any) -> QuerySet[PointsEntry]:
    """The member's ledger, newest first (with the staff member who made an adjustment)."""
    member = get_member(staff, member_id)
    return PointsEntry.objects.filter(account__member=member).select_related("actor").order_by("-id")


def point_value(brand_id: int) -> Decimal:
    value = PointsPolicy.objects.filter(brand_id=brand_id).values_list("fen_per_point", flat=True).first()
    return Decimal(value) if value is not None else Decimal(1)


def clean_point_value(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        number = Decimal(-1)
    if (
        not number.is_finite()
        or number < 0
        or number > MAX_FEN_PER_POINT
        or number != number.quantize(Decimal("0.001"))
    ):
        raise ValidationFailed(
            _("A point's value is 0 to 10,000 fen, with at most three decimals."), field="fen_per_point"
        )
    return number


def set_point_value(staff: Staff, value: Any) -> Decimal:
    """Head office sets what one point is worth in fen (capability ``loyalty.manage``). Audited."""
    check_capability(staff, "loyalty.manage")
    number = clean_point_value(value)
    PointsPolicy.objects.update_or_create(
        brand_id=current_brand_id(staff), defaults={"fen_per_point": number}
    )
    record_audit(
        staff,
        "loyalty.point_value",
        target_type="brand",
        target_id=current_brand_id(staff),
        detail={"fen": str(number)},
    )
    return number


def value_fen(pts: int, fen_per_point: Decimal) -> int:
    return int((Decimal(pts) * fen_per_point).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class LiabilityRow:
    store_id: int | None
    store_name: str
    members: int
    outstanding: int
    owed: int
    value_fen: int


@dataclass(frozen=True)
class Liability:
    rows: list[LiabilityRow]
    fen_per_point: Decimal
    as_of: datetime

    @property
    def outstanding(self) -> int:
        return sum(r.outstanding for r in self.rows)

    @property
    def owed(self) -> int:
        return sum(r.owed for r in self.rows)

    @property
    def value_fen(self) -> int:
        return sum(r.value_fen for r in self.rows)


def liability(staff: Staff, *, fen_per_point: Any = None, now: datetime | None = None) -> Liability:
    """Outstanding points per member home store (the stores the staff member serves; HQ: all, and members
    without a home store as one row), valued at ``fen_per_point`` (default: the brand's). Needs
    ``loyalty.reports``."""
    check_capability(staff, "loyalty.reports")
    now = now or timezone.now()
    rate = (
        point_value(current_brand_id(staff))
        if fen_per_point in (None, "")
        else clean_point_value(fen_per_point)
    )
    scope = store_scope(staff)
    batches = PointsBatch.objects.filter(
        account__brand_id=current_brand_id(staff), remaining__gt=0, expires_at__gt=now
    )
    accounts = PointsAccount.objects.filter(brand_id=current_brand_id(staff))
    if scope is not None:
        batches = batches.filter(account__member__home_store_id__in=scope)
        accounts = accounts.filter(member__home_store_id__in=scope)
    live = {
        r["account__member__home_store_id"]: int(r["n"])
        for r in batches.values("account__member__home_store_id").annotate(n=Sum("remaining")).order_by()
    }
    per_store = {
        r["member__home_store_id"]: (int(r["members"]), int(r["owed"] or 0))
        for r in accounts.values("member__home_store_id")
        .annotate(members=Count("pk"), owed=Sum("debt"))
        .order_by()
    }
    names = dict(visible_stores(staff).filter(brand_id=current_brand_id(staff)).values_list("pk", "name"))
    ids = [pk for pk in names if pk in live or pk in per_store]
    if scope is None and (None in live or None in per_store):
        ids.append(None)  # type: ignore[arg-type]
    rows = []
    for pk in ids:
        outstanding = live.get(pk, 0)
        members, owed = per_store.get(pk, (0, 0))
        rows.append(
            LiabilityRow(
                store_id=pk,
                store_name=names.get(pk, "") if pk is not None else _("No home store"),
                members=members,
                outstanding=outstanding,
                owed=owed,
                value_fen=value_fen(outstanding, rate),
            )
        )
    rows.sort(key=lambda r: -r.outstanding)
    return Liability(rows=rows, fen_per_point=rate, as_of=now)


# --- coupons issued / used / cost ----------------------------------------------------------------------


@dataclass(frozen=True)
class CouponRow:
    key: int | str | None  # a store id, or a campaign id (``source_ref``)
    name: str
    issued: int
    used: int
    discount_fen: int
    cost_fen: int

    @property
    def use_rate(self) -> int:
        """Used per hundred issued (whole percent)."""
        return round(100 * self.used / self.issued) if self.issued else 0


@dataclass(frozen=True)
class CouponReport:
    stores: list[CouponRow]
    campaigns: list[CouponRow]
    since: datetime | None


def coupon_report(staff: Staff, *, since: datetime | None = None) -> CouponReport:
    """Coupons per store — issued to members of the store (their home store), used at the store, the discount
    given and the cost charged to the store's budget (a gift: its price) — and per campaign that issued
    coupons (``source`` campaign). Store staff see their stores only; ``since`` limits to coupons issued
    from then. Needs ``loyalty.reports``. Campaign names are the caller's to look up (campaigns sit above)."""
    check_capability(staff, "loyalty.reports")
    brand_id = current_brand_id(staff)
    scope = store_scope(staff)
    coupons = Coupon.objects.filter(brand_id=brand_id)
    if since is not None:
        coupons = coupons.filter(issued_at__gte=since)
    used = coupons.filter(status=CouponStatus.USED)
    issued_q = coupons
    if scope is not None:
        issued_q = issued_q.filter(member__home_store_id__in=scope)
        used = used.filter(used_store_id__in=scope)
    issued_by_store = {
        r["member__home_store_id"]: int(r["n"])
        for r in issued_q.values("member__home_store_id").annotate(n=Count("pk")).order_by()
    }
    used_by_store = {
        r["used_store_id"]: r
        for r in used.values("used_store_id")
        .annotate(n=Count("pk"), discount=Sum("discount_fen"), cost=Sum("cost_fen"))
        .order_by()
    }
    names = dict(visible_stores(staff).filter(brand_id=brand_id).values_list("pk", "name"))
    store_rows = []
    for pk in [p for p in names if p in issued_by_store or p in used_by_store]:
        u: dict[str, Any] = dict(used_by_store.get(pk) or {})
        store_rows.append(
            CouponRow(
                key=pk,
                name=names[pk],
                issued=issued_by_store.get(pk, 0),
                used=int(u.get("n") or 0),
                discount_fen=int(u.get("discount") or 0),
                cost_fen=int(u.get("cost") or 0),
            )
        )
    store_rows.sort(key=lambda r: (-r.issued, -r.used, r.name))
    campaign_q = issued_q.filter(source=CouponSource.CAMPAIGN)
    campaign_rows = []
    for r in (
        campaign_q.values("source_ref")
        .annotate(
            n=Count("pk"),
            used=Count("pk", filter=Q(status=CouponStatus.USED)),
            discount=Sum("discount_fen", filter=Q(status=CouponStatus.USED)),
            cost=Sum("cost_fen", filter=Q(status=CouponStatus.USED)),
        )
        .order_by("-n")[:100]
    ):
        campaign_rows.append(
            CouponRow(
                key=r["source_ref"],
                name=r["source_ref"],
                issued=int(r["n"]),
                used=int(r["used"]),
                discount_fen=int(r["discount"] or 0),
                cost_fen=int(r["cost"] or 0),
            )
        )
    return CouponReport(stores=store_rows, campaigns=campaign_rows, since=since)
