"""H5 join pages: a member scans a live code (``/h5/j/<token>/``), sees the group and joins.

Thin callers of ``siyu.communities.services.livecodes``; the routing and thresholds are decided there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from siyu.channels.models import ChannelKind
from siyu.common.errors import NotFound, ServiceError
from siyu.common.validators import optional_id
from siyu.communities.models import Community, GroupTemplate, JoinRequest, JoinScene, LiveCode
from siyu.communities.services.livecodes import get_live_code, join_via_live_code, membership_in_set
from siyu.communities.services.matrix import normalize_questionnaire
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

from .views_invites import ensure_device_cookie, record_from_session


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return render(request, template, {"brand_name": brand_name(), **context}, status=status)


def chat_url(community_id: int) -> str:
    """The member's web chat page of a group (``/h5/c/<id>/``)."""
    return f"{reverse('h5:home')}c/{community_id}/"


def landing_url(community: Community) -> str:
    """Where a member in ``community`` goes after joining: the chat for web groups, else the page that
    takes them into the group on its channel (WeCom QR, Telegram invite link)."""
    if community.channel == ChannelKind.WEB:
        return chat_url(community.pk)
    return reverse("h5:entry", args=[community.pk])


def _scene(request: HttpRequest) -> str:
    scene = request.GET.get("scene", "")
    if scene in JoinScene.values:
        return scene
    if request.GET.get("ref"):
        return JoinScene.MEMBER_SHARE
    if request.GET.get("staff"):
        return JoinScene.STAFF_SHARE
    return JoinScene.STORE_QR


def _card_context(code: LiveCode, member: Member) -> dict[str, Any]:
    template = code.template
    return {
        "code": code,
        "store": code.store,
        "template": template,
        "theme_label": template.get_theme_display(),
        "rules": [line.strip() for line in template.rules_text.splitlines() if line.strip()],
        "questions": normalize_questionnaire(template.questionnaire)
        if template.threshold == GroupTemplate.Threshold.QUESTIONNAIRE
        else [],
        "needs_order": template.threshold == GroupTemplate.Threshold.PURCHASE,
        "needs_approval": template.threshold != GroupTemplate.Threshold.NONE,
        "member": member,
        "order_number": "",
        "error": "",
        "error_field": "",
        "general_error": "",
    }


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the group card (sign-in first); POST joins and goes to the chat, or shows the wait."""
    try:
        code = get_live_code(token)
    except NotFound:
        return _render(request, "h5/join/invalid.html", {}, status=404)
    member = signin.member_from_session(request)
    if member is None:
        return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")

    current = membership_in_set(code, member)
    if current is not None:
        return HttpResponseRedirect(landing_url(current.community))
    pending = JoinRequest.objects.filter(
        live_code=code, member=member, status=JoinRequest.Status.PENDING
    ).first()
    if pending is not None:
        return _render(request, "h5/join/waiting.html", {"code": code, "status": "pending_approval"})

    context = _card_context(code, member)
    if request.method == "POST":
        answers = {q["key"]: (request.POST.get(f"q_{q['key']}") or "")[:600] for q in context["questions"]}
        order_number = (request.POST.get("order_number") or "")[:100]
        try:
            result = join_via_live_code(
                code.token,
                member,
                scene=_scene(request),
                inviter_staff_id=optional_id(request.GET.get("staff")),
                referrer_member_id=optional_id(request.GET.get("ref")),
                answers=answers,
                order_number=order_number,
            )
        except ServiceError as exc:
            known = {q["key"] for q in context["questions"]} | {"order_number"}
            for q in context["questions"]:
                q["value"] = answers.get(q["key"], "")
            context.update(
                order_number=order_number,
                error=exc.message,
                error_field=exc.field or "",
                general_error="" if exc.field in known else exc.message,
            )
            return _render(request, "h5/join/card.html", context, status=400)
        if result.membership is not None:
            record_from_session(request, result.membership)
            return HttpResponseRedirect(landing_url(result.membership.community))
        return _render(request, "h5/join/waiting.html", {"code": code, "status": result.status})
    return ensure_device_cookie(request, _render(request, "h5/join/card.html", context))
