"""H5 loyalty endpoints: the points red packet page with its "抢" button, and the page where a group's KOL
drops one. (The daily check-in is ``views_points.checkin_page``, one endpoint for the page and for JSON.)

Thin callers of ``siyu.loyalty.services``. A red packet of a group the member is not in answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.common.errors import NotFound, ServiceError
from siyu.loyalty.services import points, red_packets
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.members.services.public_profile import public_name
from siyu.org.services.brand import brand_name

LoyaltyView = Callable[..., HttpResponseBase]


def _wants_json(request: HttpRequest) -> bool:
    return (
        "application/json" in request.headers.get("Accept", "")
        and request.headers.get("HX-Request") != "true"
    )


def _member_view(view: LoyaltyView) -> LoyaltyView:
    """The signed-in member, else the sign-in page (JSON callers: 401 ``{"code","message","field"}``);
    NotFound → 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            if _wants_json(request):
                return JsonResponse(
                    {"code": "not_authenticated", "message": _("Sign in first."), "field": None}, status=401
                )
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, member, *args, **kwargs)
        except NotFound as exc:
            if _wants_json(request):
                return JsonResponse(exc.as_dict(), status=404, json_dumps_params={"ensure_ascii": False})
            raise Http404(exc.message) from exc

    return wrapper


def _back(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _packet_context(member: Member, packet_id: int) -> dict[str, Any]:
    packet = red_packets.get_packet_for_member(member, packet_id)
    mine = red_packets.grabs(packet).filter(grabbed_by=member).first()
    summary = red_packets.summary(packet)
    return {
        "brand_name": brand_name(),
        "packet": packet,
        "summary": summary,
        "mine": mine,
        "dropper": public_name(packet.member) if packet.member_id else packet.store.name,
        "grabs": [(public_name(s.grabbed_by), s) for s in red_packets.grabs(packet)],
        "open": packet.status == packet.Status.OPEN and summary.left > 0,
    }


@never_cache
@require_GET
@_member_view
def red_packet(request: HttpRequest, member: Member, packet_id: int) -> HttpResponse:
    """The red packet: who dropped it, how much is left, the "抢" button, and who got what."""
    return render(request, "h5/loyalty/red_packet.html", _packet_context(member, packet_id))


@never_cache
@require_POST
@_member_view
def red_packet_grab(request: HttpRequest, member: Member, packet_id: int) -> HttpResponseBase:
    """Grab a share: the points are credited at once; the page shows the result."""
    try:
        outcome = red_packets.grab(member, packet_id)
    except NotFound:
        raise
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse(exc.as_dict(), status=exc.status, json_dumps_params={"ensure_ascii": False})
        messages.error(request, str(exc.message))
    else:
        if _wants_json(request):
            return JsonResponse({"created": outcome.created, "points": outcome.share.points})
        if outcome.created:
            messages.success(request, _("You grabbed %(n)s points!") % {"n": outcome.share.points})
    return redirect("h5:red_packet", packet_id=packet_id)


@never_cache
@require_http_methods(["GET", "POST"])
@_member_view
def red_packet_drop(request: HttpRequest, member: Member, community_id: int) -> HttpResponseBase:
    """A KOL of the group drops a red packet paid from their own points (others: 404). The form carries a
    key, so a double tap drops one packet."""
    community = red_packets.kol_group(member, community_id)
    error = ""
    if request.method == "POST":
        try:
            packet = red_packets.drop_by_kol(
                member,
                community.pk,
                total=request.POST.get("total", ""),
                shares=request.POST.get("shares", ""),
                greeting=request.POST.get("greeting", ""),
                key=request.POST.get("key", ""),
            )
        except NotFound:
            raise
        except ServiceError as exc:
            error = str(exc.message)
        else:
            messages.success(request, _("Red packet dropped: %(n)s points.") % {"n": packet.total})
            return redirect("h5:red_packet", packet_id=packet.pk)
    return render(
        request,
        "h5/loyalty/red_packet_drop.html",
        {
            "brand_name": brand_name(),
            "community": community,
            "balance": points.balance_of(member).shown,
            "key": uuid.uuid4().hex,
            "error": error,
            "values": request.POST if request.method == "POST" else {},
        },
        status=400 if error else 200,
    )
