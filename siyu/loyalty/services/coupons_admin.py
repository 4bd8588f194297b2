"""Coupon templates and issuing by staff: head office keeps the templates (``coupons.manage``); head office
and store managers issue coupons to members they may see (``coupons.issue``), one member at a time or to a
segment (members' filters and tags) after an audience-size preview.

Guarantees:

- Templates are checked whole (``clean_template``: the kind's fields, a validity, scope rows of the brand);
  an edit never takes ``total_quantity`` below what was issued (Conflict) and a changed per-store budget
  applies to the stores' budgets at once (never below what a store has spent).
- **Segment issuance with the quota guard.** ``issue_to_segment`` locks the template row, gives each member of
  the audience who is still below the per-member limit one coupon, in member-id order, at most what the total
  quantity leaves — exactly min(eligible audience, remaining) — bumps ``issued_count`` by that number with one
  conditional UPDATE, and inserts the coupons in bulk, in one transaction. Once per key (scoped to the staff
  member and the template): a retry answers the first run's count.
- Store managers reach only their stores' members (``members.services.profiles`` scoping), NotFound else.
- Every create, edit and issue is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.catalog.models import Category, Product, Sku
from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash
from siyu.common.validators import clean_idempotency_key, clean_int, clean_text, optional_id, parse_ids
from siyu.loyalty.models import Coupon, CouponBudget, CouponSource, CouponStatus, CouponTemplate
from siyu.loyalty.services import coupons
from siyu.members.services.profiles import MemberFilter, filter_members, get_member
from siyu.orders.services.pickup_codes import draw_short_code
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit

Kind = CouponTemplate.Kind
MAX_FEN = 100_000_000  # ¥1,000,000
MAX_SCOPE = 200
BULK = 2_000

FIELDS = (
    "name",
    "kind",
    "amount_fen",
    "percent_off",
    "cap_fen",
    "threshold_fen",
    "gift_sku_id",
    "valid_from",
    "valid_until",
    "valid_days",
    "store_ids",
    "product_ids",
    "category_ids",
    "stackable",
    "member_limit",
    "total_quantity",
    "store_budget_fen",
    "return_on_refund",
    "active",
)


def _fen(data: dict[str, Any], name: str, *, required: bool = False) -> int:
    value = data.get(name)
    if value in (None, "") and not required:
        return 0
    return clean_int(value, name, 0, MAX_FEN, _("Give the amount as a whole number of fen."), from_text=True)


def _optional_int(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    return clean_int(value, name, low, high, from_text=True)


def _moment(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise ValidationFailed(_("Give a date and time."), field=name)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1", 1):
        return True
    if value in ("", "false", "0", 0, None):
        return False
    raise ValidationFailed(_("Expected yes or no."), field=name)


@dataclass(frozen=True)
class TemplateData:
    values: dict[str, Any]
    store_ids: list[int]
    product_ids: list[int]
    category_ids: list[int]


def clean_template(staff: Staff, data: Any) -> TemplateData:
    """A template's fields from a form or JSON (amounts in fen), checked whole; ValidationFailed names the
    first wrong field."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("Invalid coupon."), field="name")
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    kind = data.get("kind")
    if kind not in Kind.values:
        raise ValidationFailed(_("Choose what the coupon gives."), field="kind")
    v: dict[str, Any] = {
        "name": clean_text(data.get("name"), "name", 60, required=True),
        "kind": kind,
        "amount_fen": _fen(data, "amount_fen"),
        "percent_off": _optional_int(data, "percent_off", 0, 99) or 0,
        "cap_fen": _fen(data, "cap_fen"),
        "threshold_fen": _fen(data, "threshold_fen"),
        "valid_from": _moment(data, "valid_from"),
        "valid_until": _moment(data, "valid_until"),
        "valid_days": _optional_int(data, "valid_days", 1, 3650),
        "stackable": _bool(data, "stackable", False),
        "member_limit": _optional_int(data, "member_limit", 1, 100) or 1,
        "total_quantity": _optional_int(data, "total_quantity", 1, 10_000_000),
        "store_budget_fen": _optional_int(data, "store_budget_fen", 1, MAX_FEN),
        "return_on_refund": _bool(data, "return_on_refund", False),
        "active": _bool(data, "active", True),
        "gift_sku": None,
    }
    if kind in (Kind.FIXED, Kind.THRESHOLD) and v["amount_fen"] < 1:
        raise ValidationFailed(_("Give the amount off."), field="amount_fen")
    if kind == Kind.PERCENT and not 1 <= v["percent_off"] <= 99:
        raise ValidationFailed(_("The percentage off is between 1 and 99."), field="percent_off")
    if kind == Kind.THRESHOLD and v["threshold_fen"] <= v["amount_fen"]:
        raise ValidationFailed(
            _("The minimum spend must be more than the amount off."), field="threshold_fen"
        )
    if kind == Kind.GIFT:
        sku_id = optional_id(data.get("gift_sku_id"))
        sku = Sku.objects.filter(pk=sku_id, product__brand_id=staff.brand_id).first() if sku_id else None
        if sku is None:
            raise ValidationFailed(_("Choose the gift."), field="gift_sku_id")
        v["gift_sku"] = sku
    if kind != Kind.PERCENT:
        v["percent_off"], v["cap_fen"] = 0, 0
    if kind == Kind.GIFT:
        v["amount_fen"] = 0
    if v["valid_days"] is None and v["valid_until"] is None:
        raise ValidationFailed(
            _("Give the last day of validity, or a number of days after issue."), field="valid_until"
        )
    if v["valid_from"] and v["valid_until"] and v["valid_until"] <= v["valid_from"]:
        raise ValidationFailed(_("The end must be after the start."), field="valid_until")
    store_ids = parse_ids(data.get("store_ids"), "store_ids", limit=MAX_SCOPE)
    product_ids = parse_ids(data.get("product_ids"), "product_ids", limit=MAX_SCOPE)
    category_ids = parse_ids(data.get("category_ids"), "category_ids", limit=MAX_SCOPE)
    brand = staff.brand_id
    if Store.objects.filter(pk__in=store_ids, brand_id=brand).count() != len(store_ids):
        raise ValidationFailed(_("Unknown store."), field="store_ids")
    if Product.objects.filter(pk__in=product_ids, brand_id=brand).count() != len(product_ids):
        raise ValidationFailed(_("Unknown product."), field="product_ids")
    if Category.objects.filter(pk__in=category_ids, brand_id=brand).count() != len(category_ids):
        raise ValidationFailed(_("Unknown category."), field="category_ids")
    return TemplateData(v, store_ids, product_ids, category_ids)


def _save_scope(template: CouponTemplate, data: TemplateData) -> None:
    template.stores.set(data.store_ids)
    template.products.set(data.product_ids)
    template.categories.set(data.category_ids)


def create_template(staff: Staff, data: Any) -> CouponTemplate:
    """A new coupon template (HQ: ``coupons.manage``)."""
    check_capability(staff, "coupons.manage")
    clean = clean_template(staff, data)
    with transaction.atomic():
        template = CouponTemplate.objects.create(brand_id=staff.brand_id, created_by=staff, **clean.values)
        _save_scope(template, clean)
        record_audit(staff, "coupons.template_create", target_type="coupon_template", target_id=template.pk)
    return template


def update_template(staff: Staff, template_id: Any, data: Any) -> CouponTemplate:
    """Change a template (HQ). Coupons already issued keep their window and per-member number; the total
    quantity cannot go below what was issued (Conflict ``below_issued``)."""
    check_capability(staff, "coupons.manage")
    clean = clean_template(staff, data)
    with transaction.atomic():
        template = CouponTemplate.objects.select_for_update().get(
            pk=coupons.get_template(staff.brand_id, template_id).pk
        )
        total = clean.values["total_quantity"]
        if total is not None and total < template.issued_count:
            raise Conflict(
                _("%(n)s have already been issued: the total cannot be lower.")
                % {"n": template.issued_count},
                field="total_quantity",
                code="below_issued",
            )
        for name, value in clean.values.items():
            setattr(template, name, value)
        template.save()
        _save_scope(template, clean)
        budget = template.store_budget_fen
        if budget is not None:
            rows = CouponBudget.objects.filter(template=template)
            rows.filter(spent_fen__lte=budget).update(budget_fen=budget)
            rows.filter(spent_fen__gt=budget).update(budget_fen=F("spent_fen"))
        record_audit(staff, "coupons.template_update", target_type="coupon_template", target_id=template.pk)
    return template


@dataclass(frozen=True)
class TemplateStats:
    issued: int
    used: int
    available: int
    expired: int
    cost_fen: int


def stats(template: CouponTemplate, *, store_ids: set[int] | None = None) -> TemplateStats:
    """How many coupons of ``template`` were issued and used, and what they cost (limited to the uses at
    ``store_ids`` when given)."""
    rows = Coupon.objects.filter(template=template)
    now = timezone.now()
    used = rows.filter(status=CouponStatus.USED)
    if store_ids is not None:
        used = used.filter(used_store_id__in=store_ids)
    agg = used.aggregate(n=Count("id"), cost=Coalesce(Sum("cost_fen"), 0))
    available = rows.filter(status=CouponStatus.AVAILABLE, valid_until__gt=now).count()
    expired = rows.filter(
        Q(status=CouponStatus.EXPIRED) | Q(status=CouponStatus.AVAILABLE, valid_until__lte=now)
    ).count()
    return TemplateStats(template.issued_count, agg["n"], available, expired, int(agg["cost"]))


def list_templates(staff: Staff) -> list[CouponTemplate]:
    """The brand's templates, newest first (every staff member may see them; only HQ changes them)."""
    return list(
        CouponTemplate.objects.filter(brand_id=staff.brand_id).select_related("gift_sku").order_by("-id")
    )


# --- issuing by staff ----------------------------------------------------------------------------------


def issue_to_member(
    staff: Staff,
    template_id: Any,
    member_id: Any,
    *,
    key: Any,
    source: str = CouponSource.MANUAL,
    ip: str | None = None,
) -> tuple[Coupon, bool]:
    """Give one member in ``staff``'s reach one coupon (``coupons.issue``); the key is scoped to the staff
    member, the template and the member. Returns the coupon and whether this call issued it."""
    check_capability(staff, "coupons.issue")
    template = coupons.get_template(staff.brand_id, template_id)
    member = get_member(staff, member_id)
    stored = client_key(
        actor_ref("staff", staff.pk),
        "coupons.issue",
        f"{template.pk}:{member.pk}",
        clean_idempotency_key(key),
    )
    with transaction.atomic():
        coupon, new = coupons.issue_once(
            template, member, source=source, source_ref=f"staff:{staff.pk}", key=stored, actor=staff
        )
        if new:
            record_audit(
                staff,
                "coupons.issue",
                target_type="member",
                target_id=member.pk,
                detail={"template_id": template.pk, "coupon_id": coupon.pk, "source": source},
                ip=ip,
            )
    return coupon, new


@dataclass(frozen=True)
class SegmentPreview:
    audience: int  # members matching the filter
    eligible: int  # of them, below the per-member limit
    remaining: int | None  # what the total quantity still allows (None: no total)

    @property
    def will_issue(self) -> int:
        return self.eligible if self.remaining is None else min(self.eligible, self.remaining)


def _eligible_ids(staff: Staff, template: CouponTemplate, f: MemberFilter) -> tuple[int, list[int]]:
    audience = filter_members(staff, f).order_by().values_list("pk", flat=True)
    ids = sorted(set(audience))
    held = dict(
        Coupon.objects.filter(template=template, member_id__in=ids)
        .values("member_id")
        .annotate(n=Max("seq"))
        .values_list("member_id", "n")
    )
    return len(ids), [pk for pk in ids if held.get(pk, 0) < template.member_limit]


def segment_preview(staff: Staff, template_id: Any, f: MemberFilter) -> SegmentPreview:
    """How many members ``f`` reaches, how many may still get this coupon, and how many would get one."""
    check_capability(staff, "coupons.issue")
    template = coupons.get_template(staff.brand_id, template_id)
    audience, eligible = _eligible_ids(staff, template, f)
    return SegmentPreview(audience, len(eligible), template.remaining)


@dataclass(frozen=True)
class SegmentResult:
    issued: int
    audience: int
    replayed: bool = False


def _codes(n: int) -> list[str]:
    """``n`` distinct fresh short codes not open on any coupon."""
    out: set[str] = set()
    while len(out) < n:
        batch = {draw_short_code() for _ in range(n - len(out))} - out
        taken = set(
            Coupon.objects.filter(
                code__in=batch, status__in=[CouponStatus.AVAILABLE, CouponStatus.USED]
            ).values_list("code", flat=True)
        )
        out |= batch - taken
    return list(out)


def issue_to_segment(
    staff: Staff, template_id: Any, f: MemberFilter, *, key: Any, ip: str | None = None
) -> SegmentResult:
    """Give every member ``f`` reaches who is below the per-member limit one coupon, within the total
    quantity (see module guarantees)."""
    check_capability(staff, "coupons.issue")
    template = coupons.get_template(staff.brand_id, template_id)
    stored = client_key(
        actor_ref("staff", staff.pk), "coupons.segment", template.pk, clean_idempotency_key(key)
    )
    rhash = request_hash("coupon.segment", template.pk, asdict(f))
    done = Coupon.objects.filter(template=template, idempotency_key=stored)
    first = done.first()
    if first is not None:
        if first.request_hash != rhash:
            raise mismatch()
        return SegmentResult(done.count(), done.count(), replayed=True)
    now = timezone.now()
    if not template.active:
        raise Conflict(_("This coupon is no longer issued."), field="template", code="coupon_inactive")
    if template.valid_until is not None and template.valid_until <= now:
        raise Conflict(_("This coupon has ended."), field="template", code="coupon_ended")
    valid_from, valid_until = coupons.window_for(template, now)
    with transaction.atomic():
        locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
        audience, eligible = _eligible_ids(staff, locked, f)
        count = len(eligible) if locked.remaining is None else min(len(eligible), locked.remaining)
        chosen = eligible[:count]
        if count:
            guard = Q(total_quantity__isnull=True) | Q(issued_count__lte=F("total_quantity") - count)
            if not CouponTemplate.objects.filter(guard, pk=locked.pk).update(
                issued_count=F("issued_count") + count
            ):
                raise coupons.sold_out()  # pragma: no cover - the row lock makes this impossible
            held = dict(
                Coupon.objects.filter(template=locked, member_id__in=chosen)
                .values("member_id")
                .annotate(n=Max("seq"))
                .values_list("member_id", "n")
            )
            codes = _codes(count)
            made = Coupon.objects.bulk_create(
                [
                    Coupon(
                        brand_id=locked.brand_id,
                        template=locked,
                        member_id=member_id,
                        seq=held.get(member_id, 0) + 1,
                        member_limit=locked.member_limit,
                        code=code,
                        issued_at=now,
                        valid_from=valid_from,
                        valid_until=valid_until,
                        source=CouponSource.SEGMENT,
                        source_ref=f"staff:{staff.pk}",
                        issued_by=staff,
                        idempotency_key=stored,
                        request_hash=rhash,
                    )
                    for member_id, code in zip(chosen, codes, strict=True)
                ],
                batch_size=BULK,
            )
            bulk_record_events(
                [
                    Event(
                        type="coupon.issued",
                        member_id=c.member_id,
                        occurred_at=now,
                        payload={"coupon_id": c.pk, "template_id": locked.pk, "source": CouponSource.SEGMENT},
                    )
                    for c in made
                ]
            )
        record_audit(
            staff,
            "coupons.issue_segment",
            target_type="coupon_template",
            target_id=locked.pk,
            detail={
                "issued": count,
                "audience": audience,
                "filter": {k: str(v) for k, v in asdict(f).items() if v not in (None, False, "")},
            },
            ip=ip,
        )
    return SegmentResult(count, audience)


def issue_for_campaign(template: CouponTemplate, member: Any, *, campaign_id: int, key: str) -> Coupon:
    """A campaign gives ``member`` a coupon (``key`` a ``system_key`` naming the campaign's occasion)."""
    return coupons.issue(
        template, member, source=CouponSource.CAMPAIGN, source_ref=f"campaign:{campaign_id}", key=key
    )
