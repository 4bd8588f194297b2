"""Console pages for flash sales (秒杀): the list, the set-up form, the detail page with publish / cancel,
and its live view (an htmx fragment polled every 2 seconds: units left and sold per item, orders written,
orders per second, a line of orders per 10 seconds, and the relay log).

Thin callers of ``siyu.campaigns.services.flash_sales``: it decides who may do what (store roles read
only, and only their stores' numbers). Prices are typed in yuan and turned into fen exactly (at most two
decimals, no floats); every other rule is the service's.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus
from siyu.campaigns.services import flash_sales
from siyu.catalog.models import Sku
from siyu.common.errors import ServiceError, ValidationFailed
from siyu.common.validators import fen_to_yuan as yuan
from siyu.common.validators import yuan_to_fen
from siyu.communities.models import Community
from siyu.org.models import Staff, Store
from siyu.org.services.access import store_scope
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

from .helpers import console_view, current_staff, form_error, is_htmx

PAGE_SIZE = 30
DEFAULT_ROWS = 3
LIVE_PHASES = (flash_sales.Phase.SCHEDULED, flash_sales.Phase.RUNNING)
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _whole(raw: str, field: str) -> int:
    value = (raw or "").strip()
    if not value.isdigit() or len(value) > 9:
        raise ValidationFailed(_("Give a whole number."), field=field)
    return int(value)


# --- forms -----------------------------------------------------------------------------------------


def _when(label: Any, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )


class FlashSaleForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=100)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    starts_at = _when(gettext_lazy("Starts at"))
    ends_at = _when(gettext_lazy("Ends at"))
    pickup_until = _when(gettext_lazy("Pick up until (default: 3 days after the end)"), required=False)
    warmup_at = _when(gettext_lazy("Warm-up post at (optional)"), required=False)
    warmup_text = forms.CharField(
        label=gettext_lazy("Warm-up text (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    start_text = forms.CharField(
        label=gettext_lazy("Start text (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    relay_enabled = forms.BooleanField(
        label=gettext_lazy("Post the 接龙 relay into the groups"), required=False, initial=True
    )
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (none chosen: every open store)"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    communities = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Groups the robot posts into"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        brand_id = current_brand_id(staff)
        fields: Any = self.fields
        fields["stores"].choices = [(s.pk, f"{s.code} {s.name}") for s in open_stores(brand_id)]
        fields["communities"].choices = [
            (c.pk, f"{c.store.name} · {c.name}")
            for c in Community.objects.filter(brand_id=brand_id, store__status=Store.Status.OPEN)
            .exclude(status=Community.Status.ARCHIVED)
            .select_related("store")
            .order_by("store__code", "sequence", "id")
        ]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data.get("description") or "",
            "starts_at": data.get("starts_at"),
            "ends_at": data.get("ends_at"),
            "pickup_until": data.get("pickup_until"),
            "warmup_at": data.get("warmup_at"),
            "warmup_text": data.get("warmup_text") or "",
            "start_text": data.get("start_text") or "",
            "relay_enabled": bool(data.get("relay_enabled")),
            "store_ids": list(data.get("stores") or []),
            "community_ids": list(data.get("communities") or []),
        }


class ExtendForm(forms.Form):
    """What a published sale still takes: its description, a later end and a later pickup deadline."""

    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    ends_at = _when(gettext_lazy("Ends at"))
    pickup_until = _when(gettext_lazy("Pick up until"))


_FORM_FIELD = {"store_ids": "stores", "community_ids": "communities"}


def _sku_choices(staff: Staff) -> list[tuple[int, str]]:
    skus = (
        Sku.objects.filter(
            product__brand_id=current_brand_id(staff),
            active=True,
            product__active=True,
            product__publications__withdrawn_at__isnull=True,
        )
        .select_related("product")
        .distinct()
        .order_by("-product__is_hot", "product__name", "id")
    )
    return [
        (s.pk, f"{s.product.name} {s.spec or ''} ({s.code}) · ¥{yuan(s.price_fen)}".replace("  ", " "))
        for s in skus
    ]


# --- item rows ---------------------------------------------------------------------------------------


def _row_count(request: HttpRequest, default: int) -> int:
    try:
        count = int(request.POST.get("rows") or default)
    except ValueError:
        count = default
    return max(1, min(count, flash_sales.MAX_ITEMS))


def _posted_rows(request: HttpRequest, count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        rows.append(
            {
                "i": i,
                "sku": (request.POST.get(f"item-{i}-sku") or "").strip()[:20],
                "price": (request.POST.get(f"item-{i}-price") or "").strip()[:20],
                "stock": (request.POST.get(f"item-{i}-stock") or "").strip()[:20],
                "limit": (request.POST.get(f"item-{i}-limit") or "").strip()[:20],
                "error": "",
            }
        )
    return rows


def _items_from_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The service's items from the filled rows (blank rows skipped) and, per item, its row index.
    A malformed row raises ValidationFailed with field ``items.<row>.<field>``."""
    items: list[dict[str, Any]] = []
    row_of: list[int] = []
    for row in rows:
        if not any(row[k] for k in ("sku", "price", "stock", "limit")):
            continue
        i = row["i"]
        if not row["sku"].isdigit():
            raise ValidationFailed(_("Choose a SKU."), field=f"row.{i}.sku_id")
        items.append(
            {
                "sku_id": int(row["sku"]),
                "price_fen": yuan_to_fen(row["price"], f"row.{i}.price_fen"),
                "stock": _whole(row["stock"], f"row.{i}.stock"),
                "per_member_limit": _whole(row["limit"] or "1", f"row.{i}.per_member_limit"),
            }
        )
        row_of.append(i)
    return items, row_of


def _rows_of(campaign: Campaign) -> list[dict[str, Any]]:
    return [
        {
            "i": i,
            "sku": str(item.sku_id),
            "price": yuan(item.price_fen),
            "stock": str(item.stock),
            "limit": str(item.per_member_limit),
            "error": "",
        }
        for i, item in enumerate(campaign.flash_items.order_by("position", "id"))
    ]


def _blank_rows(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"i": i, "sku": "", "price": "", "stock": "", "limit": "1", "error": ""} for i in range(start, count)
    ]


def _show_error(form: forms.Form, rows: list[dict[str, Any]], row_of: list[int], exc: ServiceError) -> None:
    """Put a refusal on the item row it names, else on the form's field (or the form)."""
    name = exc.field or ""
    parts = name.split(".")
    if parts[0] in ("items", "row") and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        row_index = row_of[index] if parts[0] == "items" and index < len(row_of) else index
        for row in rows:
            if row["i"] == row_index:
                row["error"] = str(exc.message)
                return
    exc.field = _FORM_FIELD.get(name, name) if name != "items" else None
    form_error(form, exc)


def _local_input(moment: Any) -> str | None:
    return timezone.localtime(moment).strftime(_LOCAL_INPUT) if moment else None


def _form_page(
    request: HttpRequest,
    staff: Staff,
    form: forms.Form,
    rows: list[dict[str, Any]],
    *,
    campaign: Campaign | None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "rows": rows,
        "row_count": len(rows),
        "max_rows": flash_sales.MAX_ITEMS,
        "sku_choices": _sku_choices(staff),
        "campaign": campaign,
    }
    return render(request, "console/campaigns/flash_form.html", context, status=status)


def _save(
    request: HttpRequest, staff: Staff, campaign: Campaign | None
) -> tuple[Campaign | None, forms.Form, list[dict[str, Any]]]:
    form = FlashSaleForm(request.POST, staff=staff, prefix="sale")
    rows = _posted_rows(request, _row_count(request, DEFAULT_ROWS))
    if request.POST.get("add_row"):
        rows += _blank_rows(len(rows), min(len(rows) + 1, flash_sales.MAX_ITEMS))
        form.is_valid()  # shows what was typed; nothing is saved
        form.errors.clear()
        return None, form, rows
    if not form.is_valid():
        return None, form, rows
    row_of: list[int] = []
    try:
        items, row_of = _items_from_rows(rows)
        data = {**form.service_data(), "items": items}
        if campaign is None:
            saved = flash_sales.create_flash_sale(staff, data)
        else:
            saved = flash_sales.update_flash_sale(staff, campaign.pk, data)
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        _show_error(form, rows, row_of, exc)
        return None, form, rows
    return saved, form, rows


# --- pages -------------------------------------------------------------------------------------------


@require_GET
@console_view()
def campaigns(request: HttpRequest) -> HttpResponse:
    """Campaigns I may see (store staff: published ones in their stores), with window and sold/stock."""
    staff = current_staff(request)
    status = (request.GET.get("status") or "").strip()
    qs = flash_sales.visible_campaigns(staff, kind=None)
    if status in CampaignStatus.values:
        qs = qs.filter(status=status)
    page = Paginator(flash_sales.annotate_totals(staff, qs), PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        {
            "campaign": c,
            "phase": flash_sales.phase(c, now),
            "url": reverse("console:campaign_detail", args=[c.pk])
            if c.kind == CampaignKind.FLASH_SALE
            else "",
        }
        for c in page.object_list
    ]
    context = {
        "page": page,
        "rows": rows,
        "can_manage": flash_sales.can_manage(staff),
        "statuses": CampaignStatus.choices,
        "f_status": status,
    }
    return render(request, "console/campaigns/list.html", context)


@require_http_methods(["GET", "POST"])
@console_view()
def campaign_flash_new(request: HttpRequest) -> HttpResponse:
    """Set up a flash sale (head office): a draft, published from its page."""
    staff = current_staff(request)
    flash_sales.require_manager(staff)
    if request.method == "POST":
        saved, form, rows = _save(request, staff, None)
        if saved is not None:
            messages.success(request, _("Flash sale “%(title)s” saved as a draft.") % {"title": saved.title})
            return redirect("console:campaign_detail", campaign_id=saved.pk)
        return _form_page(
            request, staff, form, rows, campaign=None, status=200 if request.POST.get("add_row") else 400
        )
    form = FlashSaleForm(staff=staff, prefix="sale")
    return _form_page(request, staff, form, _blank_rows(0, DEFAULT_ROWS), campaign=None)


@require_http_methods(["GET", "POST"])
@console_view()
def campaign_flash_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Edit a draft in full; on a published sale only the description, a later end and pickup deadline."""
    staff = current_staff(request)
    flash_sales.require_manager(staff)
    campaign = flash_sales.get_campaign(staff, campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        raise ValidationFailed(_("This flash sale was cancelled."), field="status")
    if campaign.status == CampaignStatus.PUBLISHED:
        return _extend(request, staff, campaign)
    if request.method == "POST":
        saved, form, rows = _save(request, staff, campaign)
        if saved is not None:
            messages.success(request, _("Flash sale saved."))
            return redirect("console:campaign_detail", campaign_id=saved.pk)
        return _form_page(
            request, staff, form, rows, campaign=campaign, status=200 if request.POST.get("add_row") else 400
        )
    form = FlashSaleForm(
        staff=staff,
        prefix="sale",
        initial={
            "title": campaign.title,
            "description": campaign.description,
            "starts_at": _local_input(campaign.starts_at),
            "ends_at": _local_input(campaign.ends_at),
            "pickup_until": _local_input(campaign.pickup_until),
            "warmup_at": _local_input(campaign.warmup_at),
            "warmup_text": campaign.warmup_text,
            "start_text": campaign.start_text,
            "relay_enabled": campaign.relay_enabled,
            "stores": list(campaign.stores.values_list("pk", flat=True)),
            "communities": list(campaign.communities.values_list("pk", flat=True)),
        },
    )
    rows = _rows_of(campaign)
    rows += _blank_rows(len(rows), max(len(rows), 1))
    return _form_page(request, staff, form, rows, campaign=campaign)


def _extend(request: HttpRequest, staff: Staff, campaign: Campaign) -> HttpResponse:
    form = ExtendForm(
        request.POST or None,
        prefix="sale",
        initial={
            "description": campaign.description,
            "ends_at": _local_input(campaign.ends_at),
            "pickup_until": _local_input(campaign.pickup_until),
        },
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                flash_sales.update_flash_sale(
                    staff,
                    campaign.pk,
                    {
                        "description": data.get("description") or "",
                        "ends_at": data["ends_at"],
                        "pickup_until": data["pickup_until"],
                    },
                )
            except ServiceError as exc:
                if exc.status in (403, 404):
                    raise
                form_error(form, exc)
            else:
                messages.success(request, _("Flash sale saved."))
                return redirect("console:campaign_detail", campaign_id=campaign.pk)
    return render(
        request, "console/campaigns/extend.html", {"form": form, "campaign": campaign}, status=status
    )


def _detail_context(staff: Staff, campaign: Campaign) -> dict[str, Any]:
    stats = flash_sales.live_stats(staff, campaign.pk)
    phase = stats.phase
    manage = flash_sales.can_manage(staff)
    groups = campaign.communities.all()
    scope = store_scope(staff)
    if scope is not None:
        groups = groups.filter(store_id__in=scope)
    return {
        "campaign": campaign,
        "stats": stats,
        "phase": phase,
        "live": phase in LIVE_PHASES,
        "can_manage": manage,
        "can_publish": manage and phase == flash_sales.Phase.DRAFT,
        "can_cancel": manage
        and phase in (flash_sales.Phase.DRAFT, flash_sales.Phase.SCHEDULED, flash_sales.Phase.RUNNING),
        "can_edit": manage
        and phase in (flash_sales.Phase.DRAFT, flash_sales.Phase.SCHEDULED, flash_sales.Phase.RUNNING),
        "stores": list(campaign.stores.order_by("code")),
        "groups": list(groups.select_related("store").order_by("store__code", "id")),
        "item_rows": [
            {
                "item": s.item,
                "price": yuan(s.item.price_fen),
                "normal": yuan(s.item.sku.price_fen),
            }
            for s in stats.items
        ],
        **_live_context(stats),
    }


def _live_context(stats: flash_sales.LiveStats) -> dict[str, Any]:
    return {
        "stats": stats,
        "chart": {"labels": stats.series_labels, "counts": stats.series_counts},
        "live_rows": [
            {
                "s": s,
                "name": f"{s.item.sku.product.name} {s.item.sku.spec}".strip(),
                "price": yuan(s.item.price_fen),
            }
            for s in stats.items
        ],
    }


@require_GET
@console_view()
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The sale's set-up, publish / cancel, and the live view."""
    staff = current_staff(request)
    campaign = flash_sales.get_campaign(staff, campaign_id)
    return render(request, "console/campaigns/detail.html", _detail_context(staff, campaign))


@require_GET
@console_view()
def campaign_live(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The live fragment (htmx polls it every 2 s). Once the sale is over it answers 286, which tells htmx
    to stop polling. A plain GET gets the whole detail page."""
    staff = current_staff(request)
    campaign = flash_sales.get_campaign(staff, campaign_id)
    if not is_htmx(request):
        return redirect("console:campaign_detail", campaign_id=campaign.pk)
    stats = flash_sales.live_stats(staff, campaign.pk)
    response = render(request, "console/campaigns/_live.html", {"campaign": campaign, **_live_context(stats)})
    if stats.phase not in LIVE_PHASES:
        response.status_code = 286
    return response


@require_POST
@console_view()
def campaign_publish(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = flash_sales.publish_flash_sale(current_staff(request), campaign_id)
    messages.success(request, _("Flash sale “%(title)s” published.") % {"title": campaign.title})
    return redirect("console:campaign_detail", campaign_id=campaign.pk)


@require_POST
@console_view()
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    reason = (request.POST.get("reason") or "").strip()[:200]
    campaign = flash_sales.cancel_flash_sale(current_staff(request), campaign_id, reason=reason)
    messages.success(
        request,
        _("Flash sale “%(title)s” cancelled. Orders already placed stay; cancel or refund them one by one.")
        % {"title": campaign.title},
    )
    return redirect("console:campaign_detail", campaign_id=campaign.pk)
