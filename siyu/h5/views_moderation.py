"""H5 "notices" page: the signed-in member's moderation actions (warnings, mutes, removals) and the one appeal
a member may make against a removal.

Thin caller of ``siyu.communities.services.appeals.submit_appeal``, which decides who may appeal what.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from siyu.common.errors import ServiceError, ValidationFailed
from siyu.common.validators import optional_id
from siyu.communities.models import Appeal, ModerationAction
from siyu.communities.services.appeals import submit_appeal
from siyu.communities.services.moderation_ladder import COUNTED_ACTIONS
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

MAX_APPEAL_TEXT = 500
NOTICES_SHOWN = 100


def member_notices(member: Member) -> QuerySet[ModerationAction]:
    """The member's own warnings, mutes and removals, newest first, with their groups and appeals.

    ``hide`` rows only explain one hidden message of a burst and are not a step against the member.
    """
    return (
        ModerationAction.objects.filter(member=member, action__in=COUNTED_ACTIONS)
        .select_related("community", "community__store", "appeal")
        .order_by("-created_at", "-id")
    )


def _appeal_of(action: ModerationAction) -> Appeal | None:
    try:
        return action.appeal
    except Appeal.DoesNotExist:
        return None


def _rows(member: Member, errors: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for action in member_notices(member)[:NOTICES_SHOWN]:
        appeal = _appeal_of(action)
        error, text = errors.get(action.pk, ("", ""))
        rows.append(
            {
                "action": action,
                "appeal": appeal,
                "can_appeal": action.action == ModerationAction.Kind.REMOVE
                and appeal is None
                and action.overridden_at is None,
                "error": error,
                "text": text,
            }
        )
    return rows


@never_cache
@require_http_methods(["GET", "POST"])
def notices(request: HttpRequest) -> HttpResponse:
    """GET lists the member's moderation notices; POST (``action``, ``text``) appeals against a removal."""
    member = signin.member_from_session(request)
    if member is None:
        return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
    errors: dict[int, tuple[str, str]] = {}
    status = 200
    if request.method == "POST":
        action_id = (request.POST.get("action") or "").strip()[:20]
        text = (request.POST.get("text") or "").strip()
        try:
            if len(text) > MAX_APPEAL_TEXT:
                raise ValidationFailed(
                    _("An appeal can be at most %(n)s characters.") % {"n": MAX_APPEAL_TEXT}, field="text"
                )
            submit_appeal(member, action_id, text)
        except ServiceError as exc:
            status = exc.status
            key = optional_id(action_id) or 0
            errors[key] = (str(exc.message), text[:MAX_APPEAL_TEXT])
        else:
            messages.success(request, _("Your appeal was sent. The store will review it."))
            return redirect("h5:notices")
    rows = _rows(member, errors)
    shown = {row["action"].pk for row in rows if row["error"] and row["can_appeal"]}
    for key, (error, _text) in errors.items():
        if key not in shown:
            # The form the error belongs to is not on the page (e.g. appealed already): say it at the top.
            messages.error(request, error)
    context = {"brand_name": brand_name(), "rows": rows, "max_text": MAX_APPEAL_TEXT}
    return render(request, "h5/moderation/notices.html", context, status=status)
