"""Console pages for communities: groups per store, one group's room, live codes, templates and the
planner, staff tasks and failed channel calls.

Thin callers, like ``views.py``: reads go through ``siyu.communities.services.queries`` (store-scoped: another
store's group is a 404), changes through the communities and channels services, which decide what is allowed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.channels.models import ChannelKind
from siyu.channels.services import outbox
from siyu.common.errors import NotFound, ServiceError, ValidationFailed
from siyu.communities.models import Community, GroupDelivery, GroupTemplate, JoinRequest, Theme
from siyu.communities.services import activity as group_activity
from siyu.communities.services import (
    deliveries,
    hygiene,
    livecodes,
    matrix,
    moderation_log,
    posting,
    queries,
    robot,
    staff_todos,
)
from siyu.members.models import AgeBand, Gender, Tag
from siyu.org.models import Staff, Store
from siyu.org.services.access import has_capability, store_scope, visible_stores
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import get_store

from .helpers import console_view, current_staff, error_page, form_error, request_ip, safe_back_url

PAGE_SIZE = 50
RECENT_MESSAGES = 50
RECENT_ACTIONS = 50
DEFAULT_INACTIVE_DAYS = 30


# --- small presentation helpers ---------------------------------------------------------------


def sparkline_svg(values: list[int], *, width: int = 112, height: int = 24) -> SafeString:
    """A tiny inline SVG line of ``values`` (messages per day), built on the server: no JavaScript."""
    total = sum(values)
    label = _("%(n)s messages in %(days)s days") % {"n": total, "days": len(values)}
    if not values:
        return mark_safe('<span class="muted">—</span>')  # a constant: nothing to escape
    top = max(values) or 1
    step = (width - 2) / max(len(values) - 1, 1)
    points = " ".join(
        f"{1 + i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>"
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        label,
        label,
        points,
    )


def _download(content: bytes, content_type: str, filename: str, *, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, filename) or ""
    response["Cache-Control"] = "private, max-age=300"
    return response


def _store_choices(staff: Staff, blank: str | None) -> list[tuple[str, str]]:
    choices = [(str(s.pk), f"{s.code} {s.name}") for s in visible_stores(staff)]
    return [("", blank), *choices] if blank is not None else choices


def _template_choices(blank: str | None) -> list[tuple[str, str]]:
    choices = [(str(t.pk), t.name) for t in queries.group_templates(active_only=True)]
    return [("", blank), *choices] if blank is not None else choices


# --- forms (parse what the browser sent; services decide) ---------------------------------------


class GroupFilterForm(forms.Form):
    store = forms.TypedChoiceField(label=gettext_lazy("Store"), required=False, coerce=int, empty_value=None)
    template = forms.TypedChoiceField(
        label=gettext_lazy("Template"), required=False, coerce=int, empty_value=None
    )
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["store"].choices = _store_choices(staff, str(_("All stores")))
        fields["template"].choices = _template_choices(str(_("All templates")))
        fields["channel"].choices = [("", _("All channels")), *ChannelKind.choices]
        fields["status"].choices = [("", _("All")), *Community.Status.choices]

    def to_filter(self) -> queries.CommunityFilter:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return queries.CommunityFilter(
            store_id=data.get("store"),
            template_id=data.get("template"),
            channel=data.get("channel") or None,
            status=data.get("status") or None,
        )


class PostForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Message"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
    )


class ScheduleForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Announcement"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
    )
    run_at = forms.DateTimeField(
        label=gettext_lazy("Post at"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class LiveCodeForm(forms.Form):
    store = forms.ChoiceField(label=gettext_lazy("Store"))
    template = forms.ChoiceField(label=gettext_lazy("Group template"))
    staff = forms.ChoiceField(label=gettext_lazy("On behalf of (optional)"), required=False)

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["store"].choices = _store_choices(staff, None)
        fields["template"].choices = _template_choices(None)
        scope = store_scope(staff)
        people = Staff.objects.filter(is_active=True, stores__isnull=False)
        if scope is not None:
            people = people.filter(stores__in=scope)
        fields["staff"].choices = [("", "—")] + [
            (str(s.pk), f"{s} ({s.username})") for s in people.distinct().order_by("username")
        ]


CONSENT_CHOICES = (
    ("", gettext_lazy("Any")),
    ("yes", gettext_lazy("Agreed to marketing messages")),
    ("no", gettext_lazy("Not agreed")),
)


class TemplateForm(forms.Form):
    """A group template; its audience (``siyu.members.services.tags.validate_rule``) is edited field by field:
    each audience field left empty puts no condition, all empty means everyone."""

    name = forms.CharField(label=gettext_lazy("Template name"), max_length=60)
    base_name = forms.CharField(label=gettext_lazy("Group base name"), max_length=30, required=False)
    theme = forms.ChoiceField(label=gettext_lazy("Theme"), choices=Theme.choices, initial=Theme.GENERAL)
    recommended_size = forms.IntegerField(
        label=gettext_lazy("Recommended size"),
        initial=200,
        min_value=2,
        max_value=matrix.MAX_RECOMMENDED_SIZE,
    )
    threshold = forms.ChoiceField(
        label=gettext_lazy("Entry threshold"),
        choices=GroupTemplate.Threshold.choices,
        initial=GroupTemplate.Threshold.NONE,
    )
    aud_age_band = forms.MultipleChoiceField(
        label=gettext_lazy("Age bands"),
        choices=AgeBand.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    aud_gender = forms.ChoiceField(
        label=gettext_lazy("Gender"), choices=[("", gettext_lazy("Any")), *Gender.choices], required=False
    )
    aud_has_tag = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Has all of these tags (interests, spending power…)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    aud_home_store_code = forms.MultipleChoiceField(
        label=gettext_lazy("Home stores"), required=False, widget=forms.CheckboxSelectMultiple
    )
    aud_district = forms.CharField(
        label=gettext_lazy("Districts (separate with commas)"),
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "朝阳区, 海淀区"}),
    )
    aud_joined_within_days = forms.IntegerField(
        label=gettext_lazy("Joined within the last … days"), min_value=1, max_value=36500, required=False
    )
    aud_consent = forms.ChoiceField(
        label=gettext_lazy("Marketing consent"), choices=CONSENT_CHOICES, required=False
    )
    questionnaire = forms.CharField(
        label=gettext_lazy("Questionnaire (one question per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    rules_text = forms.CharField(
        label=gettext_lazy("Group rules"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    welcome_template = forms.CharField(
        label=gettext_lazy("Welcome message"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    active = forms.BooleanField(label=gettext_lazy("Active (stores open groups from it)"), required=False)

    AUDIENCE_FIELDS = (
        "aud_age_band",
        "aud_gender",
        "aud_has_tag",
        "aud_home_store_code",
        "aud_district",
        "aud_joined_within_days",
        "aud_consent",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        tags = Tag.objects.select_related("group").order_by("group__name", "name")
        fields["aud_has_tag"].choices = [(t.pk, f"{t.group.name} / {t.name}") for t in tags]
        stores = Store.objects.order_by("code")
        fields["aud_home_store_code"].choices = [(st.code, f"{st.code} {st.name}") for st in stores]
        if not editing:
            del fields["active"]

    def audience_fields(self) -> list[Any]:
        return [self[name] for name in self.AUDIENCE_FIELDS]

    @staticmethod
    def initial_for(template: GroupTemplate) -> dict[str, Any]:
        rule = template.audience or {}
        consent = rule.get("consent")
        return {
            "name": template.name,
            "base_name": template.base_name,
            "theme": template.theme,
            "recommended_size": template.recommended_size,
            "threshold": template.threshold,
            "aud_age_band": rule.get("age_band", []),
            "aud_gender": rule.get("gender", ""),
            "aud_has_tag": rule.get("has_tag", []),
            "aud_home_store_code": rule.get("home_store_code", []),
            "aud_district": ", ".join(rule.get("district", [])),
            "aud_joined_within_days": rule.get("joined_within_days"),
            "aud_consent": "" if consent is None else ("yes" if consent else "no"),
            "questionnaire": "\n".join(q.get("question", "") for q in template.questionnaire or []),
            "rules_text": template.rules_text,
            "welcome_template": template.welcome_template,
            "active": template.active,
        }

    def audience(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        rule: dict[str, Any] = {}
        if data.get("aud_age_band"):
            rule["age_band"] = list(data["aud_age_band"])
        if data.get("aud_gender"):
            rule["gender"] = data["aud_gender"]
        if data.get("aud_has_tag"):
            rule["has_tag"] = list(data["aud_has_tag"])
        if data.get("aud_home_store_code"):
            rule["home_store_code"] = list(data["aud_home_store_code"])
        districts = [d.strip() for d in re.split(r"[,，、;；]", data.get("aud_district") or "") if d.strip()]
        if districts:
            rule["district"] = districts
        if data.get("aud_joined_within_days"):
            rule["joined_within_days"] = data["aud_joined_within_days"]
        if data.get("aud_consent"):
            rule["consent"] = data["aud_consent"] == "yes"
        return rule or None

    def service_data(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("aud_")}
        data["audience"] = self.audience()
        data["questionnaire"] = [
            line.strip() for line in (data.get("questionnaire") or "").splitlines() if line.strip()
        ]
        return data


def audience_summary(rule: dict[str, Any] | None) -> str:
    """The audience rule in words, for the templates table."""
    if not rule:
        return str(_("everyone"))
    parts: list[str] = []
    bands = dict(AgeBand.choices)
    if rule.get("age_band"):
        parts.append(_("age %(bands)s") % {"bands": "/".join(str(bands.get(b, b)) for b in rule["age_band"])})
    if rule.get("gender"):
        parts.append(str(dict(Gender.choices).get(rule["gender"], rule["gender"])))
    if rule.get("has_tag"):
        names = dict(Tag.objects.filter(pk__in=rule["has_tag"]).values_list("pk", "name"))
        parts.append(_("tags %(tags)s") % {"tags": "、".join(names.get(t, str(t)) for t in rule["has_tag"])})
    if rule.get("home_store_code"):
        parts.append(_("stores %(codes)s") % {"codes": ", ".join(rule["home_store_code"])})
    if rule.get("district"):
        parts.append("、".join(rule["district"]))
    if rule.get("joined_within_days"):
        parts.append(_("joined within %(n)s days") % {"n": rule["joined_within_days"]})
    if "consent" in rule:
        parts.append(str(_("agreed to marketing") if rule["consent"] else _("not agreed to marketing")))
    return " · ".join(parts)


# --- groups -----------------------------------------------------------------------------------


@require_GET
@console_view()
def groups(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = GroupFilterForm(request.GET or None, staff=staff)
    qs = queries.filter_communities(staff, form.to_filter())
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    activity = queries.community_activity([c.pk for c in page.object_list])
    rows = [
        {
            "group": c,
            "sparkline": sparkline_svg(activity.get(c.pk, [])),
            "messages": sum(activity.get(c.pk, [])),
            "signals": group_activity.signal_labels(c),
            "full": c.member_count >= c.recommended_size,
        }
        for c in page.object_list
    ]
    context = {"form": form, "page": page, "rows": rows}
    return render(request, "console/communities/groups.html", context)


def _group_context(request: HttpRequest, staff: Staff, community: Community) -> dict[str, Any]:
    activity = queries.community_activity([community.pk]).get(community.pk, [])
    recent = list(queries.community_messages(staff, community.pk)[:RECENT_MESSAGES])
    recent.reverse()
    return {
        "group": community,
        "sparkline": sparkline_svg(activity, width=168, height=32),
        "activity_total": sum(activity),
        "activity_signals": group_activity.signal_labels(community),
        "reads_messages": group_activity.reads_messages(community),
        "members": queries.community_members(staff, community.pk),
        "recent_messages": recent,
        "actions": list(moderation_log.moderation_log(staff, community_id=community.pk)[:RECENT_ACTIONS]),
        "join_requests": list(queries.group_join_requests(staff, community.pk)),
        "scheduled": list(queries.scheduled_posts(staff, community.pk)),
        "deliveries": deliveries.group_deliveries(staff, community.pk),
        "post_form": PostForm(),
        "schedule_form": ScheduleForm(),
        "is_open": community.status == Community.Status.OPEN,
        "now": timezone.now(),
    }


@require_GET
@console_view()
def delivery_list(request: HttpRequest) -> HttpResponse:
    """Recent posts into groups and how they got there (filters: status, path, store), and one row per
    WeCom mass message. Store staff see only their stores."""
    staff = current_staff(request)
    status = request.GET.get("status") or ""
    path = request.GET.get("path") or ""
    stores = list(visible_stores(staff))
    store_id = _int_or_none(request.GET.get("store"))
    if store_id is not None and store_id not in {s.pk for s in stores}:
        raise NotFound(_("No such store."), field="store")
    return render(
        request,
        "console/communities/deliveries.html",
        {
            "rows": deliveries.recent_deliveries(staff, status=status, path=path, store_id=store_id),
            "mass_rows": deliveries.mass_messages(staff, store_id=store_id),
            "statuses": GroupDelivery.Status.choices,
            "paths": GroupDelivery.Path.choices,
            "stores": stores,
            "status": status,
            "path": path,
            "store_id": store_id,
        },
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
@console_view()
def group_detail(request: HttpRequest, community_id: int) -> HttpResponse:
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    return render(request, "console/communities/detail.html", _group_context(request, staff, community))


@require_POST
@console_view()
def group_post(request: HttpRequest, community_id: int) -> HttpResponse:
    """Post in the group as oneself, or as the group's announcement (by the robot)."""
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    form = PostForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed(_("A message has 1 to 2000 characters."), field="text")
    text = form.cleaned_data["text"]
    if request.POST.get("as") == "announcement":
        robot.announce(community, text, by=staff)
        messages.success(request, _("Announcement posted."))
    else:
        posting.staff_post(staff, community.pk, text)
        messages.success(request, _("Message posted."))
    return redirect("console:group_detail", community_id=community.pk)


@require_POST
@console_view()
def group_schedule(request: HttpRequest, community_id: int) -> HttpResponse:
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        first = next(iter(form.errors), "text")
        raise ValidationFailed(_("Give the announcement and a date and time to post it."), field=first)
    run_at: datetime = form.cleaned_data["run_at"]
    if timezone.is_naive(run_at):
        run_at = timezone.make_aware(run_at)
    robot.schedule_post(staff, community.pk, form.cleaned_data["text"], run_at)
    messages.success(request, _("Announcement scheduled."))
    return redirect("console:group_detail", community_id=community.pk)


@require_POST
@console_view()
def moderation_override(request: HttpRequest, action_id: int) -> HttpResponse:
    staff = current_staff(request)
    action = moderation_log.get_action(staff, action_id)
    moderation_log.override_action(staff, action.pk, request.POST.get("note") or "", ip=request_ip(request))
    messages.success(request, _("The moderation action was overridden."))
    return redirect("console:group_detail", community_id=action.community_id)


@require_POST
@console_view()
def join_request_review(request: HttpRequest, request_id: int) -> HttpResponse:
    staff = current_staff(request)
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        raise ValidationFailed(_("Approve or reject the request."), field="decision")
    reason = (request.POST.get("reason") or "")[:200]
    reviewed = livecodes.review_join_request(staff, request_id, decision == "approve", reason)
    if reviewed.status == JoinRequest.Status.APPROVED:
        messages.success(request, _("Request approved; the member is in the group."))
    elif reviewed.status == JoinRequest.Status.REJECTED:
        messages.success(request, _("Request rejected."))
    else:
        messages.warning(request, _("No group has room yet; the request stays open until one does."))
    if request.POST.get("next"):
        return redirect(safe_back_url(request))
    target = reviewed.community_id or request.POST.get("community")
    if target and str(target).isdigit():
        return redirect("console:group_detail", community_id=int(target))
    return redirect("console:groups")


def _inactive_days(raw: Any) -> int:
    try:
        return int(raw or DEFAULT_INACTIVE_DAYS)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Give a number of days."), field="days") from None


@require_GET
@console_view()
def group_hygiene(request: HttpRequest, community_id: int) -> HttpResponse:
    staff = current_staff(request)
    days = _inactive_days(request.GET.get("days"))
    report = hygiene.hygiene_report(staff, community_id, inactive_days=days)
    return render(request, "console/communities/hygiene.html", {"group": report.community, "report": report})


@require_POST
@console_view()
def group_hygiene_action(request: HttpRequest, community_id: int) -> HttpResponse:
    """The report's one-click actions: remove the chosen inactive members, or add members to a VIP group."""
    staff = current_staff(request)
    community = queries.get_community(staff, community_id)
    days = _inactive_days(request.POST.get("days"))
    member_ids = request.POST.getlist("member")
    action = request.POST.get("action")
    if action == "remove":
        result = hygiene.remove_inactive(
            staff, community.pk, member_ids, inactive_days=days, ip=request_ip(request)
        )
        done = _("%(n)s members removed.") % {"n": len(result.done)}
    elif action == "promote":
        result = hygiene.promote_to_vip(
            staff, community.pk, member_ids, request.POST.get("vip_community"), ip=request_ip(request)
        )
        done = _("%(n)s members added to the VIP group.") % {"n": len(result.done)}
    else:
        raise ValidationFailed(_("Unknown action."), field="action")
    messages.success(request, done)
    if result.skipped:
        messages.warning(
            request,
            _("Skipped: %(list)s")
            % {"list": "; ".join(f"#{pk} {reason}" for pk, reason in sorted(result.skipped.items()))},
        )
    return redirect(reverse("console:group_hygiene", args=[community.pk]) + f"?days={days}")


# --- live codes -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view()
def live_codes(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = LiveCodeForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code = livecodes.create_live_code(
                staff,
                store_id=data["store"],
                template_id=data["template"],
                staff_id=data.get("staff") or None,
            )
        except ServiceError as exc:
            if isinstance(exc, NotFound) and exc.field not in form.fields:
                raise
            form_error(form, exc)
        else:
            messages.success(request, _("Live code “%(name)s” is ready.") % {"name": code.name})
            return redirect("console:live_codes")
    store_filter = request.GET.get("store") or None
    codes = list(queries.live_codes(staff, store_filter))
    rows = [{"code": c, "join_url": request.build_absolute_uri(livecodes.join_path(c))} for c in codes]
    context = {
        "form": form,
        "rows": rows,
        "stores": visible_stores(staff),
        "store_filter": store_filter,
    }
    return render(request, "console/communities/live_codes.html", context)


@require_GET
@console_view()
def live_code_qr(request: HttpRequest, live_code_id: int) -> HttpResponse:
    staff = current_staff(request)
    code = queries.get_live_code(staff, live_code_id)
    png = livecodes.live_code_png(code, base_url=request.build_absolute_uri("/"))
    return _download(png, "image/png", f"live-code-{code.pk}.png", inline=request.GET.get("inline") == "1")


@require_GET
@console_view()
def live_code_poster(request: HttpRequest, live_code_id: int) -> HttpResponse:
    staff = current_staff(request)
    code = queries.get_live_code(staff, live_code_id)
    png = livecodes.live_code_poster_png(code, base_url=request.build_absolute_uri("/"))
    return _download(png, "image/png", f"live-code-{code.pk}-poster.png")


# --- templates and the planner ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view()
def group_templates(request: HttpRequest) -> HttpResponse:
    """The templates with their audiences in words; head office creates one with the form below."""
    staff = current_staff(request)
    can_manage = has_capability(staff, "communities.manage")
    form = TemplateForm(request.POST or None) if can_manage else None
    if request.method == "POST":
        if form is None:
            return _forbidden(request)
        if form.is_valid():
            try:
                template = matrix.create_group_template(staff, form.service_data())
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Group template “%(name)s” created.") % {"name": template.name})
                return redirect("console:group_templates")
    rows = [(t, audience_summary(t.audience)) for t in queries.group_templates()]
    context = {"form": form, "rows": rows, "can_manage": can_manage}
    return render(
        request, "console/communities/templates.html", context, status=400 if form and form.errors else 200
    )


@require_http_methods(["GET", "POST"])
@console_view("communities.manage")
def group_template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    staff = current_staff(request)
    template = matrix.get_template(template_id, brand_id=current_brand_id(staff), active_only=False)
    initial = TemplateForm.initial_for(template)
    form = TemplateForm(request.POST or None, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            matrix.update_group_template(staff, template.pk, form.service_data())
        except ServiceError as exc:
            if isinstance(exc, NotFound) and exc.field == "template":
                raise
            form_error(form, exc)
        else:
            messages.success(
                request, _("Group template “%(name)s” saved.") % {"name": form.cleaned_data["name"]}
            )
            return redirect("console:group_templates")
    status = 400 if form.errors else 200
    return render(
        request, "console/communities/template_edit.html", {"form": form, "template": template}, status=status
    )


def _forbidden(request: HttpRequest) -> HttpResponse:
    return error_page(request, 403, _("Only head office can manage group templates."))


@require_GET
@console_view()
def group_plan(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    stores = list(visible_stores(staff))
    store_param = request.GET.get("store") or (str(stores[0].pk) if len(stores) == 1 else "")
    store = get_store(staff, store_param) if store_param else None
    items = matrix.plan_store_groups(staff, store.pk) if store is not None else []
    context = {"stores": stores, "store": store, "items": items}
    return render(request, "console/communities/plan.html", context)


@require_POST
@console_view()
def group_plan_accept(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    store = get_store(staff, request.POST.get("store"))
    template_id = request.POST.get("template")
    if not template_id:
        raise ValidationFailed(_("Choose a group template."), field="template")
    opened = matrix.accept_plan(staff, store.pk, template_id)
    if opened:
        messages.success(request, _("%(n)s new groups opened.") % {"n": len(opened)})
    else:
        messages.info(request, _("Nothing to open: the existing groups have room."))
    return redirect(reverse("console:group_plan") + f"?store={store.pk}")


# --- staff tasks and failed channel calls -------------------------------------------------------


@require_GET
@console_view()
def staff_tasks(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    store_filter = request.GET.get("store") or None
    context = {
        "tasks": staff_todos.open_tasks(staff, store_filter),
        "stores": visible_stores(staff),
        "store_filter": store_filter,
    }
    return render(request, "console/communities/tasks.html", context)


@require_POST
@console_view()
def task_done(request: HttpRequest, task_id: int) -> HttpResponse:
    task = staff_todos.complete_task(current_staff(request), task_id, ip=request_ip(request))
    messages.success(request, _("Task “%(title)s” done.") % {"title": task.title})
    if request.POST.get("next"):
        return redirect(safe_back_url(request))
    return redirect("console:staff_tasks")


@require_GET
@console_view()
def failed_outbox(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    page = Paginator(outbox.failed_messages(staff), PAGE_SIZE).get_page(request.GET.get("page"))
    groups_by_id = queries.communities_by_id({m.community_id for m in page.object_list if m.community_id})
    rows = [{"message": m, "group": groups_by_id.get(m.community_id or 0)} for m in page.object_list]
    return render(request, "console/communities/outbox.html", {"page": page, "rows": rows})


@require_POST
@console_view()
def outbox_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    outbox.retry_message(current_staff(request), message_id)
    messages.success(request, _("The call was queued again."))
    return redirect("console:failed_outbox")
