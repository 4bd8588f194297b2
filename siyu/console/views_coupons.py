"""Console: coupon templates (list, create, edit — head office), a template's numbers, and issuing — to one
member, or to a segment of members after an audience-size preview (head office and store managers).
Thin callers of ``siyu.loyalty.services.coupons_admin``; phone-usable pages."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from siyu.common.errors import NotFound, ServiceError
from siyu.common.validators import fen_to_yuan, optional_id
from siyu.loyalty.models import CouponTemplate
from siyu.loyalty.services import coupons, coupons_admin
from siyu.loyalty.services import coupons_rules as rules
from siyu.members.models import Tag
from siyu.members.services.profiles import MemberFilter, filter_members
from siyu.org.models import Staff
from siyu.org.services.access import has_capability, store_scope, visible_stores

from .forms_coupons import SERVICE_FIELDS, CouponTemplateForm, initial_for
from .helpers import console_view, current_staff, request_ip


def _row(template: CouponTemplate, staff: Staff) -> dict[str, Any]:
    # Store staff see the uses and the discount given at their own stores only.
    numbers = coupons_admin.stats(template, store_ids=store_scope(staff))
    return {
        "template": template,
        "rules": rules.describe(template),
        "stats": numbers,
        "cost": fen_to_yuan(numbers.cost_fen),
        "remaining": template.remaining,
    }


@require_http_methods(["GET"])
@console_view()
def coupon_templates(request: HttpRequest) -> HttpResponse:
    """Every coupon template with issued / used numbers and the discount given."""
    staff = current_staff(request)
    rows = [_row(t, staff) for t in coupons_admin.list_templates(staff)]
    return render(
        request,
        "console/coupons/list.html",
        {"rows": rows, "can_manage": has_capability(staff, "coupons.manage")},
    )


def _form_refusal(form: CouponTemplateForm, exc: ServiceError) -> None:
    field = SERVICE_FIELDS.get(exc.field or "", exc.field)
    form.add_error(field if field in form.fields else None, str(exc.message))


@require_http_methods(["GET", "POST"])
@console_view("coupons.manage")
def coupon_template_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = CouponTemplateForm(request.POST or None, staff=staff, initial={"member_limit": 1, "active": True})
    if request.method == "POST" and form.is_valid():
        try:
            template = coupons_admin.create_template(staff, form.service_data())
        except ServiceError as exc:
            _form_refusal(form, exc)
        else:
            messages.success(request, _("Coupon created."))
            return redirect("console:coupon_template", template_id=template.pk)
    return render(request, "console/coupons/form.html", {"form": form, "template": None})


@require_http_methods(["GET", "POST"])
@console_view("coupons.manage")
def coupon_template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    staff = current_staff(request)
    template = coupons.get_template(coupons.brand_of(staff), template_id)
    form = CouponTemplateForm(request.POST or None, staff=staff, initial=initial_for(template))
    if request.method == "POST" and form.is_valid():
        try:
            coupons_admin.update_template(staff, template.pk, form.service_data())
        except ServiceError as exc:
            _form_refusal(form, exc)
        else:
            messages.success(request, _("Coupon saved."))
            return redirect("console:coupon_template", template_id=template.pk)
    return render(request, "console/coupons/form.html", {"form": form, "template": template})


def _segment_filter(request: HttpRequest) -> MemberFilter:
    return MemberFilter(
        store_id=optional_id(request.POST.get("store") or request.GET.get("store")),
        tag_id=optional_id(request.POST.get("tag") or request.GET.get("tag")),
    )


@require_http_methods(["GET"])
@console_view()
def coupon_template(request: HttpRequest, template_id: int) -> HttpResponse:
    """One template: its rules and numbers, and the issuing forms (for those who may issue)."""
    staff = current_staff(request)
    template = coupons.get_template(coupons.brand_of(staff), template_id)
    context = {
        **_row(template, staff),
        "can_manage": has_capability(staff, "coupons.manage"),
        "can_issue": has_capability(staff, "coupons.issue"),
        "stores": visible_stores(staff),
        "tags": Tag.objects.filter(group__brand_id=staff.brand_id).order_by("name") if staff.brand_id else [],
        "issue_key": secrets.token_urlsafe(18),
        "segment_key": secrets.token_urlsafe(18),
    }
    return render(request, "console/coupons/detail.html", context)


@require_POST
@console_view("coupons.issue")
def coupon_issue(request: HttpRequest, template_id: int) -> HttpResponse:
    """Give one member a coupon: the member's id or full mobile number."""
    staff = current_staff(request)
    who = (request.POST.get("member") or "").strip()[:20]
    member_id = optional_id(who) if len(who) != 11 else None
    if member_id is None and who.isdigit() and len(who) == 11:
        match = filter_members(staff, MemberFilter(q=who)).values_list("pk", flat=True)[:2]
        member_id = match[0] if len(match) == 1 else None
    if member_id is None:
        raise NotFound(_("No such member."), field="member")
    coupon, new = coupons_admin.issue_to_member(
        staff, template_id, member_id, key=request.POST.get("idempotency_key", ""), ip=request_ip(request)
    )
    if new:
        messages.success(
            request, _("Coupon given to %(name)s.") % {"name": coupon.member.name or coupon.member_id}
        )
    else:
        messages.info(request, _("This coupon was already given."))
    return redirect("console:coupon_template", template_id=template_id)


@require_POST
@console_view("coupons.issue")
def coupon_segment(request: HttpRequest, template_id: int) -> HttpResponse:
    """``action=preview``: how many members the filter reaches and would get one (a fragment for htmx, or
    the page); ``action=issue``: issue them."""
    staff = current_staff(request)
    f = _segment_filter(request)
    if request.POST.get("action") != "issue":
        preview = coupons_admin.segment_preview(staff, template_id, f)
        return render(
            request,
            "console/coupons/_preview.html",
            {
                "preview": preview,
                "template_id": template_id,
                "f": f,
                "segment_key": secrets.token_urlsafe(18),
            },
        )
    result = coupons_admin.issue_to_segment(
        staff, template_id, f, key=request.POST.get("idempotency_key", ""), ip=request_ip(request)
    )
    messages.success(
        request,
        _("%(n)s coupons issued to %(audience)s members reached.")
        % {"n": result.issued, "audience": result.audience},
    )
    return redirect("console:coupon_template", template_id=template_id)
