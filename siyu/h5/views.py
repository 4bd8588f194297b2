"""H5 views: thin callers of ``siyu.members.services.signin`` / ``consent`` / ``privacy`` /
``public_profile``: sign-in, the home page, "我的" (nickname, avatar, consent, data) and avatars.

Service errors are shown as form messages; nothing here decides a business rule.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.campaigns.services.group_buys.member_home import my_live_places, running_group_buys
from siyu.channels import wechat_oauth
from siyu.common.errors import ServiceError, ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.communities.services import messages as chat
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.members.services.consent import set_consent
from siyu.members.services.privacy import member_data
from siyu.members.services.public_profile import (
    MAX_AVATAR_BYTES,
    MAX_NICKNAME,
    avatar_name,
    name_for_self,
    open_avatar,
    public_name,
    remove_avatar,
    set_avatar,
    set_nickname,
)
from siyu.org.services.brand import brand_name
from siyu.org.services.login import client_ip

_STATE_KEY = "siyu_wechat_state"
_SCOPE_KEY = "siyu_wechat_scope"
_NEXT_KEY = "siyu_h5_next"

MemberView = Callable[[HttpRequest, Member], HttpResponse]


def _render(request: HttpRequest, template: str, context: dict[str, Any] | None = None) -> HttpResponse:
    return render(request, template, {"brand_name": brand_name(), **(context or {})})


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("h5:home")


def member_required(view: MemberView) -> Callable[[HttpRequest], HttpResponse]:
    """Pass the signed-in member to ``view``; send anyone else to the sign-in page."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        member = signin.member_from_session(request)
        if member is None:
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, member)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Two steps on one page: mobile number → "send code", then the code → signed in."""
    pending = request.session.get(signin.WECHAT_PENDING_KEY)
    if "next" in request.GET:
        request.session[_NEXT_KEY] = _safe_next(request, request.GET["next"])
    if request.method == "GET" and not pending and signin.member_from_session(request) is not None:
        return redirect("h5:home")
    context: dict[str, Any] = {
        "step": "mobile",
        "mobile": "",
        "error": "",
        "pending_wechat": bool(pending),
        "console_hint": settings.DEBUG and settings.SIYU_SMS_PROVIDER == "console",
        "wechat_available": wechat_oauth.is_configured()
        and "MicroMessenger" in request.headers.get("User-Agent", ""),
    }
    if request.method == "POST":
        action = request.POST.get("action")
        mobile = (request.POST.get("mobile") or "").strip()[:32]
        context["mobile"] = mobile
        ip = client_ip(request)
        if action == "send":
            try:
                otp = signin.request_code(mobile, ip=ip)
            except ServiceError as exc:
                context["error"] = exc.message
            else:
                context.update(step="code", mobile=otp.mobile, masked_mobile=mask_mobile(otp.mobile))
        elif action == "verify":
            context.update(step="code", masked_mobile=mask_mobile(mobile))
            try:
                member = signin.verify_code(mobile, request.POST.get("code") or "", ip=ip)
            except ServiceError as exc:
                context["error"] = exc.message
                if exc.field == "mobile":
                    context["step"] = "mobile"
            else:
                return _signed_in(request, member)
        else:
            context["error"] = _("Please try again.")
    return _render(request, "h5/login.html", context)


def _signed_in(request: HttpRequest, member: Member) -> HttpResponse:
    pending = request.session.pop(signin.WECHAT_PENDING_KEY, None)
    target = request.session.pop(_NEXT_KEY, None) or reverse("h5:home")
    signin.login_member(request, member)
    if pending:
        try:
            signin.link_wechat_identity(member, pending)
        except ServiceError as exc:
            messages.warning(request, exc.message)
        else:
            messages.success(request, _("Your WeChat account is now linked."))
    return HttpResponseRedirect(target)


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation (a link must not sign anyone out); POST signs out."""
    if request.method == "POST":
        signin.logout_member(request)
        messages.info(request, _("You have signed out."))
        return redirect("h5:login")
    if signin.member_from_session(request) is None:
        return redirect("h5:login")
    return _render(request, "h5/logout.html")


@never_cache
def wechat_start(request: HttpRequest) -> HttpResponse:
    """Redirect to WeChat's authorization page with a fresh state kept in the session."""
    scope = request.GET.get("scope", wechat_oauth.SCOPE_BASE)
    if scope not in wechat_oauth.SCOPES:
        scope = wechat_oauth.SCOPE_BASE
    if "next" in request.GET:
        request.session[_NEXT_KEY] = _safe_next(request, request.GET["next"])
    state = secrets.token_hex(16)
    redirect_uri = request.build_absolute_uri(reverse("h5:wechat_callback"))
    try:
        url = wechat_oauth.build_authorize_url(redirect_uri, state, scope)
    except wechat_oauth.WeChatNotConfigured:
        messages.error(request, _("WeChat sign-in is not available."))
        return redirect("h5:login")
    request.session[_STATE_KEY] = state
    request.session[_SCOPE_KEY] = scope
    return HttpResponseRedirect(url)


@never_cache
def wechat_callback(request: HttpRequest) -> HttpResponse:
    """WeChat sends the member back here with ``code`` and ``state``."""
    expected = request.session.pop(_STATE_KEY, None)
    scope = request.session.pop(_SCOPE_KEY, wechat_oauth.SCOPE_BASE)
    try:
        member, info = signin.wechat_sign_in(
            request.GET.get("code"), request.GET.get("state"), expected, scope=scope
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("h5:login")
    if member is not None:
        target = request.session.pop(_NEXT_KEY, None) or reverse("h5:home")
        signin.login_member(request, member)
        return HttpResponseRedirect(target)
    request.session[signin.WECHAT_PENDING_KEY] = info
    messages.info(request, _("One more step: confirm your mobile number to finish signing in with WeChat."))
    return redirect("h5:login")


@never_cache
@member_required
def home(request: HttpRequest, member: Member) -> HttpResponse:
    """The member's home: shortcuts to their groups, group buys, orders and the mall; sales running now."""
    return _render(
        request,
        "h5/home.html",
        {
            "member": member,
            "own_name": name_for_self(member),
            "avatar_url": _avatar_url(member),
            "group_buys": running_group_buys(member),
            "my_places": my_live_places(member),
            "group_count": len(chat.my_groups(member)),
        },
    )


def _avatar_url(member: Member) -> str:
    name = avatar_name(member)
    return reverse("h5:avatar", args=[name]) if name else ""


@never_cache
@require_http_methods(["GET", "POST"])
@member_required
def me(request: HttpRequest, member: Member) -> HttpResponse:
    """ "我的": the member's own profile — nickname and avatar (what other members see), marketing consent,
    their data and signing out. POST ``action`` = ``nickname`` | ``avatar`` | ``remove_avatar``; each
    changes only the signed-in member."""
    nickname_error = avatar_error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "nickname":
                set_nickname(member, (request.POST.get("nickname") or "")[:200])
                messages.success(request, _("Your nickname is saved."))
            elif action == "avatar":
                set_avatar(member, _read_avatar(request))
                messages.success(request, _("Your avatar is saved."))
            elif action == "remove_avatar":
                remove_avatar(member)
                messages.success(request, _("Your avatar was removed."))
            else:
                raise ValidationFailed(_("Please try again."), field="action")
        except ServiceError as exc:
            if exc.field == "avatar":
                avatar_error = exc.message
            else:
                nickname_error = exc.message
        else:
            return redirect("h5:me")
    member.refresh_from_db()
    return _render(
        request,
        "h5/me.html",
        {
            "member": member,
            "masked_mobile": mask_mobile(member.mobile),
            "own_name": name_for_self(member),
            "public_name": public_name(member),
            "avatar_url": _avatar_url(member),
            "nickname_value": request.POST.get("nickname", member.nickname)[:200]
            if nickname_error
            else member.nickname,
            "nickname_error": nickname_error,
            "avatar_error": avatar_error,
            "max_nickname": MAX_NICKNAME,
        },
    )


def _read_avatar(request: HttpRequest) -> bytes:
    upload = request.FILES.get("avatar")
    if upload is None:
        raise ValidationFailed(_("Choose a picture first."), field="avatar")
    if upload.size and upload.size > MAX_AVATAR_BYTES:
        # Refused before reading it into memory; the service checks again.
        raise ValidationFailed(_("Pictures can be at most 5 MB."), field="avatar")
    return upload.read(MAX_AVATAR_BYTES + 1)


@require_GET
def avatar(request: HttpRequest, name: str) -> HttpResponseBase:
    """A member's avatar by its random file name (160 px JPEG); 404 for anything else. MEDIA_ROOT itself is
    never served."""
    try:
        handle = open_avatar(name)
    except LookupError as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type="image/jpeg")
    # The name changes with every upload, so the file under one name never changes.
    response["Cache-Control"] = "public, max-age=604800, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@member_required
def consent(request: HttpRequest, member: Member) -> HttpResponse:
    """Grant or withdraw marketing consent: the switch's state is the member's decision."""
    granted = request.POST.get("granted") == "1"
    error = ""
    try:
        set_consent(member, granted, source="h5", ip=client_ip(request))
    except ServiceError as exc:
        error = exc.message
    member.refresh_from_db(fields=["marketing_consent", "consent_updated_at"])
    if request.headers.get("HX-Request"):
        return _render(request, "h5/_consent.html", {"member": member, "consent_error": error})
    if error:
        messages.error(request, error)
    elif member.marketing_consent:
        messages.success(request, _("You will receive offers and news from us."))
    else:
        messages.success(request, _("You will no longer receive offers and news from us."))
    return redirect("h5:me")


@never_cache
@member_required
def my_data(request: HttpRequest, member: Member) -> HttpResponse:
    """Everything we hold about the member, as a JSON download (PIPL access right)."""
    response = JsonResponse(member_data(member), json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="my-data-{member.pk}.json"'
    return response
