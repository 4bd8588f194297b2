"""Staff console views: thin callers of the services, rendering server-side templates (+ htmx partials)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.analytics.services.descriptions import describe_event
from siyu.analytics.services.events import member_timeline
from siyu.common.errors import NotAuthenticated, NotFound, RateLimited, ServiceError, ValidationFailed
from siyu.members.models import Member
from siyu.members.services.consent import staff_set_consent
from siyu.members.services.imports import import_members, import_template
from siyu.members.services.member_export import export_members
from siyu.members.services.notes import add_note
from siyu.members.services.privacy import erase_member, export_member
from siyu.members.services.profiles import (
    create_member,
    display_mobile,
    filter_members,
    get_member,
    reveal_mobile,
    update_member,
)
from siyu.members.services.tags import tag_member, untag_member
from siyu.org.models import Staff
from siyu.org.services.access import can_reveal_mobile, has_capability, is_chain_wide
from siyu.org.services.audit_descriptions import describe_entry
from siyu.org.services.login import staff_login
from siyu.org.services.tokens import create_token, revoke_token

from . import queries
from .forms import AuditFilterForm, ImportForm, LoginForm, MemberFilterForm, MemberForm, NoteForm, TokenForm
from .helpers import console_view, current_staff, error_page, form_error, is_htmx, request_ip

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"
    return response


def _vary_htmx(response: HttpResponse) -> HttpResponse:
    # Full page and partial share a URL; caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- sign-in ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if isinstance(request.user, Staff) and request.user.is_active and request.method == "GET":
        return redirect(next_url or "console:dashboard")
    form = LoginForm(request.POST or None)
    throttled = False
    if request.method == "POST" and form.is_valid():
        try:
            staff = staff_login(request, form.cleaned_data["username"], form.cleaned_data["password"])
        except RateLimited as exc:
            throttled = True
            form.add_error(None, str(exc.message))
        except NotAuthenticated as exc:
            form.add_error(None, str(exc.message))
        else:
            auth_login(request, staff)
            return HttpResponseRedirect(next_url or reverse("console:dashboard"))
    context = {"form": form, "next": next_url, "throttled": throttled}
    return render(request, "console/login.html", context, status=429 if throttled else 200)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    return redirect("console:login")


# --- overview --------------------------------------------------------------------------------


@require_GET
@console_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    """HQ roles get the chain's figures; store roles (on a phone, mostly) get their day: today's pickups,
    join requests waiting and open to-dos."""
    staff = current_staff(request)
    stats = queries.dashboard_stats(staff)
    if not is_chain_wide(staff):
        context = {"home": queries.staff_home(staff), "stats": stats}
        return render(request, "console/home_store.html", context)
    chart = {"days": stats.days, "counts": stats.joined_per_day}
    return render(request, "console/dashboard.html", {"stats": stats, "chart": chart})


# --- members ---------------------------------------------------------------------------------


@require_GET
@console_view()
def members(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = MemberFilterForm(request.GET or None, staff=staff)
    qs = filter_members(staff, form.to_filter())
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(m, display_mobile(staff, m)) for m in page.object_list]
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "can_export": has_capability(staff, "members.export"),
        "filter_items": [(k, v) for k, v in request.GET.items() if k != "page" and v],
    }
    template = "console/members/_results.html" if is_htmx(request) else "console/members/list.html"
    return _vary_htmx(render(request, template, context))


@require_POST
@console_view("members.export")
def members_export(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    fmt = request.POST.get("fmt", "csv")
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(_("Choose CSV or XLSX."), field="fmt")
    form = MemberFilterForm(request.POST, staff=staff)
    content, content_type, filename = export_members(staff, form.to_filter(), fmt, ip=request_ip(request))
    return _download(content, content_type, filename)


@require_http_methods(["GET", "POST"])
@console_view()
def member_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = MemberForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.profile_data()
        data["mobile"] = form.cleaned_data["mobile"]
        try:
            member = create_member(staff, data, ip=request_ip(request))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Member created."))
            return redirect("console:member_detail", member_id=member.pk)
    return render(request, "console/members/new.html", {"form": form})


def _detail_context(request: HttpRequest, staff: Staff, member: Member, **extra: Any) -> dict[str, Any]:
    timeline = [(e, describe_event(e.type, e.payload)) for e in member_timeline(member.pk, limit=50)]
    context = {
        "member": member,
        "masked_mobile": display_mobile(staff, member),
        "member_tags": queries.member_tags(member),
        "addable_tags": queries.addable_manual_tags(member),
        "notes": member.notes.select_related("author").all()[:50],
        "note_form": NoteForm(),
        "consent_records": member.consent_records.select_related("recorded_by").all()[:10],
        "timeline": timeline,
        "can_reveal": can_reveal_mobile(staff),
        "can_export_member": has_capability(staff, "members.export"),
        "can_erase": has_capability(staff, "members.erase"),
        "erased": member.erased_at is not None,
    }
    context.update(extra)
    return context


def _member_partial(request: HttpRequest, member_id: int, template: str, **extra: Any) -> HttpResponse:
    """After a change on the profile page: the changed section for htmx, the whole page otherwise."""
    staff = current_staff(request)
    if is_htmx(request):
        member = get_member(staff, member_id)
        return render(request, template, _detail_context(request, staff, member, **extra))
    return redirect("console:member_detail", member_id=member_id)


@require_GET
@console_view()
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    staff = current_staff(request)
    member = get_member(staff, member_id)
    return render(request, "console/members/detail.html", _detail_context(request, staff, member))


@require_POST
@console_view()
def member_tag_add(request: HttpRequest, member_id: int) -> HttpResponse:
    tag_id = request.POST.get("tag") or ""
    if not tag_id:
        raise ValidationFailed(_("Choose a tag."), field="tag")
    try:
        tag_member(current_staff(request), member_id, tag_id, ip=request_ip(request))
    except NotFound as exc:
        if exc.field == "tag":  # an unknown tag is bad input, not a missing page
            raise ValidationFailed(str(exc.message), field="tag") from None
        raise
    return _member_partial(request, member_id, "console/members/_tags.html")


@require_POST
@console_view()
def member_tag_remove(request: HttpRequest, member_id: int, tag_id: int) -> HttpResponse:
    try:
        untag_member(current_staff(request), member_id, tag_id, ip=request_ip(request))
    except NotFound as exc:
        if exc.field == "tag":
            raise ValidationFailed(str(exc.message), field="tag") from None
        raise
    return _member_partial(request, member_id, "console/members/_tags.html")


@require_POST
@console_view()
def member_consent(request: HttpRequest, member_id: int) -> HttpResponse:
    value = request.POST.get("granted")
    if value not in ("0", "1"):
        raise ValidationFailed(_("Say whether consent is granted or withdrawn."), field="granted")
    record = staff_set_consent(current_staff(request), member_id, value == "1", ip=request_ip(request))
    if record is not None and not is_htmx(request):
        messages.success(request, _("Consent recorded."))
    return _member_partial(request, member_id, "console/members/_consent.html")


@require_POST
@console_view()
def member_note_add(request: HttpRequest, member_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        raise ValidationFailed(_("A note has 1 to 2000 characters."), field="text")
    add_note(current_staff(request), member_id, form.cleaned_data["text"], ip=request_ip(request))
    return _member_partial(request, member_id, "console/members/_notes.html")


@require_POST
@console_view()
def member_reveal(request: HttpRequest, member_id: int) -> HttpResponse:
    staff = current_staff(request)
    mobile = reveal_mobile(staff, member_id, ip=request_ip(request))
    member = get_member(staff, member_id)
    context = _detail_context(request, staff, member, revealed_mobile=mobile)
    template = "console/members/_mobile.html" if is_htmx(request) else "console/members/detail.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@console_view()
def member_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    staff = current_staff(request)
    member = get_member(staff, member_id)
    if member.erased_at:
        messages.error(request, _("This member's data was erased."))
        return redirect("console:member_detail", member_id=member.pk)
    initial = {
        "name": member.name,
        "gender": member.gender,
        "birthday": member.birthday,
        "occupation": member.occupation,
        "district": member.district,
        "home_store": str(member.home_store_id or ""),
    }
    form = MemberForm(request.POST or None, staff=staff, with_mobile=False, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            update_member(staff, member.pk, form.profile_data(), ip=request_ip(request))
        except ServiceError as exc:
            if isinstance(exc, NotFound) and exc.field == "member":
                raise
            form_error(form, exc)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("console:member_detail", member_id=member.pk)
    return render(request, "console/members/edit.html", {"form": form, "member": member})


@require_POST
@console_view("members.export")
def member_export_json(request: HttpRequest, member_id: int) -> HttpResponse:
    data = export_member(current_staff(request), member_id, ip=request_ip(request))
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return _download(content, "application/json; charset=utf-8", f"member-{data['id']}.json")


@require_http_methods(["GET", "POST"])
@console_view("members.erase")
def member_erase(request: HttpRequest, member_id: int) -> HttpResponse:
    staff = current_staff(request)
    member = get_member(staff, member_id)
    if request.method == "POST":
        if request.POST.get("confirm") != str(member.pk):
            messages.error(request, _("Type the member number to confirm the erasure."))
        else:
            erase_member(staff, member.pk, ip=request_ip(request))
            messages.success(request, _("The member's personal data was erased."))
            return redirect("console:member_detail", member_id=member.pk)
    return render(request, "console/members/erase.html", {"member": member})


# --- imports ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view("members.import")
def imports(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = import_members(staff, upload.name, upload.read(), ip=request_ip(request))
        except ServiceError as exc:
            if isinstance(exc, NotFound):
                raise
            form_error(form, exc)
        else:
            if result.status == "imported":
                messages.success(request, _("Import finished."))
            else:
                messages.error(request, _("The file was rejected; nothing was imported."))
            return redirect("console:import_detail", import_id=result.pk)
    context = {"form": form, "imports": queries.recent_imports(staff)}
    return render(request, "console/imports/list.html", context)


@require_GET
@console_view("members.import")
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    staff = current_staff(request)
    result = queries.get_import(staff, import_id)
    if result is None:
        return error_page(request, 404, _("No such import."))
    errors = result.errors if isinstance(result.errors, list) else []
    return render(request, "console/imports/detail.html", {"result": result, "errors": errors})


@require_GET
@console_view("members.import")
def import_template_download(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in EXPORT_FORMATS:
        return error_page(request, 404, _("No such template."))
    return _download(*import_template(fmt))


# --- API tokens ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@console_view()
def tokens(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = TokenForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, new_secret = create_token(staff, form.cleaned_data["name"])
        except ServiceError as exc:
            form_error(form, exc)
        else:
            form = TokenForm()
    context = {"form": form, "tokens": queries.own_tokens(staff), "new_secret": new_secret}
    response = render(request, "console/tokens.html", context)
    if new_secret:
        response["Cache-Control"] = "no-store"  # the secret is shown once and must not linger in caches
    return response


@require_POST
@console_view()
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = revoke_token(current_staff(request), token_id)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("console:tokens")


# --- audit log -------------------------------------------------------------------------------


@require_GET
@console_view("audit.read")
def audit(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    actions, actors = queries.audit_filter_options(staff)
    form = AuditFilterForm(request.GET or None, actions=actions, actors=actors)
    data = form.cleaned_data if form.is_valid() else {}
    qs = queries.audit_entries(staff, action=data.get("action") or None, actor_id=data.get("actor"))
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(entry, describe_entry(entry)) for entry in page.object_list]
    return render(request, "console/audit.html", {"form": form, "page": page, "rows": rows})
