"""Console: loyalty — earn rules (forms, not JSON), a member's points with adjustments, red packets, and the
points liability report. Thin callers of ``siyu.loyalty.services``; phone-first for store staff."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.campaigns.models import Campaign
from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community
from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import points, red_packets, reports, rule_admin
from siyu.org.services.access import has_capability, visible_stores
from siyu.org.services.brand import current_brand_id

from .helpers import console_view, current_staff, form_error, is_htmx

STREAK_ROWS = 4
ENTRIES_PAGE = 30
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


# --- earn rules ----------------------------------------------------------------------------------------


def _when(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )


def _cap(label: Any) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=rule_admin.MAX_CAP)


class RuleForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Rewards"), choices=EarnRule.Kind.choices)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    points = forms.IntegerField(
        label=gettext_lazy("Points (for purchases: per yuan paid)"),
        min_value=0,
        max_value=rule_admin.MAX_RULE_POINTS,
        initial=5,
    )
    starts_at = _when(gettext_lazy("Starts (empty: now)"))
    ends_at = _when(gettext_lazy("Ends (empty: no end)"))
    daily_cap = _cap(gettext_lazy("Times per member per day (empty: no cap)"))
    member_cap = _cap(gettext_lazy("Times per member in all (empty: no cap)"))
    active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores (none: every store)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    makeup_cost = forms.IntegerField(
        label=gettext_lazy("A make-up day costs (points; 0: no make-up)"),
        required=False,
        min_value=0,
        max_value=rule_admin.MAX_RULE_POINTS,
        initial=0,
    )
    makeup_days = forms.IntegerField(
        label=gettext_lazy("Days that can be made up"), required=False, min_value=1, max_value=31, initial=7
    )

    def __init__(self, *args: Any, staff: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["stores"].choices = [(s.pk, f"{s.code} {s.name}") for s in visible_stores(staff)]
        for i in range(STREAK_ROWS):
            self.fields[f"streak_days_{i}"] = forms.IntegerField(
                label=_("Days in a row"), required=False, min_value=2, max_value=rule_admin.MAX_STREAK_DAY
            )
            self.fields[f"streak_points_{i}"] = forms.IntegerField(
                label=_("Bonus points"), required=False, min_value=1, max_value=rule_admin.MAX_RULE_POINTS
            )
        if editing:
            self.fields["kind"].disabled = True

    def streak_rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"streak_days_{i}"], self[f"streak_points_{i}"]) for i in range(STREAK_ROWS)]

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        data: dict[str, Any] = {
            "kind": d["kind"],
            "name": d["name"],
            "points": d["points"],
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "daily_cap": d["daily_cap"],
            "member_cap": d["member_cap"],
            "active": bool(d["active"]),
            "store_ids": list(d["stores"] or []),
        }
        if d["kind"] == EarnRule.Kind.CHECKIN:
            data["streak_bonus"] = [
                {"days": d[f"streak_days_{i}"], "points": d[f"streak_points_{i}"]}
                for i in range(STREAK_ROWS)
                if d.get(f"streak_days_{i}") is not None or d.get(f"streak_points_{i}") is not None
            ]
            data["makeup_cost"] = d["makeup_cost"] or 0
            data["makeup_days"] = d["makeup_days"] or 7
        return data


def _initial(rule: EarnRule) -> dict[str, Any]:
    config = rule.config or {}
    initial: dict[str, Any] = {
        "kind": rule.kind,
        "name": rule.name,
        "points": rule.points,
        "starts_at": timezone.localtime(rule.starts_at) if rule.starts_at else None,
        "ends_at": timezone.localtime(rule.ends_at) if rule.ends_at else None,
        "daily_cap": rule.daily_cap,
        "member_cap": rule.member_cap,
        "active": rule.active,
        "stores": [s.pk for s in rule.stores.all()],
        "makeup_cost": int(config.get("makeup_cost") or 0),
        "makeup_days": int(config.get("makeup_days") or 7),
    }
    bonus = sorted((config.get("streak_bonus") or {}).items(), key=lambda kv: int(kv[0]))
    for i, (days, pts) in enumerate(bonus[:STREAK_ROWS]):
        initial[f"streak_days_{i}"] = int(days)
        initial[f"streak_points_{i}"] = int(pts)
    return initial


def _describe(rule: EarnRule) -> str:
    config = rule.config or {}
    parts = []
    bonus = config.get("streak_bonus") or {}
    if bonus:
        parts.append(
            _("Streak bonus: %(list)s")
            % {"list": ", ".join(_("day %(d)s +%(p)s") % {"d": d, "p": p} for d, p in bonus.items())}
        )
    if int(config.get("makeup_cost") or 0):
        parts.append(
            _("make-up day: %(cost)s points, last %(days)s days")
            % {"cost": config["makeup_cost"], "days": config.get("makeup_days") or 7}
        )
    return "; ".join(parts)


@require_GET
@console_view()
def loyalty_home(request: HttpRequest) -> HttpResponse:
    """Earn rules, the red-packet budget and links to red packets and reports."""
    staff = current_staff(request)
    rules = [(r, _describe(r)) for r in rule_admin.list_rules(staff)]
    return render(
        request,
        "console/loyalty/home.html",
        {
            "rules": rules,
            "can_manage": has_capability(staff, "loyalty.manage"),
            "can_reports": has_capability(staff, "loyalty.reports"),
            "can_redpack": has_capability(staff, "loyalty.redpack"),
            "budget": red_packets.budget_of(current_brand_id(staff)),
            "point_value": reports.point_value(current_brand_id(staff)),
        },
    )


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def rule_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = RuleForm(request.POST or None, staff=staff, initial={"kind": request.GET.get("kind") or "checkin"})
    if request.method == "POST" and form.is_valid():
        try:
            rule = rule_admin.create_rule(staff, form.service_data())
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Earn rule “%(name)s” saved.") % {"name": rule.name})
            return redirect("console:loyalty")
    return render(request, "console/loyalty/rule_form.html", {"form": form, "rule": None})


@require_http_methods(["GET", "POST"])
@console_view("loyalty.manage")
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    staff = current_staff(request)
    rule = rule_admin.get_rule(staff, rule_id)
    form = RuleForm(request.POST or None, staff=staff, editing=True, initial=_initial(rule))
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        data.pop("kind")
        try:
            rule = rule_admin.update_rule(staff, rule.pk, data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Earn rule “%(name)s” saved.") % {"name": rule.name})
            return redirect("console:loyalty")
    return render(request, "console/loyalty/rule_form.html", {"form": form, "rule": rule})


@require_POST
@console_view("loyalty.manage")
def loyalty_settings(request: HttpRequest) -> HttpResponse:
    """Head office: the red-packet budget and what one point is worth."""
    staff = current_staff(request)
    if "budget" in request.POST:
        red_packets.set_budget(staff, request.POST.get("budget"))
    if "fen_per_point" in request.POST:
        reports.set_point_value(staff, request.POST.get("fen_per_point"))
    messages.success(request, _("Saved."))
    return redirect("console:loyalty")


# --- a member's points ---------------------------------------------------------------------------------


class AdjustForm(forms.Form):
    points = forms.IntegerField(
        label=gettext_lazy("Points (negative to take)"),
        min_value=-points.MAX_POINTS,
        max_value=points.MAX_POINTS,
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


def _points_context(request: HttpRequest, member_id: int, form: AdjustForm | None = None) -> dict[str, Any]:
    staff = current_staff(request)
    info = reports.member_points(staff, member_id)
    page = Paginator(reports.member_entries(staff, member_id), ENTRIES_PAGE).get_page(request.GET.get("page"))
    return {
        "member": info.member,
        "info": info,
        "page": page,
        "entries": page.object_list,
        "kinds": dict(PointsEntry.Kind.choices),
        "can_adjust": has_capability(staff, "loyalty.adjust"),
        "form": form or AdjustForm(initial={"key": uuid.uuid4().hex}),
    }


@require_GET
@console_view()
def member_points(request: HttpRequest, member_id: int) -> HttpResponse:
    """The member's points: balance, what they owe, expiring batches, history (htmx: the section alone)."""
    template = (
        "console/loyalty/_member_points.html" if is_htmx(request) else "console/loyalty/member_points.html"
    )
    return render(request, template, _points_context(request, member_id))


@require_POST
@console_view("loyalty.adjust")
def member_points_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    """Add or take points with a reason; the form's key makes a double tap one adjustment."""
    form = AdjustForm(request.POST)
    if form.is_valid():
        try:
            points.adjust(
                current_staff(request),
                member_id,
                form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                key=form.cleaned_data["key"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Points adjusted."))
            return redirect("console:member_points", member_id=member_id)
    return render(
        request, "console/loyalty/member_points.html", _points_context(request, member_id, form), status=400
    )


# --- red packets ---------------------------------------------------------------------------------------


class RedPacketForm(forms.Form):
    community = forms.TypedChoiceField(label=gettext_lazy("Group"), coerce=int)
    total = forms.IntegerField(
        label=gettext_lazy("Points in all"), min_value=1, max_value=red_packets.MAX_TOTAL
    )
    shares = forms.IntegerField(
        label=gettext_lazy("Shares (members who can grab)"),
        min_value=1,
        max_value=red_packets.MAX_SHARES,
        initial=10,
    )
    greeting = forms.CharField(label=gettext_lazy("Greeting"), max_length=60, required=False)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


def _group_label(group: Community) -> str:
    """Group names usually start with their store's name; add it when they do not."""
    return group.name if group.store.name in group.name else f"{group.store.name} · {group.name}"


def _groups(request: HttpRequest) -> tuple[list[Community], list[Community]]:
    """(groups a packet can go into, WeCom groups that cannot take one) of the stores served."""
    staff = current_staff(request)
    groups = (
        Community.objects.filter(
            brand_id=current_brand_id(staff), store__in=visible_stores(staff), status=Community.Status.OPEN
        )
        .select_related("store", "connector")
        .order_by("store__code", "name")[:500]
    )
    ok: list[Community] = []
    not_ok: list[Community] = []
    for group in groups:
        (ok if red_packets.can_drop_in(group) else not_ok).append(group)
    return ok, not_ok


@require_http_methods(["GET", "POST"])
@console_view()
def red_packet_list(request: HttpRequest) -> HttpResponse:
    """Red packets of the stores served, and (with ``loyalty.redpack``) a form to drop one."""
    staff = current_staff(request)
    can_drop = has_capability(staff, "loyalty.redpack")
    ok, not_ok = _groups(request)
    form = RedPacketForm(request.POST or None, initial={"key": uuid.uuid4().hex})
    community_field: Any = form.fields["community"]
    community_field.choices = [
        (
            g.pk,
            f"{_group_label(g)} ({g.get_channel_display()})",
        )
        for g in ok
    ]
    if request.method == "POST":
        if not can_drop:
            messages.error(request, _("Your role does not allow this."))
            return redirect("console:red_packets")
        if form.is_valid():
            try:
                packet = red_packets.drop_by_staff(
                    staff,
                    form.cleaned_data["community"],
                    total=form.cleaned_data["total"],
                    shares=form.cleaned_data["shares"],
                    greeting=form.cleaned_data["greeting"],
                    key=form.cleaned_data["key"],
                )
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Red packet of %(n)s points dropped in %(group)s.")
                    % {"n": packet.total, "group": packet.community.name},
                )
                return redirect("console:red_packets")
    packets = [red_packets.summary(p) for p in red_packets.list_packets(staff)[:50]]
    return render(
        request,
        "console/loyalty/red_packets.html",
        {
            "form": form,
            "can_drop": can_drop,
            "packets": packets,
            "wecom_groups": not_ok,
            "budget": red_packets.budget_of(current_brand_id(staff)),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- reports -------------------------------------------------------------------------------------------


@require_GET
@console_view("loyalty.reports")
def liability_report(request: HttpRequest) -> HttpResponse:
    """Outstanding points per store, valued at the brand's (or a typed) value of one point; a bar chart."""
    staff = current_staff(request)
    typed = (request.GET.get("fen_per_point") or "").strip()
    report = reports.liability(staff, fen_per_point=typed or None)
    chart = {
        "labels": [r.store_name for r in report.rows[:20]],
        "points": [r.outstanding for r in report.rows[:20]],
        "yuan": [float(fen_to_yuan(r.value_fen)) for r in report.rows[:20]],
        "t_points": _("Outstanding points"),
        "t_yuan": _("Value (yuan)"),
    }
    return render(
        request,
        "console/loyalty/liability.html",
        {"report": report, "typed": typed, "chart": chart},
    )


@require_GET
@console_view("loyalty.reports")
def coupon_report(request: HttpRequest) -> HttpResponse:
    """Coupons issued / used / discount / cost per store and per campaign (last ``days`` days of issuing)."""
    staff = current_staff(request)
    days_raw = (request.GET.get("days") or "").strip()
    days = int(days_raw) if days_raw.isdigit() and len(days_raw) < 5 and 0 < int(days_raw) <= 3660 else None
    since = timezone.now() - timedelta(days=days) if days else None
    report = reports.coupon_report(staff, since=since)
    ids = {
        str(r.key): int(str(r.key)) for r in report.campaigns if str(r.key).isdigit() and len(str(r.key)) < 18
    }
    titles = dict(Campaign.objects.filter(pk__in=ids.values()).values_list("pk", "title"))
    campaigns = [(r, titles.get(ids.get(str(r.key), 0))) for r in report.campaigns]
    chart = {
        "labels": [r.name for r in report.stores[:20]],
        "issued": [r.issued for r in report.stores[:20]],
        "used": [r.used for r in report.stores[:20]],
        "t_issued": _("Issued"),
        "t_used": _("Used"),
    }
    return render(
        request,
        "console/loyalty/coupons_report.html",
        {"report": report, "campaigns": campaigns, "days": days, "chart": chart},
    )
