"""Console forms for coupon templates and issuing (amounts typed in yuan, days in Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Category, Product, Sku
from siyu.common.validators import fen_to_yuan, yuan_to_fen
from siyu.loyalty.models import CouponTemplate
from siyu.org.models import Staff, Store

YUAN = {"inputmode": "decimal", "autocomplete": "off"}


class CouponTemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    kind = forms.ChoiceField(label=_("Kind"), choices=CouponTemplate.Kind.choices)
    amount = forms.CharField(label=_("Amount off (yuan)"), required=False, widget=forms.TextInput(attrs=YUAN))
    percent_off = forms.IntegerField(label=_("Percent off"), required=False, min_value=1, max_value=99)
    cap = forms.CharField(label=_("At most (yuan)"), required=False, widget=forms.TextInput(attrs=YUAN))
    threshold = forms.CharField(
        label=_("Minimum spend (yuan)"), required=False, widget=forms.TextInput(attrs=YUAN)
    )
    gift_sku = forms.ModelChoiceField(label=_("Gift"), queryset=Sku.objects.none(), required=False)
    valid_from = forms.DateField(
        label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_until = forms.DateField(
        label=_("Valid until (last day)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    valid_days = forms.IntegerField(
        label=_("Or: valid for days after issue"), required=False, min_value=1, max_value=3650
    )
    stores = forms.ModelMultipleChoiceField(
        label=_("Stores (none: every store)"), queryset=Store.objects.none(), required=False
    )
    categories = forms.ModelMultipleChoiceField(
        label=_("Categories (none: every category)"), queryset=Category.objects.none(), required=False
    )
    products = forms.ModelMultipleChoiceField(
        label=_("Products (none: every product)"), queryset=Product.objects.none(), required=False
    )
    stackable = forms.BooleanField(label=_("Can be combined with other coupons"), required=False)
    member_limit = forms.IntegerField(label=_("Per member"), min_value=1, max_value=100, initial=1)
    total_quantity = forms.IntegerField(
        label=_("Total quantity (empty: no limit)"), required=False, min_value=1
    )
    store_budget = forms.CharField(
        label=_("Discount budget per store (yuan, empty: none)"),
        required=False,
        widget=forms.TextInput(attrs=YUAN),
    )
    return_on_refund = forms.BooleanField(label=_("Returned when the order is refunded"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        brand = staff.brand_id or 0
        choices: dict[str, Any] = {
            "stores": Store.objects.filter(brand_id=brand).order_by("code"),
            "categories": Category.objects.filter(brand_id=brand),
            "products": Product.objects.filter(brand_id=brand, active=True),
            "gift_sku": Sku.objects.filter(product__brand_id=brand, active=True).select_related("product"),
        }
        for name, queryset in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = queryset

    def service_data(self) -> dict[str, Any]:
        """The cleaned form as the service's template data (fen, aware datetimes, id lists)."""
        d = self.cleaned_data

        def fen(name: str, field: str) -> int | None:
            raw = (d.get(name) or "").strip()
            return yuan_to_fen(raw, field) if raw else None

        start = d.get("valid_from")
        end = d.get("valid_until")
        return {
            "name": d["name"],
            "kind": d["kind"],
            "amount_fen": fen("amount", "amount_fen") or 0,
            "percent_off": d.get("percent_off") or 0,
            "cap_fen": fen("cap", "cap_fen") or 0,
            "threshold_fen": fen("threshold", "threshold_fen") or 0,
            "gift_sku_id": d["gift_sku"].pk if d.get("gift_sku") else None,
            "valid_from": timezone.make_aware(datetime.combine(start, time.min)) if start else None,
            "valid_until": timezone.make_aware(datetime.combine(end, time(23, 59, 59))) if end else None,
            "valid_days": d.get("valid_days"),
            "store_ids": [s.pk for s in d.get("stores") or []],
            "category_ids": [c.pk for c in d.get("categories") or []],
            "product_ids": [p.pk for p in d.get("products") or []],
            "stackable": bool(d.get("stackable")),
            "member_limit": d.get("member_limit") or 1,
            "total_quantity": d.get("total_quantity"),
            "store_budget_fen": fen("store_budget", "store_budget_fen"),
            "return_on_refund": bool(d.get("return_on_refund")),
            "active": bool(d.get("active")),
        }


# Service field → form field, to show a service's refusal on the right input.
SERVICE_FIELDS = {
    "amount_fen": "amount",
    "cap_fen": "cap",
    "threshold_fen": "threshold",
    "gift_sku_id": "gift_sku",
    "store_budget_fen": "store_budget",
    "store_ids": "stores",
    "product_ids": "products",
    "category_ids": "categories",
}


def initial_for(template: CouponTemplate) -> dict[str, Any]:
    def yuan(fen: int | None) -> str:
        return fen_to_yuan(fen) if fen else ""

    return {
        "name": template.name,
        "kind": template.kind,
        "amount": yuan(template.amount_fen),
        "percent_off": template.percent_off or None,
        "cap": yuan(template.cap_fen),
        "threshold": yuan(template.threshold_fen),
        "gift_sku": template.gift_sku_id,
        "valid_from": timezone.localdate(template.valid_from) if template.valid_from else None,
        "valid_until": timezone.localdate(template.valid_until) if template.valid_until else None,
        "valid_days": template.valid_days,
        "stores": list(template.stores.values_list("pk", flat=True)),
        "categories": list(template.categories.values_list("pk", flat=True)),
        "products": list(template.products.values_list("pk", flat=True)),
        "stackable": template.stackable,
        "member_limit": template.member_limit,
        "total_quantity": template.total_quantity,
        "store_budget": yuan(template.store_budget_fen),
        "return_on_refund": template.return_on_refund,
        "active": template.active,
    }
