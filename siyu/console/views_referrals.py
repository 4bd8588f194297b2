"""Console: referral fission — campaigns (head office sets them up; store staff see their stores'), the
review queue of invites held by the fraud rules (head office; release or reject in bulk), and KOLs and seed
users with their reach (head office and store managers, their stores only). Thin callers of
``siyu.referrals.services`` and ``siyu.communities.services.roles``; phone-first (cards on a narrow
screen)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.communities.models import Community, LiveCode, MemberRole
from siyu.communities.services import roles
from siyu.loyalty.services import mall_admin
from siyu.org.services.access import has_capability, store_scope
from siyu.org.services.brand import current_brand_id
from siyu.referrals.models import CountWhen, ReferralCampaign
from siyu.referrals.services import campaigns, reports, review

from .helpers import console_view, current_staff, form_error

TIER_ROWS = 4


class CampaignForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    live_code_id = forms.TypedChoiceField(label=gettext_lazy("Live code invitees join through"), coerce=int)
    headline = forms.CharField(label=gettext_lazy("Poster headline"), max_length=40, required=False)
    art_color = forms.CharField(
        label=gettext_lazy("Poster colour"),
        max_length=7,
        initial="#c0392b",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    count_when = forms.ChoiceField(
        label=gettext_lazy("An invite counts when the friend"), choices=CountWhen.choices
    )
    stay_days = forms.IntegerField(
        label=gettext_lazy("Days in the group before it counts"), min_value=0, max_value=365, initial=3
    )
    reversal_days = forms.IntegerField(
        label=gettext_lazy("Reward taken back if the friend leaves within (days)"),
        min_value=0,
        max_value=365,
        initial=7,
    )
    fraud_checks = forms.BooleanField(label=gettext_lazy("Fraud rules on"), required=False, initial=True)
    velocity_per_hour = forms.IntegerField(
        label=gettext_lazy("Invites per inviter per hour before holding"),
        min_value=1,
        max_value=10_000,
        initial=20,
    )
    device_cluster = forms.IntegerField(
        label=gettext_lazy("Invitees on one phone to hold"), min_value=2, max_value=10_000, initial=3
    )
    ip_cluster = forms.IntegerField(
        label=gettext_lazy("Invitees from one network in an hour to hold"),
        min_value=2,
        max_value=10_000,
        initial=8,
    )
    sequential_cluster = forms.IntegerField(
        label=gettext_lazy("Neighbouring mobile numbers to hold"), min_value=2, max_value=10_000, initial=3
    )
    burst_per_10_minutes = forms.IntegerField(
        label=gettext_lazy("Joins per live code in 10 minutes before holding"),
        min_value=2,
        max_value=10_000,
        initial=60,
    )
    active = forms.BooleanField(label=gettext_lazy("Running"), required=False, initial=True)

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        codes = LiveCode.objects.select_related("store").filter(brand_id=current_brand_id(staff), active=True)
        fields["live_code_id"].choices = [(c.pk, c.name) for c in codes.order_by("store__code", "id")]
        coupons = [("", _("No coupon"))] + [(t.pk, t.name) for t in mall_admin.coupon_choices(staff)]
        for n in range(1, TIER_ROWS + 1):
            fields[f"tier{n}_from"] = forms.IntegerField(
                label=_("Tier %(n)s: from the Nth friend") % {"n": n},
                min_value=1,
                max_value=100_000,
                required=n == 1,
            )
            fields[f"tier{n}_points"] = forms.IntegerField(
                label=_("Tier %(n)s: points per friend") % {"n": n},
                min_value=0,
                max_value=100_000,
                required=False,
            )
            fields[f"tier{n}_coupon"] = forms.TypedChoiceField(
                label=_("Tier %(n)s: coupon per friend") % {"n": n},
                choices=coupons,
                coerce=int,
                required=False,
                empty_value=None,
            )

    def tier_rows(self) -> list[list[Any]]:
        return [
            [self[f"tier{n}_from"], self[f"tier{n}_points"], self[f"tier{n}_coupon"]]
            for n in range(1, TIER_ROWS + 1)
        ]

    def service_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("tier")}
        tiers = []
        for n in range(1, TIER_ROWS + 1):
            start = self.cleaned_data.get(f"tier{n}_from")
            if start:
                tiers.append(
                    {
                        "from": start,
                        "points": self.cleaned_data.get(f"tier{n}_points") or 0,
                        "coupon_template_id": self.cleaned_data.get(f"tier{n}_coupon"),
                    }
                )
        data["tiers"] = tiers
        return data


def _initial(campaign: ReferralCampaign) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(campaign, name)
        for name in (
            "name",
            "headline",
            "art_color",
            "count_when",
            "stay_days",
            "reversal_days",
            "fraud_checks",
            "velocity_per_hour",
            "device_cluster",
            "ip_cluster",
            "sequential_cluster",
            "burst_per_10_minutes",
            "active",
        )
    }
    initial["live_code_id"] = campaign.live_code_id
    for n, tier in enumerate(campaign.tiers or [], start=1):
        initial[f"tier{n}_from"] = tier.get("from")
        initial[f"tier{n}_points"] = tier.get("points")
        initial[f"tier{n}_coupon"] = tier.get("coupon_template_id")
    return initial


def tier_sentences(campaign: ReferralCampaign) -> list[str]:
    out = []
    for tier in campaign.tiers or []:
        if tier.get("coupon_template_id"):
            out.append(
                _("From friend no. %(n)s on: %(p)s points and a coupon each")
                % {"n": tier["from"], "p": tier["points"]}
            )
        else:
            out.append(
                _("From friend no. %(n)s on: %(p)s points each") % {"n": tier["from"], "p": tier["points"]}
            )
    return out


@require_GET
@console_view()
def referral_list(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    rows = [(c, tier_sentences(c)) for c in campaigns.campaigns_for(staff)]
    return render(
        request,
        "console/referrals/list.html",
        {
            "rows": rows,
            "can_manage": has_capability(staff, "referrals.manage"),
            "can_review": has_capability(staff, "referrals.review"),
        },
    )


@require_http_methods(["GET", "POST"])
@console_view("referrals.manage")
def referral_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = CampaignForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaigns.create_campaign(staff, form.service_data())
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Referral campaign “%(name)s” created.") % {"name": campaign.name})
            return redirect("console:referrals")
    return render(request, "console/referrals/form.html", {"form": form, "campaign": None})


@require_http_methods(["GET", "POST"])
@console_view()
def referral_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A campaign: its rules and invites; head office edits it here."""
    staff = current_staff(request)
    campaign = campaigns.get_campaign(staff, campaign_id)
    can_manage = has_capability(staff, "referrals.manage")
    form = CampaignForm(request.POST or None, staff=staff, initial=_initial(campaign)) if can_manage else None
    if request.method == "POST":
        if form is None:
            return redirect("console:referral_detail", campaign_id=campaign.pk)
        if form.is_valid():
            try:
                campaign = campaigns.update_campaign(staff, campaign.pk, form.service_data())
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Referral campaign “%(name)s” saved.") % {"name": campaign.name})
                return redirect("console:referral_detail", campaign_id=campaign.pk)
    invites = list(
        review.scoped_invites(staff).filter(campaign=campaign).order_by("-created_at", "-id")[:100]
    )
    return render(
        request,
        "console/referrals/form.html",
        {
            "form": form,
            "campaign": campaign,
            "tiers": tier_sentences(campaign),
            "invites": [(i, review.masked_invitee(i)) for i in invites],
        },
    )


@require_GET
@console_view("referrals.review")
def referral_review(request: HttpRequest) -> HttpResponse:
    """The review queue: held invites with their evidence in sentences; release or reject in bulk."""
    staff = current_staff(request)
    held = list(review.held_invites(staff)[:200])
    rows = [(i, review.masked_invitee(i), review.evidence_sentences(i)) for i in held]
    return render(request, "console/referrals/review.html", {"rows": rows})


@require_POST
@console_view("referrals.review")
def referral_review_apply(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action")
    ids = [raw for raw in request.POST.getlist("invite")][:200]
    result = review.review(current_staff(request), ids, action, request.POST.get("reason", ""))
    if action == "release":
        messages.success(
            request, _("%(n)s invites released: they may count now.") % {"n": len(result.changed)}
        )
    else:
        messages.success(
            request, _("%(n)s invites rejected: they will never be rewarded.") % {"n": len(result.changed)}
        )
    if result.skipped:
        messages.info(
            request, _("%(n)s were already reviewed and were left as they are.") % {"n": len(result.skipped)}
        )
    return redirect("console:referral_review")


class RoleForm(forms.Form):
    community = forms.TypedChoiceField(label=gettext_lazy("Group"), coerce=int)
    member_id = forms.IntegerField(label=gettext_lazy("Member number"), min_value=1)
    role = forms.ChoiceField(
        label=gettext_lazy("Role"),
        choices=[(MemberRole.KOL, MemberRole.KOL.label), (MemberRole.SEED, MemberRole.SEED.label)],
    )

    def __init__(self, *args: Any, staff: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups = Community.objects.select_related("store").filter(
            brand_id=current_brand_id(staff), status=Community.Status.OPEN
        )
        scope = store_scope(staff)
        if scope is not None:
            groups = groups.filter(store_id__in=scope)
        fields: Any = self.fields
        fields["community"].choices = [
            (g.pk, f"{g.store.name} · {g.name}") for g in groups.order_by("store__code", "id")[:500]
        ]


@require_http_methods(["GET", "POST"])
@console_view()
def referral_kols(request: HttpRequest) -> HttpResponse:
    """KOLs and seed users of the groups the caller serves, their reach, and appointing or removing them."""
    staff = current_staff(request)
    can_appoint = has_capability(staff, "communities.roles")
    form = RoleForm(request.POST or None, staff=staff) if can_appoint else None
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            roles.appoint(
                staff,
                form.cleaned_data["community"],
                form.cleaned_data["member_id"],
                form.cleaned_data["role"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Appointed."))
            return redirect("console:referral_kols")
    rows = [(r, fen_to_yuan(r.gmv_fen), MemberRole(r.role).label) for r in reports.kol_reach(staff)]
    return render(
        request, "console/referrals/kols.html", {"rows": rows, "form": form, "can_appoint": can_appoint}
    )


@require_POST
@console_view("communities.roles")
def referral_kol_remove(request: HttpRequest, community_id: int, member_id: int) -> HttpResponse:
    roles.remove(current_staff(request), community_id, member_id)
    messages.success(request, _("The member is a plain member of the group again."))
    return redirect("console:referral_kols")
