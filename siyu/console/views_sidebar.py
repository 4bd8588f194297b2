"""The WeCom chat-toolbar sidebar (聊天工具栏) for staff: a phone page at /console/sidebar/.

Inside WeCom the page signs the staff member in through WeCom OAuth, registers the JS-SDK with the app
signature, asks ``getCurExternalChat`` for the current group and lists what Siyu has ready for it; each item
goes into the chat with one tap (``sendChatMessage``) and is then marked done. In a plain browser a signed-in
staff member picks one of their groups and uses "copy" + "sent" instead. Thin callers: who may see what is
decided by ``siyu.communities.services.sidebar`` and ``siyu.channels.services.wecom_sidebar_auth``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_POST

from siyu.channels.models import Connector
from siyu.channels.services import wecom_sidebar_auth as auth
from siyu.common.errors import ChannelUnavailable, NotFound, ServiceError
from siyu.communities.services import sidebar
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

from .helpers import request_ip

SESSION_KEY = "siyu_sidebar_oauth"


def _staff(request: HttpRequest) -> Staff | None:
    user = request.user
    return user if isinstance(user, Staff) and user.is_active else None


def _in_wecom(request: HttpRequest) -> bool:
    return "wxwork" in request.headers.get("User-Agent", "").lower()


def _connector_id(request: HttpRequest) -> int | None:
    raw = request.GET.get("connector") or ""
    return int(raw) if raw.isdigit() else None


def _connector_or_none(request: HttpRequest) -> Connector | None:
    try:
        return auth.sidebar_connector(_connector_id(request))
    except NotFound:
        return None


def _page_url(connector_id: int | None) -> str:
    url = reverse("console:sidebar")
    return f"{url}?{urlencode({'connector': connector_id})}" if connector_id else url


def _notice(request: HttpRequest, message: str, *, status: int = 200, title: str = "") -> HttpResponse:
    return render(
        request,
        "console/sidebar/notice.html",
        {"message": message, "title": title or pgettext("sidebar", "Sidebar")},
        status=status,
    )


def _absolute(request: HttpRequest, path: str) -> str:
    base = (getattr(settings, "SIYU_PUBLIC_URL", "") or "").rstrip("/")
    return base + path if base else request.build_absolute_uri(path)


# --- the page ------------------------------------------------------------------------------------------


@require_GET
def sidebar_page(request: HttpRequest) -> HttpResponse:
    """The sidebar. Signed out inside WeCom: off to WeCom OAuth (state kept in the session); signed out in a
    plain browser: the console sign-in, then back here."""
    staff = _staff(request)
    connector = _connector_or_none(request)
    if staff is None:
        if _in_wecom(request) and connector is not None:
            state = auth.new_oauth_state()
            request.session[SESSION_KEY] = {"state": state, "connector": connector.pk}
            redirect_uri = _absolute(request, reverse("console:sidebar_oauth"))
            return HttpResponseRedirect(auth.oauth_url(connector, redirect_uri, state))
        return redirect_to_login(request.get_full_path())
    context: dict[str, Any] = {
        "staff": staff,
        "connector": connector,
        "corp_id": str((connector.config or {}).get("corp_id") or "") if connector else "",
        "agent_id": str((connector.config or {}).get("agent_id") or "") if connector else "",
        "groups": sidebar.sidebar_groups(staff),
        "community": None,
        "items": [],
    }
    return render(request, "console/sidebar/page.html", context)


@require_GET
def sidebar_oauth(request: HttpRequest) -> HttpResponse:
    """WeCom's OAuth redirect: check ``state`` against this browser's session (one use), ask WeCom who the
    ``code`` belongs to and sign that staff member in."""
    pending = request.session.pop(SESSION_KEY, None) or {}
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    if not auth.state_matches(str(pending.get("state") or ""), state) or not code:
        return _notice(
            request,
            _("This sign-in link is not valid any more. Please open the sidebar again from the group."),
            status=400,
            title=_("Cannot sign in"),
        )
    try:
        connector = auth.sidebar_connector(int(pending.get("connector") or 0) or None)
        staff = auth.staff_for_code(connector, code)
    except auth.UnknownWeComUser as exc:
        return _notice(request, str(exc.message), status=403, title=_("Not a staff account"))
    except (NotFound, ChannelUnavailable) as exc:
        return _notice(request, str(exc.message), status=400, title=_("Cannot sign in"))
    auth_login(request, staff)
    record_audit(
        staff,
        "staff.login_wecom",
        target_type="staff",
        target_id=staff.pk,
        detail={"connector": connector.pk},
        ip=request_ip(request),
    )
    return HttpResponseRedirect(_page_url(connector.pk))


@require_GET
def sidebar_signature(request: HttpRequest) -> HttpResponse:
    """``{timestamp, nonceStr, signature}`` for ``ww.register`` (``kind=agent`` app, ``kind=corp`` corp),
    for a page URL of this site only."""
    staff = _staff(request)
    if staff is None:
        return JsonResponse({"code": "not_authenticated", "message": _("Sign in first.")}, status=401)
    url = request.GET.get("url", "")
    kind = request.GET.get("kind", "agent")
    if kind not in ("agent", "corp") or urlsplit(url).netloc != request.get_host():
        return JsonResponse({"code": "invalid", "message": _("Cannot sign that page.")}, status=400)
    try:
        connector = auth.sidebar_connector(_connector_id(request))
        signed = auth.js_signature(connector, url, kind=kind)
    except ServiceError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse(signed.as_dict())


# --- items ------------------------------------------------------------------------------------------------


def _items(request: HttpRequest, community: Any, items: list[sidebar.SidebarItem]) -> HttpResponse:
    return render(request, "console/sidebar/_items.html", {"community": community, "items": items})


@require_GET
def sidebar_chat(request: HttpRequest) -> HttpResponse:
    """The ready items of the group WeCom says the sidebar is open in (htmx partial)."""
    staff = _staff(request)
    if staff is None:
        return _notice(request, _("Sign in first."), status=401)
    try:
        connector = auth.sidebar_connector(_connector_id(request))
        community = sidebar.group_for_chat(staff, connector, request.GET.get("chat_id", ""))
    except NotFound as exc:
        return render(request, "console/sidebar/_not_yours.html", {"message": exc.message}, status=404)
    return _items(request, community, sidebar.items_for(community))


@require_GET
def sidebar_group(request: HttpRequest, community_id: int) -> HttpResponse:
    """One group's ready items: the partial for htmx, the whole page otherwise (outside WeCom)."""
    staff = _staff(request)
    if staff is None:
        return redirect_to_login(request.get_full_path())
    try:
        community, items = sidebar.ready_items(staff, community_id)
    except NotFound as exc:
        if request.headers.get("HX-Request") == "true":
            return render(request, "console/sidebar/_not_yours.html", {"message": exc.message}, status=404)
        return _notice(request, str(exc.message), status=404, title=_("Not found"))
    if request.headers.get("HX-Request") == "true":
        return _items(request, community, items)
    connector = _connector_or_none(request)
    context = {
        "staff": staff,
        "connector": connector,
        "corp_id": "",
        "agent_id": "",
        "groups": sidebar.sidebar_groups(staff),
        "community": community,
        "items": items,
    }
    return render(request, "console/sidebar/page.html", context)


@require_POST
def sidebar_done(request: HttpRequest, community_id: int) -> HttpResponse:
    """Mark one item sent (after ``sendChatMessage`` succeeded, or after copying): its deliveries confirmed by
    this staff member. Returns the item's "sent" row (htmx swaps it in)."""
    staff = _staff(request)
    if staff is None:
        return _notice(request, _("Sign in first."), status=401)

    def ids(name: str) -> list[int]:
        return [int(v) for v in request.POST.getlist(name) if v.isdigit()]

    try:
        rows = sidebar.mark_done(
            staff, community_id, delivery_ids=ids("delivery"), membership_ids=ids("membership")
        )
    except NotFound as exc:
        return render(request, "console/sidebar/_not_yours.html", {"message": exc.message}, status=404)
    except ServiceError as exc:
        return render(request, "console/sidebar/_not_yours.html", {"message": exc.message}, status=400)
    done_by = next((r.done_by for r in rows if r.done_by_id), None)
    context = {
        "title": request.POST.get("title", "")[:100],
        "done_by": done_by or staff,
        "rows": rows,
        "community": rows[0].community,
        "waiting": sidebar.waiting_count(rows[0].community),
    }
    return render(request, "console/sidebar/_done.html", context)
