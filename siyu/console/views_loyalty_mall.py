"""Console: the points mall's items and member tiers, for head office (``loyalty.manage``; store staff do not
see these pages — they are refused with 403 and the nav links are hidden). Thin callers of
``siyu.loyalty.services.mall_admin`` / ``tier_admin``; phone-first (cards on a narrow screen)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.common.errors import ServiceError
from siyu.loyalty.models import MallItem, Tier
from siyu.loyalty.services import mall_admin, tier_admin
from siyu.org.services.access import visible_stores

from .helpers import console_view, current_staff, form_error

_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _when(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )


# --- points mall items ---------------------------------------------------------------------------------


class ItemForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=MallItem.Kind.choices)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    points = forms.IntegerField(label=gettext_lazy("Points"), min_value=1, max_value=mall_admin.MAX_POINTS)
    stock = forms.IntegerField(
        label=gettext_lazy("Stock"), min_value=0, max_value=mall_admin.MAX_STOCK, initial=0
    )
    member_limit = forms.IntegerField(
        label=gettext_lazy("Per member (empty: no limit)"),
        required=False,
        min_value=1,
        max_value=mall_admin.MAX_LIMIT,
    )
    coupon_template_id = forms.TypedChoiceField(
        label=gettext_lazy("Coupon (for a coupon item)"), coerce=int, required=False, empty_value=None
    )
    sku_id = forms.TypedChoiceField(
        label=gettext_lazy("Product (for a product item)"), coerce=int, required=False, empty_value=None
    )
    image_id = forms.TypedChoiceField(
        label=gettext_lazy("Picture"), coerce=int, required=False, empty_value=None, widget=forms.RadioSelect
    )
    starts_at = _when(gettext_lazy("Starts (empty: now)"))
    ends_at = _when(gettext_lazy("Ends (empty: no end)"))
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (none: every store)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, staff: Any, item: MallItem | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["coupon_template_id"].choices = [("", "—")] + [
            (t.pk, t.name) for t in mall_admin.coupon_choices(staff)
        ]
        fields["sku_id"].choices = [("", "—")] + [
            (s.pk, f"{s.product.name} · {s.spec or s.code}") for s in mall_admin.sku_choices(staff)
        ]
        fields["image_id"].choices = [("", _("The product's main picture"))] + [
            (i.pk, i.url("thumb")) for i in mall_admin.picture_choices(item)
        ]
        fields["stores"].choices = [(s.pk, f"{s.code} {s.name}") for s in visible_stores(staff)]
        if item is not None:
            fields["kind"].disabled = True
            del fields["stock"]  # stock is added, never set

    def service_data(self, *, editing: bool) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            "name": d["name"],
            "description": d["description"],
            "points": d["points"],
            "member_limit": d["member_limit"],
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "store_ids": list(d["stores"] or []),
        }
        if not editing:
            data["kind"] = d["kind"]
            data["stock"] = d["stock"]
        kind = d.get("kind")
        if kind == MallItem.Kind.COUPON:
            data["coupon_template_id"] = d["coupon_template_id"]
        else:
            data["sku_id"] = d["sku_id"]
            data["image_id"] = d["image_id"]
        return data


def _item_initial(item: MallItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "name": item.name,
        "description": item.description,
        "points": item.points,
        "member_limit": item.member_limit,
        "coupon_template_id": item.coupon_template_id,
        "sku_id": item.sku_id,
        "image_id": item.image_id,
        "starts_at": timezone.localtime(item.starts_at) if item.starts_at else None,
        "ends_at": timezone.localtime(item.ends_at) if item.ends_at else None,
        "stores": [s.pk for s in item.stores.all()],
    }


@require_GET
@console_view("loyalty.manage")
def mall_items(request: HttpRequest) -> HttpResponse:
    """The points mall: every item with its price, stock, exchanges and window; add stock in place."""
    staff = current_staff(request)
    items = [(i, mall_admin.picture_url(i)) for i in mall_admin.list_items(staff)]
    return render(
        request,
        "console/loyalty/mall_items.html",
        {"items": items, "stock_key": uuid.uuid4().hex},
    )


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def mall_item_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = ItemForm(request.POST or None, staff=staff, initial={"kind": request.GET.get("kind") or "coupon"})
    if request.method == "POST" and form.is_valid():
        try:
            item = mall_admin.create_item(staff, form.service_data(editing=False))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” is in the points mall.") % {"name": item.name})
            return redirect("console:loyalty_mall")
    return render(request, "console/loyalty/mall_item_form.html", {"form": form, "item": None})


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def mall_item_edit(request: HttpRequest, item_id: int) -> HttpResponse:
    staff = current_staff(request)
    item = mall_admin.get_item(staff, item_id)
    form = ItemForm(request.POST or None, staff=staff, item=item, initial=_item_initial(item))
    if request.method == "POST" and form.is_valid():
        try:
            item = mall_admin.update_item(staff, item.pk, form.service_data(editing=True))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” saved.") % {"name": item.name})
            return redirect("console:loyalty_mall")
    return render(
        request,
        "console/loyalty/mall_item_form.html",
        {"form": form, "item": item, "picture": mall_admin.picture_url(item)},
    )


@require_POST
@console_view("loyalty.manage")
def mall_item_stock(request: HttpRequest, item_id: int) -> HttpResponse:
    """Add units to the stock (the form's key makes a double tap one addition)."""
    item = mall_admin.add_stock(
        current_staff(request), item_id, request.POST.get("amount"), key=request.POST.get("key")
    )
    messages.success(request, _("“%(name)s”: %(n)s in stock now.") % {"name": item.name, "n": item.stock})
    return redirect("console:loyalty_mall")


@require_POST
@console_view("loyalty.manage")
def mall_item_active(request: HttpRequest, item_id: int) -> HttpResponse:
    """Take an item out of the mall, or put it back."""
    active = request.POST.get("active") == "1"
    item = mall_admin.set_active(current_staff(request), item_id, active)
    if active:
        messages.success(request, _("“%(name)s” is back in the points mall.") % {"name": item.name})
    else:
        messages.success(request, _("“%(name)s” is no longer in the points mall.") % {"name": item.name})
    return redirect("console:loyalty_mall")


# --- tiers ---------------------------------------------------------------------------------------------


class TierForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=30)
    threshold = forms.IntegerField(
        label=gettext_lazy("Points earned in 12 months to reach it"),
        min_value=0,
        max_value=tier_admin.MAX_THRESHOLD,
    )
    multiplier_percent = forms.IntegerField(
        label=gettext_lazy("Points multiplier (%, 150 = 1.5×)"), min_value=100, max_value=1000, initial=100
    )
    member_price = forms.BooleanField(label=gettext_lazy("Member prices"), required=False, initial=True)
    birthday_template_id = forms.TypedChoiceField(
        label=gettext_lazy("Birthday coupon"), coerce=int, required=False, empty_value=None
    )
    grace_days = forms.IntegerField(
        label=gettext_lazy("Grace days before moving down"), min_value=0, max_value=365, initial=0
    )

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["birthday_template_id"].choices = [("", _("No birthday coupon"))] + [
            (t.pk, t.name) for t in mall_admin.coupon_choices(staff)
        ]

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "threshold": d["threshold"],
            "multiplier_percent": d["multiplier_percent"],
            "member_price": bool(d["member_price"]),
            "birthday_template_id": d["birthday_template_id"],
            "grace_days": d["grace_days"] or 0,
        }


def _tier_initial(tier: Tier) -> dict[str, Any]:
    return {
        "name": tier.name,
        "threshold": tier.threshold,
        "multiplier_percent": tier.multiplier_percent,
        "member_price": tier.member_price,
        "birthday_template_id": tier.birthday_template_id,
        "grace_days": tier.grace_days,
    }


def _preview_with(staff: Any, tier: Tier | None, form: TierForm) -> list[tier_admin.PreviewRow]:
    """The preview for the levels as they would be with this form's threshold (before saving)."""
    levels = [(t.name, t.threshold) for t in tier_admin.list_tiers(staff) if tier is None or t.pk != tier.pk]
    threshold = form.cleaned_data.get("threshold") if form.is_bound and form.is_valid() else None
    if threshold is not None:
        levels.append((form.cleaned_data["name"], threshold))
    elif tier is not None:
        levels.append((tier.name, tier.threshold))
    if len({t for _n, t in levels}) != len(levels):
        return tier_admin.preview(staff)
    return tier_admin.preview(staff, levels)


@require_GET
@console_view("loyalty.manage")
def tier_list(request: HttpRequest) -> HttpResponse:
    """Levels by points earned in 12 months, with how many members each holds now."""
    staff = current_staff(request)
    counts = {r.name: r.members for r in tier_admin.preview(staff)}
    rows = [(t, counts.get(t.name, 0)) for t in tier_admin.list_tiers(staff)]
    return render(
        request,
        "console/loyalty/tiers.html",
        {"rows": rows, "below": counts.get("")},
    )


def _tier_form_page(request: HttpRequest, tier: Tier | None) -> HttpResponse:
    staff = current_staff(request)
    form = TierForm(
        request.POST or None, staff=staff, initial=_tier_initial(tier) if tier else {"member_price": True}
    )
    if request.method == "POST" and request.POST.get("action") != "preview" and form.is_valid():
        try:
            if tier is None:
                saved = tier_admin.create_tier(staff, form.service_data())
            else:
                saved = tier_admin.update_tier(staff, tier.pk, form.service_data())
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Tier “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:loyalty_tiers")
    return render(
        request,
        "console/loyalty/tier_form.html",
        {"form": form, "tier": tier, "preview": _preview_with(staff, tier, form)},
    )


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def tier_new(request: HttpRequest) -> HttpResponse:
    """A new level; "preview" shows how many members each level would hold with it, without saving."""
    return _tier_form_page(request, None)


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def tier_edit(request: HttpRequest, tier_id: int) -> HttpResponse:
    return _tier_form_page(request, tier_admin.get_tier(current_staff(request), tier_id))
