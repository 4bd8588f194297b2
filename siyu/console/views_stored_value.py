"""Console: stored value (储值) — recharge tiers and the policy (head office), the counter recharge on the
phone (find the member, amount in yuan, preview of the tier's bonus and gift, confirm, receipt), recharge
gifts handed over, a member's balance and statement with the cash refund of principal, and the compliance
reports. Thin callers of ``siyu.loyalty.services`` (recharge_rules, recharge, stored_value_reports)."""

from __future__ import annotations

import secrets
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

from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan, yuan_to_fen
from siyu.loyalty.models import RechargeRule, StoredValuePolicy
from siyu.loyalty.services import recharge, recharge_rules
from siyu.loyalty.services import stored_value as sv
from siyu.loyalty.services import stored_value_reports as reports_service
from siyu.members.services.profiles import display_mobile
from siyu.org.services.access import has_capability, visible_stores

from .helpers import console_view, current_staff, form_error

ENTRIES_PAGE = 30
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"
MAX_YUAN_FEN = sv.MAX_AMOUNT_FEN


def _when(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )


def _yuan(label: Any, *, required: bool = True) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, max_length=12, widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )


# --- head office: tiers and policy ---------------------------------------------------------------------


class TierForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    threshold = _yuan(gettext_lazy("Recharge at least (yuan)"))
    bonus = _yuan(gettext_lazy("Bonus (yuan)"), required=False)
    gift = forms.CharField(label=gettext_lazy("Gift to collect in store"), max_length=100, required=False)
    starts_at = _when(gettext_lazy("Starts (empty: now)"))
    ends_at = _when(gettext_lazy("Ends (empty: no end)"))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (none: every store)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["stores"]
        field.choices = [(s.pk, f"{s.code} {s.name}") for s in visible_stores(staff)]

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "threshold_fen": yuan_to_fen(d["threshold"], "threshold", minimum=1, maximum=MAX_YUAN_FEN),
            "bonus_fen": yuan_to_fen(d["bonus"] or "0", "bonus", maximum=MAX_YUAN_FEN),
            "gift": d["gift"],
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "active": bool(d["active"]),
            "store_ids": list(d["stores"] or []),
        }


def _tier_initial(rule: RechargeRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "threshold": fen_to_yuan(rule.threshold_fen),
        "bonus": fen_to_yuan(rule.bonus_fen),
        "gift": rule.gift,
        "starts_at": timezone.localtime(rule.starts_at) if rule.starts_at else None,
        "ends_at": timezone.localtime(rule.ends_at) if rule.ends_at else None,
        "active": rule.active,
        "stores": [s.pk for s in rule.stores.all()],
    }


class PolicyForm(forms.Form):
    cap = _yuan(gettext_lazy("Balance cap per named member (yuan)"))
    bonus_spend = forms.ChoiceField(
        label=gettext_lazy("How bonus is spent"), choices=StoredValuePolicy.BonusSpend.choices
    )
    bonus_expiry_days = forms.IntegerField(
        label=gettext_lazy("Bonus expires after (days; 0: never)"), min_value=0, max_value=3650
    )
    forfeit_bonus_on_refund = forms.BooleanField(
        label=gettext_lazy("A cash refund of principal forfeits the bonus in proportion"), required=False
    )
    custody = _yuan(gettext_lazy("Amount in custody (yuan)"))
    custody_percent = forms.IntegerField(
        label=gettext_lazy("Required custody ratio (%)"), min_value=0, max_value=100
    )


def _policy_initial(policy: StoredValuePolicy) -> dict[str, Any]:
    return {
        "cap": fen_to_yuan(policy.cap_fen),
        "bonus_spend": policy.bonus_spend,
        "bonus_expiry_days": policy.bonus_expiry_days,
        "forfeit_bonus_on_refund": policy.forfeit_bonus_on_refund,
        "custody": fen_to_yuan(policy.custody_fen),
        "custody_percent": policy.custody_percent,
    }


@require_GET
@console_view()
def sv_home(request: HttpRequest) -> HttpResponse:
    """Stored value: the recharge tiers, the policy (HQ) and links to the counter and the reports."""
    staff = current_staff(request)
    policy = recharge_rules.get_policy(staff)
    can_manage = has_capability(staff, "stored_value.manage")
    return render(
        request,
        "console/stored_value/home.html",
        {
            "rules": recharge_rules.list_rules(staff),
            "policy": policy,
            "policy_form": PolicyForm(initial=_policy_initial(policy)) if can_manage else None,
            "can_manage": can_manage,
            "can_recharge": has_capability(staff, "stored_value.recharge"),
            "can_reports": has_capability(staff, "stored_value.reports"),
        },
    )


@require_http_methods(["GET", "POST"])
@console_view("stored_value.manage")
def sv_rule_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = TierForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            rule = recharge_rules.create_rule(staff, form.service_data())
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Recharge tier “%(name)s” saved.") % {"name": rule.name})
            return redirect("console:sv_home")
    return render(request, "console/stored_value/rule_form.html", {"form": form, "rule": None})


@require_http_methods(["GET", "POST"])
@console_view("stored_value.manage")
def sv_rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    staff = current_staff(request)
    rule = recharge_rules.get_rule(staff, rule_id)
    form = TierForm(request.POST or None, staff=staff, initial=_tier_initial(rule))
    if request.method == "POST" and form.is_valid():
        try:
            rule = recharge_rules.update_rule(staff, rule.pk, form.service_data())
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Recharge tier “%(name)s” saved.") % {"name": rule.name})
            return redirect("console:sv_home")
    return render(request, "console/stored_value/rule_form.html", {"form": form, "rule": rule})


@require_POST
@console_view("stored_value.manage")
def sv_policy(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = PolicyForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            recharge_rules.update_policy(
                staff,
                {
                    "cap_fen": yuan_to_fen(d["cap"], "cap", minimum=100, maximum=recharge_rules.MAX_CAP_FEN),
                    "bonus_spend": d["bonus_spend"],
                    "bonus_expiry_days": d["bonus_expiry_days"],
                    "forfeit_bonus_on_refund": d["forfeit_bonus_on_refund"],
                    "custody_fen": yuan_to_fen(
                        d["custody"], "custody", maximum=recharge_rules.MAX_CUSTODY_FEN
                    ),
                    "custody_percent": d["custody_percent"],
                },
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Saved."))
    else:
        messages.error(request, _("Check the stored-value settings: %(errors)s") % {"errors": _errors(form)})
    return redirect("console:sv_home")


def _errors(form: forms.Form) -> str:
    return "; ".join(
        f"{form.fields[k].label}: {' '.join(str(e) for e in v)}"
        for k, v in form.errors.items()
        if k in form.fields
    )


# --- the counter ---------------------------------------------------------------------------------------


def _member_context(request: HttpRequest, member: Any) -> dict[str, Any]:
    staff = current_staff(request)
    stores = recharge.counter_stores(staff)
    default_store = (
        member.home_store_id
        if member.home_store_id and any(s.pk == member.home_store_id for s in stores)
        else (stores[0].pk if stores else None)
    )
    return {
        "member": member,
        "mobile": display_mobile(staff, member),
        "info": recharge.member_view(member, limit=5),
        "stores": stores,
        "store_id": default_store,
    }


@require_http_methods(["GET", "POST"])
@console_view("stored_value.recharge")
def sv_counter(request: HttpRequest) -> HttpResponse:
    """Find the member (mobile or member number), type the amount, preview the tier, confirm, receipt."""
    staff = current_staff(request)
    q = (request.GET.get("q") or request.POST.get("q") or "").strip()[:40]
    context: dict[str, Any] = {"q": q, "step": "find"}
    if not q:
        return render(request, "console/stored_value/counter.html", context)
    try:
        member = recharge.find_member(staff, q)
    except ServiceError as exc:
        context["error"] = str(exc.message)
        return render(request, "console/stored_value/counter.html", context, status=404)
    context.update(_member_context(request, member))
    context["step"] = "member"
    if request.method != "POST":
        return render(request, "console/stored_value/counter.html", context)
    step = request.POST.get("step")
    try:
        store = recharge.pick_store(staff, request.POST.get("store") or None, member)
        context["store_id"] = store.pk
        if step == "confirm":
            result = recharge.counter_recharge(
                staff,
                member.pk,
                yuan_to_fen(request.POST.get("amount", ""), "amount", minimum=1, maximum=MAX_YUAN_FEN),
                key=request.POST.get("idempotency_key", ""),
                store_id=store.pk,
                payment_ref=request.POST.get("payment_ref", "")[:64],
            )
            context.update(_member_context(request, member))
            context.update({"step": "done", "result": result, "store": store})
            return render(request, "console/stored_value/counter.html", context)
        amount = yuan_to_fen(request.POST.get("amount", ""), "amount", minimum=1, maximum=MAX_YUAN_FEN)
        context.update(
            {
                "step": "preview",
                "preview": recharge.preview(member, amount, store_id=store.pk),
                "amount": fen_to_yuan(amount),
                "store": store,
                "idempotency_key": secrets.token_urlsafe(18),
            }
        )
    except ServiceError as exc:
        context["error"] = str(exc.message)
        context["amount"] = request.POST.get("amount", "")[:12]
        return render(request, "console/stored_value/counter.html", context, status=400)
    return render(request, "console/stored_value/counter.html", context)


@require_POST
@console_view("stored_value.recharge")
def sv_gift_hand_over(request: HttpRequest, gift_id: int) -> HttpResponse:
    """Hand a recharge gift over at the counter (once; audited)."""
    staff = current_staff(request)
    gift = recharge.hand_over_gift(staff, gift_id, store_id=request.POST.get("store") or None)
    messages.success(request, _("Gift handed over: %(gift)s") % {"gift": gift.description})
    back = request.POST.get("q", "").strip()[:40]
    if back:
        return redirect(f"{_counter_url()}?q={back}")
    return redirect("console:sv_member", member_id=gift.member_id)


def _counter_url() -> str:
    return reverse("console:sv_counter")


# --- a member's stored value ---------------------------------------------------------------------------


class CashRefundForm(forms.Form):
    amount = _yuan(gettext_lazy("Principal to refund (yuan)"))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


def _sv_member_context(
    request: HttpRequest, member_id: int, form: CashRefundForm | None = None
) -> dict[str, Any]:
    staff = current_staff(request)
    info = recharge.member_stored_value(staff, member_id, limit=1)
    page = Paginator(recharge.member_entries(staff, member_id), ENTRIES_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "member": info.member,
        "info": info,
        "page": page,
        "entries": page.object_list,
        "gifts": recharge.member_gifts(info.member)[:50],
        "can_refund": has_capability(staff, "stored_value.refund"),
        "can_recharge": has_capability(staff, "stored_value.recharge"),
        "form": form or CashRefundForm(initial={"key": secrets.token_urlsafe(18)}),
    }


@require_GET
@console_view()
def sv_member(request: HttpRequest, member_id: int) -> HttpResponse:
    """A member's balance (principal and bonus apart), gifts and statement."""
    return render(request, "console/stored_value/member.html", _sv_member_context(request, member_id))


@require_POST
@console_view("stored_value.refund")
def sv_member_refund(request: HttpRequest, member_id: int) -> HttpResponse:
    """Pay principal back (cash or the original payment, outside Siyu); bonus forfeited per the policy."""
    form = CashRefundForm(request.POST)
    if form.is_valid():
        try:
            result = recharge.cash_refund(
                current_staff(request),
                member_id,
                yuan_to_fen(form.cleaned_data["amount"], "amount", minimum=1, maximum=MAX_YUAN_FEN),
                reason=form.cleaned_data["reason"],
                key=form.cleaned_data["key"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            text = _("Refunded ¥%(amount)s of principal.") % {"amount": fen_to_yuan(result.principal_fen)}
            if result.forfeited_bonus_fen:
                text += " " + _("¥%(bonus)s of bonus forfeited.") % {
                    "bonus": fen_to_yuan(result.forfeited_bonus_fen)
                }
            messages.success(request, text)
            return redirect("console:sv_member", member_id=member_id)
    return render(
        request, "console/stored_value/member.html", _sv_member_context(request, member_id, form), status=400
    )


# --- reports -------------------------------------------------------------------------------------------


@require_GET
@console_view("stored_value.reports")
def sv_reports(request: HttpRequest) -> HttpResponse:
    """Outstanding principal and bonus per store and in all; the quarter's issuer figures."""
    staff = current_staff(request)
    year, quarter = reports_service.current_quarter()
    quarters = []
    y, q = year, quarter
    for _i in range(8):
        quarters.append((y, q))
        y, q = (y, q - 1) if q > 1 else (y - 1, 4)
    period = (request.GET.get("period") or "").strip()
    picked = period.split("-", 1) if len(period) <= 7 and "-" in period else [year, quarter]
    figures = reports_service.quarterly(staff, picked[0], picked[1])
    return render(
        request,
        "console/stored_value/reports.html",
        {"report": reports_service.outstanding(staff), "figures": figures, "quarters": quarters},
    )
