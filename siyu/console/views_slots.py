"""Console pages for recharge-slot deposits (预定充值名额): the slot campaigns with their report, head
office's setup and publish, and the counter page (phone-first) where a clerk converts a member's held slot
with an in-store recharge. Thin callers of ``siyu.campaigns.services.recharge_slots``, which decides scope
(store staff see only their stores' slots; another store's slot answers 404) and who may set up (HQ)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.campaigns.models import CampaignStatus, UnusedPolicy
from siyu.campaigns.services.recharge_slots import counter, report, setup
from siyu.common.errors import PermissionDenied, ServiceError
from siyu.common.mobile import mask_mobile
from siyu.common.validators import fen_to_yuan as yuan
from siyu.common.validators import yuan_to_fen
from siyu.communities.models import Community
from siyu.org.models import Staff
from siyu.org.services.access import is_chain_wide
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

from .helpers import console_view, current_staff, form_error, request_ip


def _row(slot_campaign: Any) -> dict[str, Any]:
    return {
        "sc": slot_campaign,
        "campaign": slot_campaign.campaign,
        "deposit": yuan(slot_campaign.deposit_fen),
        "threshold": yuan(slot_campaign.threshold_fen),
        "slots": setup.slots_for_sale(slot_campaign),
    }


@require_GET
@console_view()
def slot_campaigns(request: HttpRequest) -> HttpResponse:
    """The slot campaigns I may see, with a link to the counter."""
    staff = current_staff(request)
    rows = [_row(sc) for sc in setup.visible_slot_campaigns(staff)[:100]]
    return render(request, "console/slots/list.html", {"rows": rows, "is_hq": is_chain_wide(staff)})


@require_GET
@console_view()
def slot_campaign_detail(request: HttpRequest, slot_campaign_id: int) -> HttpResponse:
    """One slot campaign: its settings, publish (HQ, drafts) and the report (store staff: their stores)."""
    staff = current_staff(request)
    sc = setup.get_slot_campaign(staff, slot_campaign_id)
    rep = report.slot_report(staff, sc.pk)
    context = {
        **_row(sc),
        "report": rep,
        "rate": f"{rep.conversion_rate * 100:.1f}",
        "recharge": yuan(rep.recharge_fen),
        "credited": yuan(rep.deposits_credited_fen),
        "dep_refunded": yuan(rep.deposits_refunded_fen),
        "dep_forfeited": yuan(rep.deposits_forfeited_fen),
        "per_store": [{**r, "recharge": yuan(r["recharge_fen"])} for r in rep.per_store],
        "stores": list(sc.campaign.stores.order_by("code")),
        "is_hq": is_chain_wide(staff),
        "can_publish": sc.campaign.status == CampaignStatus.DRAFT,
    }
    return render(request, "console/slots/detail.html", context)


@require_POST
@console_view("campaigns.manage")
def slot_campaign_publish(request: HttpRequest, slot_campaign_id: int) -> HttpResponse:
    staff = current_staff(request)
    sc = setup.publish_slot_campaign(staff, slot_campaign_id)
    messages.success(request, _("Published: members can buy slots when the sale starts."))
    return redirect("console:slot_campaign", slot_campaign_id=sc.pk)


class SlotCampaignForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=100)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    deposit = forms.DecimalField(
        label=gettext_lazy("Deposit (yuan)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("1000"),
        decimal_places=2,
        initial=Decimal("11"),
    )
    slots = forms.IntegerField(label=gettext_lazy("Slots"), min_value=1, max_value=100000, initial=100)
    threshold = forms.DecimalField(
        label=gettext_lazy("Least in-store recharge (yuan)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("100000"),
        decimal_places=2,
        initial=Decimal("3000"),
    )
    gift_text = forms.CharField(label=gettext_lazy("Gift shown to members"), required=False, max_length=200)
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Sale starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=gettext_lazy("Sale ends at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    convert_until = forms.DateTimeField(
        label=gettext_lazy("Recharge in store by"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    unused_policy = forms.ChoiceField(
        label=gettext_lazy("Deposits not used by then"), choices=UnusedPolicy.choices
    )
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (none: every open store)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    communities = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Groups the robot posts in"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        brand_id = current_brand_id(staff)
        fields["stores"].choices = [(s.pk, f"{s.code} {s.name}") for s in open_stores(brand_id)]
        fields["communities"].choices = [
            (c.pk, f"{c.store.name} · {c.name}")
            for c in Community.objects.filter(brand_id=brand_id, status=Community.Status.OPEN)
            .select_related("store")
            .order_by("store__code", "name")[:500]
        ]

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data["description"],
            "deposit_fen": int(data["deposit"] * 100),
            "slots": data["slots"],
            "threshold_fen": int(data["threshold"] * 100),
            "gift_text": data["gift_text"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "convert_until": data["convert_until"],
            "unused_policy": data["unused_policy"],
            "store_ids": data["stores"],
            "community_ids": data["communities"],
        }


_FORM_FIELDS = {
    "deposit_fen": "deposit",
    "threshold_fen": "threshold",
    "store_ids": "stores",
    "community_ids": "communities",
    "pickup_until": "convert_until",
}


@require_http_methods(["GET", "POST"])
@console_view()
def slot_campaign_new(request: HttpRequest) -> HttpResponse:
    """Head office sets up a slot campaign (a draft until published)."""
    staff = current_staff(request)
    if not is_chain_wide(staff):
        raise PermissionDenied(_("Only head office sets up slot campaigns."))
    form = SlotCampaignForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            sc = setup.create_slot_campaign(staff, form.service_data())
        except ServiceError as exc:
            field = _FORM_FIELDS.get(exc.field or "", exc.field)
            exc.field = field if field in form.fields else None
            form_error(form, exc)
        else:
            messages.success(
                request, _("Slot campaign “%(title)s” created as a draft.") % {"title": sc.campaign.title}
            )
            return redirect("console:slot_campaign", slot_campaign_id=sc.pk)
    return render(request, "console/slots/new.html", {"form": form})


# --- the counter -------------------------------------------------------------------------------------


def _slot_row(slot: Any) -> dict[str, Any]:
    sc = slot.slot_campaign
    return {
        "slot": slot,
        "title": sc.campaign.title,
        "mobile": mask_mobile(slot.member.mobile),
        "name": slot.member.name or slot.member.nickname,
        "deposit": yuan(slot.deposit_fen),
        "threshold": yuan(sc.threshold_fen),
        "threshold_value": yuan(sc.threshold_fen),
        "gift_text": sc.gift_text,
        "deadline": timezone.localtime(sc.convert_until),
        "held": slot.status == "held",
    }


@require_http_methods(["GET", "POST"])
@console_view()
def slot_counter(request: HttpRequest) -> HttpResponse:
    """Find a member's slot (mobile or pickup code), enter the in-store recharge, confirm; the receipt."""
    staff = current_staff(request)
    context: dict[str, Any] = {"q": "", "rows": None, "done": None}
    if request.method == "POST":
        slot_id = request.POST.get("slot", "")
        amount = yuan_to_fen(request.POST.get("amount", ""), "amount_fen", minimum=1)
        done = counter.convert_slot(
            staff, slot_id, amount, key=request.POST.get("idempotency_key", ""), ip=request_ip(request)
        )
        context["done"] = {
            "slot": done.slot,
            "row": _slot_row(done.slot),
            "recharge": yuan(done.recharge_fen),
            "deposit": yuan(done.deposit_fen),
            "credited": yuan(done.credited_fen),
            "bonus": yuan(done.bonus_fen),
            "gift": done.gift,
            "principal": yuan(done.principal_fen),
            "bonus_balance": yuan(done.bonus_balance_fen),
        }
        return render(request, "console/slots/counter.html", context)
    q = (request.GET.get("q") or "").strip()
    if q:
        context["q"] = q
        context["rows"] = [_slot_row(s) for s in counter.find_slots(staff, q)]
        context["idempotency_key"] = secrets.token_urlsafe(18)
    return render(request, "console/slots/counter.html", context)
