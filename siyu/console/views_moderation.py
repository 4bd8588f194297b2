"""Console pages for group moderation: appeals waiting for review, the brand's default group rules and one
group's own rules, and the brand blocklist.

Thin callers of the moderation services (``appeals``, ``moderation_policy``, ``blocklist``), which decide
who may do what: another store's group, appeal or blocklist entry is a 404, a role that may not act a 403
(both via ``console_view``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.channels.models import Connector
from siyu.common.errors import NotFound, PermissionDenied, ServiceError, ValidationFailed
from siyu.communities.models import Appeal, Community, ModerationPolicy
from siyu.communities.services import activity, moderation_policy, queries
from siyu.communities.services import appeals as appeal_services
from siyu.communities.services import blocklist as blocklist_services
from siyu.communities.services.moderation_policy import LADDER_STEPS, EffectivePolicy
from siyu.members.models import ChannelIdentity
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, has_capability

from .helpers import console_view, current_staff, form_error, request_ip

PAGE_SIZE = 50
LADDER_FIELDS = 5  # the service allows up to 10 steps; five select boxes cover every sensible ladder
APPEAL_STATUSES = ("pending", "accepted", "rejected", "all")

_STEP_LABELS = {
    "warn": gettext_lazy("Warn"),
    "mute": gettext_lazy("Mute"),
    "remove": gettext_lazy("Remove from the group"),
}


# --- forms (parse what the browser sent; the service validates the values) ----------------------


class PolicyForm(forms.Form):
    forbidden_keywords = forms.CharField(
        label=gettext_lazy("Forbidden words (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    block_links = forms.BooleanField(label=gettext_lazy("Block external links"), required=False)
    block_qr_images = forms.BooleanField(label=gettext_lazy("Block QR code images"), required=False)
    block_contact = forms.BooleanField(
        label=gettext_lazy("Block contact details (phone numbers, WeChat IDs, e-mail)"), required=False
    )
    flood_count = forms.IntegerField(label=gettext_lazy("Flood: messages"))
    flood_seconds = forms.IntegerField(label=gettext_lazy("Flood: within seconds"))
    repeat_count = forms.IntegerField(label=gettext_lazy("Same message repeated (times in 10 minutes)"))
    mute_minutes = forms.IntegerField(label=gettext_lazy("Mute minutes"))
    window_days = forms.IntegerField(label=gettext_lazy("Offences count for days"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *((step, _STEP_LABELS[step]) for step in LADDER_STEPS)]
        for i in range(1, LADDER_FIELDS + 1):
            self.fields[f"step_{i}"] = forms.ChoiceField(
                label=_("Step %(n)s") % {"n": i}, choices=choices, required=False
            )

    @classmethod
    def initial_from(cls, policy: EffectivePolicy) -> dict[str, Any]:
        data = policy.as_dict()
        data["forbidden_keywords"] = "\n".join(data["forbidden_keywords"])
        for i, step in enumerate(data.pop("ladder")[:LADDER_FIELDS], start=1):
            data[f"step_{i}"] = step
        return data

    def ladder_fields(self) -> list[forms.BoundField]:
        return [self[f"step_{i}"] for i in range(1, LADDER_FIELDS + 1)]

    def service_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("step_")}
        data["forbidden_keywords"] = [
            line.strip() for line in (data.get("forbidden_keywords") or "").splitlines() if line.strip()
        ]
        data["ladder"] = [
            self.cleaned_data[f"step_{i}"]
            for i in range(1, LADDER_FIELDS + 1)
            if self.cleaned_data.get(f"step_{i}")
        ]
        return data


class BlocklistForm(forms.Form):
    member = forms.CharField(label=gettext_lazy("Member ID"), required=False, max_length=20)
    mobile = forms.CharField(label=gettext_lazy("Mobile number"), required=False, max_length=32)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False)
    external_id = forms.CharField(label=gettext_lazy("Channel user ID"), required=False, max_length=128)
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=255)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["channel"].choices = [("", "—"), *ChannelIdentity.Channel.choices]


# --- appeals ----------------------------------------------------------------------------------


@require_GET
@console_view()
def appeals(request: HttpRequest) -> HttpResponse:
    """Appeals against removals in the caller's groups (pending by default), oldest first."""
    staff = current_staff(request)
    status = request.GET.get("status") or "pending"
    if status not in APPEAL_STATUSES:
        raise ValidationFailed(_("Unknown status."), field="status")
    qs = appeal_services.appeals(staff, status=None if status == "all" else status).select_related(
        "action__message", "action__community__store", "action__member", "reviewed_by"
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "status": status, "statuses": _appeal_status_choices()}
    return render(request, "console/moderation/appeals.html", context)


def _appeal_status_choices() -> list[tuple[str, str]]:
    return [*((value, str(label)) for value, label in Appeal.Status.choices), ("all", _("All"))]


@require_POST
@console_view()
def appeal_review(request: HttpRequest, appeal_id: int) -> HttpResponse:
    staff = current_staff(request)
    decision = request.POST.get("decision")
    if decision not in ("accept", "reject"):
        raise ValidationFailed(_("Accept or reject the appeal."), field="decision")
    appeal_services.review_appeal(staff, appeal_id, decision == "accept", ip=request_ip(request))
    if decision == "accept":
        messages.success(request, _("Appeal accepted: the removal is lifted and the member may join again."))
    else:
        messages.success(request, _("Appeal rejected: the removal stands."))
    return redirect("console:moderation_appeals")


# --- group rules --------------------------------------------------------------------------------


def _policy_form(request: HttpRequest, policy: EffectivePolicy) -> PolicyForm:
    if request.method == "POST":
        return PolicyForm(request.POST)
    return PolicyForm(initial=PolicyForm.initial_from(policy))


def _save_policy(request: HttpRequest, staff: Staff, community_id: int | None, form: PolicyForm) -> bool:
    """Save the form through the service; on a refusal the message lands on the form. True when saved."""
    if not form.is_valid():
        return False
    try:
        moderation_policy.set_policy(staff, community_id, form.service_data(), ip=request_ip(request))
    except ServiceError as exc:
        if isinstance(exc, NotFound | PermissionDenied):
            raise
        form_error(form, exc)
        return False
    return True


@require_http_methods(["GET", "POST"])
@console_view()
def default_policy(request: HttpRequest) -> HttpResponse:
    """The brand's default group rules (every group without its own rules enforces them). Head office
    changes them; other roles read them and pick one of their groups to give it its own rules."""
    staff = current_staff(request)
    group_param = request.GET.get("group", "")
    if group_param:
        community = queries.get_community(staff, group_param)
        return redirect("console:group_policy", community_id=community.pk)
    policy = moderation_policy.policy_for(staff)
    form = _policy_form(request, policy)
    status = 200
    if request.method == "POST":
        # The service refuses this too; refusing first spares a clerk errors on a form they cannot use.
        message = _("Only head office sets the default group rules.")
        check_capability(staff, "moderation.manage", message=message, field="community")
        if _save_policy(request, staff, None, form):
            messages.success(request, _("Default group rules saved."))
            return redirect("console:moderation_policy")
        status = 400
    groups = queries.scoped_communities(staff).exclude(status=Community.Status.ARCHIVED)
    # One group per (channel, connector) is enough to know whether Siyu reads messages there.
    pairs = set(groups.order_by().values_list("channel", "connector_id").distinct())
    connectors = Connector.objects.in_bulk({pk for _c, pk in pairs if pk is not None})
    blind = [
        not activity.reads_messages(Community(channel=channel, connector=connectors.get(pk)))
        for channel, pk in pairs
    ]
    context = {
        "form": form,
        "policy": policy,
        "can_edit": has_capability(staff, "moderation.manage") and not (blind and all(blind)),
        # Every group in scope is on a channel whose messages Siyu never sees (WeCom-only): content rules
        # cannot act there, so the form is shown disabled with the explanation.
        "content_blind": bool(blind) and all(blind),
        "some_blind": any(blind),
        "groups": groups,
        "own_policy_ids": set(
            ModerationPolicy.objects.filter(community__in=groups).values_list("community_id", flat=True)
        ),
    }
    return render(request, "console/moderation/policy.html", context, status=status)


@require_http_methods(["GET", "POST"])
@console_view()
def group_policy(request: HttpRequest, community_id: int) -> HttpResponse:
    """One group's own rules: edit them, or (``action=clear``) go back to the brand default."""
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    if request.method == "POST" and request.POST.get("action") == "clear":
        moderation_policy.clear_policy(staff, community.pk, ip=request_ip(request))
        messages.success(request, _("This group now follows the brand's default rules."))
        return redirect("console:group_policy", community_id=community.pk)
    policy = moderation_policy.policy_for(staff, community.pk)
    form = _policy_form(request, policy)
    blind = not activity.reads_messages(community)
    status = 200
    if request.method == "POST" and blind:
        # Rules on content Siyu never sees would only pretend to protect the group.
        form.add_error(
            None, _("Siyu cannot see the messages of this group, so content rules cannot act here.")
        )
        status = 400
    elif request.method == "POST":
        if _save_policy(request, staff, community.pk, form):
            messages.success(request, _("Group rules saved."))
            return redirect("console:group_policy", community_id=community.pk)
        status = 400
    context = {
        "form": form,
        "policy": policy,
        "group": community,
        "can_edit": not blind,
        "content_blind": blind,
    }
    return render(request, "console/moderation/policy.html", context, status=status)


# --- blocklist ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view()
def blocklist(request: HttpRequest) -> HttpResponse:
    """The brand blocklist (HQ: all; store managers: entries naming their members) and a form to add to it."""
    staff = current_staff(request)
    entries = blocklist_services.blocklist(staff)  # refuses roles without access before anything else happens
    form = BlocklistForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                blocklist_services.add_to_blocklist(
                    staff,
                    member_id=data["member"] or None,
                    mobile=data["mobile"],
                    channel=data["channel"],
                    external_id=data["external_id"],
                    reason=data["reason"],
                    ip=request_ip(request),
                )
            except ServiceError as exc:
                if isinstance(exc, NotFound) and exc.field not in form.fields:
                    raise
                form_error(form, exc)
            else:
                messages.success(request, _("Added to the blocklist."))
                return redirect("console:moderation_blocklist")
        status = 400
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "any_target": has_capability(staff, "moderation.blocklist_any")}
    return render(request, "console/moderation/blocklist.html", context, status=status)


@require_POST
@console_view()
def blocklist_remove(request: HttpRequest, entry_id: int) -> HttpResponse:
    blocklist_services.remove_from_blocklist(current_staff(request), entry_id, ip=request_ip(request))
    messages.success(request, _("Removed from the blocklist."))
    return redirect("console:moderation_blocklist")
