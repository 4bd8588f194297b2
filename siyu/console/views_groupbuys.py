"""Console pages for group buys (拼团): the teams of my stores (filters: status, store, campaign), the
group-buy campaigns, a campaign's page with publish / cancel, a team's page, and head office's form to set
one up.

Thin callers of ``siyu.campaigns.services.group_buys``: it decides scope (a store role sees only its stores'
teams; another store's team answers 404) and who may set up, publish or cancel (head office: others 403).
"""

from __future__ import annotations

from decimal import Decimal
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

from siyu.campaigns.models import Campaign, CampaignStatus, GroupBuyTeam
from siyu.campaigns.services import group_buys
from siyu.catalog.models import Sku
from siyu.common.errors import PermissionDenied, ServiceError, ValidationFailed
from siyu.common.validators import fen_to_yuan as yuan
from siyu.communities.models import Community
from siyu.org.models import Staff
from siyu.org.services.access import is_chain_wide, visible_stores
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

from .helpers import console_view, current_staff, form_error, request_ip

PAGE_SIZE = 30


def _int_param(raw: str | None, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(_("Choose from the list."), field=field) from None
    if not 0 < value < 2**63:
        raise ValidationFailed(_("Choose from the list."), field=field)
    return value


def _team_row(team: GroupBuyTeam) -> dict[str, Any]:
    group_buy = team.campaign.group_buy
    return {
        "team": team,
        "leader": group_buys.masked_name(team.leader),
        "needed": group_buys.still_needed(team, group_buy),
        "min_size": group_buy.min_size,
        "max_size": group_buy.max_size,
        "pending": group_buys.pending_settlement(team),
    }


def _campaign_row(campaign: Campaign, now: Any) -> dict[str, Any]:
    group_buy = campaign.group_buy
    return {
        "campaign": campaign,
        "group_buy": group_buy,
        "price": yuan(group_buy.price_fen),
        "normal_price": yuan(group_buy.sku.price_fen),
        "running": group_buys.is_running(campaign, now),
    }


# --- lists ---------------------------------------------------------------------------------------


@require_GET
@console_view()
def group_buys_page(request: HttpRequest) -> HttpResponse:
    """Teams of the stores I serve (HQ: all) filtered by status, store and campaign; the campaigns."""
    staff = current_staff(request)
    status = (request.GET.get("status") or "").strip()
    store_id = _int_param(request.GET.get("store"), "store")
    campaign_id = _int_param(request.GET.get("campaign"), "campaign")
    qs = group_buys.list_teams(staff, status=status, store_id=store_id, campaign_id=campaign_id)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    campaigns = list(group_buys.list_group_buys(staff)[:50])
    context = {
        "page": page,
        "rows": [_team_row(t) for t in page.object_list],
        "campaigns": [_campaign_row(c, now) for c in campaigns],
        "stores": list(visible_stores(staff)),
        "statuses": GroupBuyTeam.Status.choices,
        "f_status": status,
        "f_store": store_id,
        "f_campaign": campaign_id,
        "is_hq": is_chain_wide(staff),
    }
    return render(request, "console/groupbuys/list.html", context)


@require_GET
@console_view()
def group_buy_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """One group buy: the offer, its stores and groups, team counts and its teams (in my scope)."""
    staff = current_staff(request)
    campaign = group_buys.get_group_buy(staff, campaign_id)
    now = timezone.now()
    teams = group_buys.list_teams(staff, campaign_id=campaign.pk)[:100]
    context = {
        **_campaign_row(campaign, now),
        "counts": group_buys.team_counts(campaign, staff),
        "stores": list(campaign.stores.order_by("code")),
        "groups": list(campaign.communities.order_by("name")),
        "rows": [_team_row(t) for t in teams],
        "is_hq": is_chain_wide(staff),
        "can_publish": campaign.status == CampaignStatus.DRAFT,
        "can_cancel": campaign.status != CampaignStatus.CANCELLED,
    }
    return render(request, "console/groupbuys/detail.html", context)


@require_GET
@console_view()
def group_buy_team(request: HttpRequest, team_id: int) -> HttpResponse:
    """One team with its members and their orders (another store's team: 404)."""
    staff = current_staff(request)
    team = group_buys.get_team(staff, team_id)
    places = group_buys.team_members(team)
    context = {
        **_team_row(team),
        "campaign": team.campaign,
        "places": [
            {
                "place": p,
                "name": group_buys.masked_name(p.member),
                "total": yuan(p.order.total_fen) if p.order else "",
            }
            for p in places
        ],
    }
    return render(request, "console/groupbuys/team.html", context)


# --- head office: set up, publish, cancel ----------------------------------------------------------


class GroupBuyForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=group_buys.MAX_TITLE)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=group_buys.MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    sku = forms.TypedChoiceField(label=gettext_lazy("SKU"), coerce=int)
    price = forms.DecimalField(
        label=gettext_lazy("Group price (yuan)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000"),
        decimal_places=2,
    )
    min_size = forms.IntegerField(
        label=gettext_lazy("Members needed"), min_value=2, max_value=group_buys.MAX_TEAM_SIZE, initial=3
    )
    max_size = forms.IntegerField(
        label=gettext_lazy("Members at most"), min_value=2, max_value=group_buys.MAX_TEAM_SIZE, initial=10
    )
    team_hours = forms.IntegerField(
        label=gettext_lazy("Hours to form a team"),
        min_value=1,
        max_value=group_buys.MAX_TEAM_HOURS,
        initial=24,
    )
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=gettext_lazy("Ends at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    pickup_until = forms.DateTimeField(
        label=gettext_lazy("Pick up until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
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
        skus = (
            Sku.objects.filter(product__brand_id=brand_id, active=True, product__active=True)
            .select_related("product")
            .order_by("product__name", "id")[:500]
        )
        fields["sku"].choices = [
            (s.pk, f"{s.product.name} {s.spec} · ¥{yuan(s.price_fen)}".strip()) for s in skus
        ]
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
            "sku": data["sku"],
            "price_fen": int(data["price"] * 100),
            "min_size": data["min_size"],
            "max_size": data["max_size"],
            "team_hours": data["team_hours"],
            "starts_at": data["starts_at"],
            "ends_at": data["ends_at"],
            "pickup_until": data["pickup_until"],
            "stores": data["stores"],
            "communities": data["communities"],
        }


_FORM_FIELDS = {"price_fen": "price"}


@require_http_methods(["GET", "POST"])
@console_view()
def group_buy_new(request: HttpRequest) -> HttpResponse:
    """Head office sets up a group buy (a draft until published)."""
    staff = current_staff(request)
    if not is_chain_wide(staff):
        raise PermissionDenied(_("Only head office sets up group buys."))
    form = GroupBuyForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = group_buys.create_group_buy(staff, form.service_data(), ip=request_ip(request))
        except ServiceError as exc:
            exc.field = _FORM_FIELDS.get(exc.field or "", exc.field)
            form_error(form, exc)
        else:
            messages.success(
                request, _("Group buy “%(title)s” created as a draft.") % {"title": campaign.title}
            )
            return redirect("console:group_buy_detail", campaign_id=campaign.pk)
    return render(request, "console/groupbuys/new.html", {"form": form})


@require_POST
@console_view()
def group_buy_publish(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = group_buys.publish_group_buy(current_staff(request), campaign_id, ip=request_ip(request))
    messages.success(request, _("Group buy “%(title)s” published.") % {"title": campaign.title})
    return redirect("console:group_buy_detail", campaign_id=campaign.pk)


@require_POST
@console_view()
def group_buy_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = group_buys.cancel_group_buy(current_staff(request), campaign_id, ip=request_ip(request))
    messages.success(
        request,
        _("Group buy “%(title)s” cancelled; open teams failed and their orders are settled automatically.")
        % {"title": campaign.title},
    )
    return redirect("console:group_buy_detail", campaign_id=campaign.pk)
