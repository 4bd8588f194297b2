"""H5 referral pages: a member's personal invite link (``/h5/r/<token>/``), "我的邀请" (``/h5/invites/``: the
link, the share poster to long-press and save, invitees and their status, rewards) and the poster PNG.

Thin callers of ``siyu.referrals.services``. The invite link keeps (campaign, inviter) in the session and
sends the visitor to the campaign's live-code join page; when the join succeeds the join page records the
invite with the device fingerprint (first-party cookie + user agent) and the client address.
"""

from __future__ import annotations

import secrets
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.common.errors import NotFound
from siyu.common.mobile import mask_mobile
from siyu.common.validators import optional_id
from siyu.communities.models import CommunityMembership, JoinScene
from siyu.members.models import Member
from siyu.org.services.login import client_ip
from siyu.referrals.models import ReferralCampaign
from siyu.referrals.services import campaigns, invites, links, posters, reports

from .views_mall import _member_view, _render

_R = TypeVar("_R", bound=HttpResponseBase)

SESSION_KEY = "siyu_referral"
DEVICE_MAX_AGE = 2 * 365 * 24 * 3600


def ensure_device_cookie(request: HttpRequest, response: _R) -> _R:
    """Give the browser a first-party device id if it has none (part of the device fingerprint)."""
    if not request.COOKIES.get(links.DEVICE_COOKIE):
        response.set_cookie(
            links.DEVICE_COOKIE,
            secrets.token_urlsafe(16),
            max_age=DEVICE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


def record_from_session(request: HttpRequest, membership: CommunityMembership) -> None:
    """After a join: record the invite the session's invite link names (if the join matches it)."""
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, dict):
        return
    campaign_id, inviter_id = pending.get("campaign"), pending.get("inviter")
    if not isinstance(campaign_id, int) or not isinstance(inviter_id, int):
        return
    invites.record_invite(
        membership,
        campaign_id=campaign_id,
        inviter_id=inviter_id,
        device_id=request.COOKIES.get(links.DEVICE_COOKIE, ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        ip=client_ip(request),
    )
    request.session.pop(SESSION_KEY, None)


def _campaign_of(token: str) -> tuple[ReferralCampaign, int]:
    campaign_id, inviter_id = links.parse_token(token)
    campaign = campaigns.active_campaigns_by_id(campaign_id)
    if campaign is None or not campaign.live_code.active:
        raise NotFound("campaign", field="token")
    return campaign, inviter_id


@never_cache
@require_GET
def invite_link(request: HttpRequest, token: str) -> HttpResponseBase:
    """A shared invite link: remember who invited, then the campaign's group join page."""
    try:
        campaign, inviter_id = _campaign_of(token)
    except NotFound:
        return _render(request, "h5/join/invalid.html", {}, status=404)
    request.session[SESSION_KEY] = {"campaign": campaign.pk, "inviter": inviter_id}
    query = urlencode({"ref": inviter_id, "scene": JoinScene.MEMBER_SHARE})
    target = reverse("h5:join", kwargs={"token": campaign.live_code.token}) + "?" + query
    return ensure_device_cookie(request, HttpResponseRedirect(target))


def _my_campaigns(member: Member) -> list[ReferralCampaign]:
    found = list(campaigns.active_campaigns(member.brand_id))
    # The member's home store first.
    return sorted(found, key=lambda c: (c.store_id != member.home_store_id, -c.pk))


@never_cache
@require_GET
@_member_view
def my_invites(request: HttpRequest, member: Member) -> HttpResponseBase:
    """我的邀请: pick a campaign, share the link or poster, follow the invitees."""
    mine = _my_campaigns(member)
    wanted = optional_id(request.GET.get("campaign"))
    current = next((c for c in mine if c.pk == wanted), mine[0] if mine else None)
    context: dict[str, Any] = {"campaigns": mine, "current": current}
    if current is not None:
        summary = reports.member_invites(member, current)
        context.update(
            summary=summary,
            link=links.invite_url(current, member.pk, request.build_absolute_uri("/")),
            rows=[
                {
                    "invite": invite,
                    "who": invite.invitee.nickname or mask_mobile(invite.invitee_mobile),
                    "status": invite.get_status_display(),
                }
                for invite in summary.invites
            ],
            tiers=current.tiers,
        )
    return _render(request, "h5/invites/mine.html", context)


@never_cache
@require_GET
@_member_view
def poster(request: HttpRequest, member: Member, campaign_id: int) -> HttpResponseBase:
    """The member's share poster for a running campaign (PNG)."""
    campaign = campaigns.active_campaigns_by_id(campaign_id)
    if campaign is None or campaign.brand_id != member.brand_id:
        raise Http404
    data = posters.poster_png(campaign, member, request.build_absolute_uri("/"))
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response
