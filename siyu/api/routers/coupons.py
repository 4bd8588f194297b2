"""Coupons for staff: templates (head office), issuing to a member or a segment (HQ and store managers, in
their reach), redeeming at the counter, and a member's coupons. Amounts are fen; times are ISO 8601.

Writes that a client may retry take a required ``Idempotency-Key`` scoped to the caller (ADR 0009); the
services keep their own keys too (a coupon is issued once per key, a redemption answers its first result).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.common.validators import clean_idempotency_key
from siyu.loyalty.models import Coupon, CouponSource, CouponTemplate
from siyu.loyalty.services import coupons, coupons_admin, coupons_counter
from siyu.loyalty.services import coupons_rules as rules
from siyu.members.services.profiles import MemberFilter, get_member
from siyu.org.models import Staff
from siyu.org.services.access import store_scope
from siyu.org.services.login import client_ip

router = Router()

KEY_DOC = "Required. The same key again answers the first result and changes nothing."


class TemplateIn(In):
    name: str = Field(max_length=60)
    kind: Literal["fixed", "percent", "threshold", "gift"]
    amount_fen: int = Field(0, ge=0, le=coupons_admin.MAX_FEN, description="fixed/threshold: fen off.")
    percent_off: int = Field(0, ge=0, le=99, description="percent: 1–99.")
    cap_fen: int = Field(0, ge=0, le=coupons_admin.MAX_FEN, description="percent: at most this (0: no cap).")
    threshold_fen: int = Field(0, ge=0, le=coupons_admin.MAX_FEN, description="Minimum spend in scope.")
    gift_sku_id: Id | None = Field(None, description="gift: the SKU handed over.")
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(
        None, ge=1, le=3650, description="Valid N days after issue (counting that day)."
    )
    store_ids: list[Id] = Field(default_factory=list, max_length=200, description="Empty: every store.")
    product_ids: list[Id] = Field(default_factory=list, max_length=200)
    category_ids: list[Id] = Field(default_factory=list, max_length=200)
    stackable: bool = False
    member_limit: int = Field(1, ge=1, le=100)
    total_quantity: int | None = Field(None, ge=1, le=10_000_000)
    store_budget_fen: int | None = Field(None, ge=1, le=coupons_admin.MAX_FEN)
    return_on_refund: bool = False
    active: bool = True


class TemplateOut(Schema):
    id: int
    name: str
    kind: str
    rules: str
    amount_fen: int
    percent_off: int
    cap_fen: int
    threshold_fen: int
    gift_sku_id: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    store_ids: list[int]
    product_ids: list[int]
    category_ids: list[int]
    stackable: bool
    member_limit: int
    total_quantity: int | None
    issued: int
    used: int
    cost_fen: int
    store_budget_fen: int | None
    return_on_refund: bool
    active: bool


class CouponOut(Schema):
    id: int
    template_id: int
    name: str
    member_id: int
    code: str
    status: str
    valid_from: datetime
    valid_until: datetime
    source: str
    issued_at: datetime
    used_at: datetime | None
    used_store_id: int | None
    order_id: int | None
    discount_fen: int


class CouponPage(Schema):
    count: int
    items: list[CouponOut]


class IssueIn(In):
    member_id: Id


class SegmentIn(In):
    store: Id | None = Field(None, description="Home store id.")
    tag: Id | None = Field(None, description="Tag id.")
    age_band: str | None = Field(None, max_length=10)
    gender: Literal["m", "f", "u"] | None = None
    joined_from: date | None = None
    joined_to: date | None = None
    q: str | None = Field(None, max_length=100)

    def to_filter(self) -> MemberFilter:
        return MemberFilter(
            store_id=self.store,
            tag_id=self.tag,
            age_band=self.age_band,
            gender=self.gender,
            joined_from=self.joined_from,
            joined_to=self.joined_to,
            q=self.q,
        )


class PreviewOut(Schema):
    audience: int
    eligible: int
    remaining: int | None
    will_issue: int


class SegmentOut(Schema):
    issued: int
    audience: int


class RedeemIn(In):
    code: str = Field(max_length=200, description="The coupon QR's content, or its short code (K7Q4-9XMP).")
    sale_fen: int = Field(ge=1, le=coupons_counter.MAX_SALE_FEN, description="The counter sale amount.")
    store_id: Id | None = Field(None, description="The store of the sale (omit when you serve one).")


class RedeemOut(Schema):
    coupon: CouponOut
    sale_fen: int
    discount_fen: int
    pay_fen: int


def template_out(template: CouponTemplate, staff: Staff) -> dict[str, Any]:
    # Store staff see the uses and the discount given at their own stores only.
    numbers = coupons_admin.stats(template, store_ids=store_scope(staff))
    return {
        "id": template.pk,
        "name": template.name,
        "kind": template.kind,
        "rules": rules.describe(template),
        "amount_fen": template.amount_fen,
        "percent_off": template.percent_off,
        "cap_fen": template.cap_fen,
        "threshold_fen": template.threshold_fen,
        "gift_sku_id": template.gift_sku_id,
        "valid_from": template.valid_from,
        "valid_until": template.valid_until,
        "valid_days": template.valid_days,
        "store_ids": sorted(template.stores.values_list("pk", flat=True)),
        "product_ids": sorted(template.products.values_list("pk", flat=True)),
        "category_ids": sorted(template.categories.values_list("pk", flat=True)),
        "stackable": template.stackable,
        "member_limit": template.member_limit,
        "total_quantity": template.total_quantity,
        "issued": numbers.issued,
        "used": numbers.used,
        "cost_fen": numbers.cost_fen,
        "store_budget_fen": template.store_budget_fen,
        "return_on_refund": template.return_on_refund,
        "active": template.active,
    }


def coupon_out(coupon: Coupon) -> dict[str, Any]:
    return {
        "id": coupon.pk,
        "template_id": coupon.template_id,
        "name": coupon.template.name,
        "member_id": coupon.member_id,
        "code": coupons.display_code(coupon),
        "status": coupons.effective_status(coupon),
        "valid_from": coupon.valid_from,
        "valid_until": coupon.valid_until,
        "source": coupon.source,
        "issued_at": coupon.issued_at,
        "used_at": coupon.used_at,
        "used_store_id": coupon.used_store_id,
        "order_id": coupon.order_id,
        "discount_fen": coupon.discount_fen,
    }


@router.get("/coupon-templates", response=list[TemplateOut])
def list_coupon_templates(request: HttpRequest) -> list[dict[str, Any]]:
    """The brand's coupon templates, newest first, with issued/used numbers and cost."""
    staff = current_staff(request)
    return [template_out(t, staff) for t in coupons_admin.list_templates(staff)]


@router.post("/coupon-templates", response={201: TemplateOut})
def create_coupon_template(request: HttpRequest, payload: TemplateIn) -> Status:
    """A new coupon template (head office: ``coupons.manage``)."""
    staff = current_staff(request)
    template = coupons_admin.create_template(staff, payload.model_dump())
    return Status(201, template_out(template, staff))


@router.get("/coupon-templates/{int:template_id}", response=TemplateOut)
def get_coupon_template(request: HttpRequest, template_id: Path[Id]) -> dict[str, Any]:
    """One coupon template."""
    staff = current_staff(request)
    return template_out(coupons.get_template(coupons.brand_of(staff), template_id), staff)


@router.put("/coupon-templates/{int:template_id}", response=TemplateOut)
def update_coupon_template(
    request: HttpRequest, template_id: Path[Id], payload: TemplateIn
) -> dict[str, Any]:
    """Replace a template's settings (head office). The total cannot go below what was issued (409)."""
    staff = current_staff(request)
    return template_out(coupons_admin.update_template(staff, template_id, payload.model_dump()), staff)


@router.post("/coupon-templates/{int:template_id}/issue", response={200: CouponOut, 201: CouponOut})
def issue_coupon(
    request: HttpRequest,
    template_id: Path[Id],
    payload: IssueIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> Status:
    """Give one member in your reach a coupon (``coupons.issue``): 201, or 200 for a retried key. 409
    ``coupons_sold_out`` / ``coupon_limit_reached`` when the total or the member's limit is reached."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    coupon, new = coupons_admin.issue_to_member(
        staff, template_id, payload.member_id, key=key, source=CouponSource.API, ip=client_ip(request)
    )
    return Status(201 if new else 200, coupon_out(coupon))


@router.post("/coupon-templates/{int:template_id}/segment-preview", response=PreviewOut)
def preview_segment(request: HttpRequest, template_id: Path[Id], payload: SegmentIn) -> dict[str, Any]:
    """How many members the filter reaches, how many may still get this coupon, how many would."""
    got = coupons_admin.segment_preview(current_staff(request), template_id, payload.to_filter())
    return {
        "audience": got.audience,
        "eligible": got.eligible,
        "remaining": got.remaining,
        "will_issue": got.will_issue,
    }


@router.post("/coupon-templates/{int:template_id}/segment", response={200: SegmentOut, 201: SegmentOut})
def issue_segment(
    request: HttpRequest,
    template_id: Path[Id],
    payload: SegmentIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> Status:
    """Give one coupon to every member the filter reaches who may still get one, within the total quantity:
    exactly min(eligible, remaining). 201, or 200 for a retried key."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    got = coupons_admin.issue_to_segment(
        staff, template_id, payload.to_filter(), key=key, ip=client_ip(request)
    )
    return Status(200 if got.replayed else 201, {"issued": got.issued, "audience": got.audience})


@router.post("/coupons/redeem", response=RedeemOut)
def redeem_coupon(
    request: HttpRequest,
    payload: RedeemIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> dict[str, Any]:
    """Use a coupon at the counter on a sale of ``sale_fen`` at a store you serve (others: 404). Used
    already, or lost to a simultaneous redemption: 409 ``coupon_already_used``. Too many codes that matched
    nothing: 429 with ``Retry-After``."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    done = coupons_counter.redeem(
        staff,
        payload.code,
        sale_fen=payload.sale_fen,
        key=key,
        store_id=payload.store_id,
        ip=client_ip(request),
    )
    coupon = Coupon.objects.select_related("template").get(pk=done.coupon.pk)
    return {
        "coupon": coupon_out(coupon),
        "sale_fen": done.quote.sale_fen,
        "discount_fen": done.quote.discount_fen,
        "pay_fen": done.quote.pay_fen,
    }


@router.get("/members/{int:member_id}/coupons", response=CouponPage)
def member_coupons(request: HttpRequest, member_id: Path[Id], page: Query[PageParams]) -> dict[str, Any]:
    """A member's coupons (members in your reach; others 404), newest first."""
    member = get_member(current_staff(request), member_id)
    qs = Coupon.objects.filter(member=member).select_related("template").order_by("-issued_at", "-id")
    count, items = paginate(qs, page)
    return {"count": count, "items": [coupon_out(c) for c in items]}
