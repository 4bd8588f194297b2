"""H5 group buys (拼团): the offer page, a team's page, and the open / join / share buttons.

Thin callers of ``siyu.campaigns.services.group_buys``: who may open or join, prices, counts and deadlines
are the service's; its refusals are shown as messages, never as a server error. After opening or joining,
the member goes to the order (the cashier when paying online, else the order page with its pickup QR).
Opening and joining are idempotent per (member, team), so a double tap places one order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from siyu.campaigns.models import Campaign, GroupBuyMember, GroupBuyTeam
from siyu.campaigns.services import group_buys
from siyu.catalog.services.queries import member_unit_fen
from siyu.common.errors import NotFound, ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.h5.views_mall import _error, _mall_store, _member_view, _pay_or_show, _render
from siyu.members.models import Member
from siyu.orders.models import OrderStatus

LIVE = group_buys.LIVE


def _remaining(deadline: datetime, now: datetime) -> str:
    seconds = max(int((deadline - now).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    return _("%(h)s h %(m)s min") % {"h": hours, "m": rest // 60}


def _progress(team: GroupBuyTeam, min_size: int, now: datetime) -> dict[str, Any]:
    return {
        "team": team,
        "leader": group_buys.masked_name(team.leader),
        "paid": team.paid_count,
        "needed": max(min_size - team.paid_count, 0),
        "percent": min(100, team.paid_count * 100 // min_size) if min_size else 100,
        "remaining": _remaining(team.deadline, now),
    }


def _offer_context(campaign: Campaign) -> dict[str, Any]:
    group_buy = campaign.group_buy
    sku = group_buy.sku
    normal = member_unit_fen(sku)
    return {
        "campaign": campaign,
        "group_buy": group_buy,
        "product": sku.product,
        "sku": sku,
        "price": fen_to_yuan(group_buy.price_fen),
        "normal_price": fen_to_yuan(normal),
        "saving": fen_to_yuan(max(normal - group_buy.price_fen, 0)),
    }


def _offer(member: Member, campaign_id: int) -> Campaign:
    try:
        return group_buys.offer_for_member(member, campaign_id)
    except NotFound:
        raise Http404 from None


def _team(member: Member, team_id: int) -> GroupBuyTeam:
    try:
        return group_buys.team_for_member(member, team_id)
    except NotFound:
        raise Http404 from None


@never_cache
@require_GET
@_member_view
def group_buy(request: HttpRequest, member: Member, campaign_id: int) -> HttpResponseBase:
    """The offer: product, group price against the usual one, team size, the joinable teams of the member's
    store with their progress, and a button to open a team."""
    campaign = _offer(member, campaign_id)
    now = timezone.now()
    store = _mall_store(request, member)
    running = group_buys.is_running(campaign, now)
    here = store is not None and group_buys.runs_in_store(campaign, store.pk)
    min_size = campaign.group_buy.min_size
    teams = (
        [_progress(t, min_size, now) for t in group_buys.joinable_teams(campaign, store.pk, now)]
        if store is not None and here and running
        else []
    )
    mine = group_buys.live_membership(member, campaign.pk)
    return _render(
        request,
        "h5/groupbuy/offer.html",
        {
            **_offer_context(campaign),
            "store": store,
            "running": running,
            "not_started": campaign.starts_at > now,
            "here": here,
            "teams": teams,
            "mine": mine,
        },
    )


@never_cache
@require_GET
@_member_view
def group_buy_team(request: HttpRequest, member: Member, team_id: int) -> HttpResponseBase:
    """A team: progress, members (names masked), the countdown, share to my group, my order, join."""
    team = _team(member, team_id)
    campaign = team.campaign
    now = timezone.now()
    min_size = campaign.group_buy.min_size
    places = [p for p in group_buys.team_members(team) if p.status in LIVE]
    found = group_buys.membership_in(member, team)
    mine = found if found is not None and found.status in LIVE else None
    live_elsewhere = group_buys.live_membership(member, campaign.pk)
    joinable = (
        group_buys.is_running(campaign, now)
        and team.status in group_buys.JOINABLE
        and team.deadline > now
        and team.joined_count < campaign.group_buy.max_size
        and live_elsewhere is None
    )
    return _render(
        request,
        "h5/groupbuy/team.html",
        {
            **_offer_context(campaign),
            **_progress(team, min_size, now),
            "members": [
                {
                    "name": group_buys.masked_name(p.member),
                    "leader": p.member_id == team.leader_id,
                    "counted": p.status == GroupBuyMember.Status.PAID,
                }
                for p in places
            ],
            "mine": mine,
            "my_order": mine.order if mine is not None else None,
            "awaiting_payment": mine is not None
            and mine.order is not None
            and mine.order.status == OrderStatus.PENDING_PAYMENT,
            "joinable": joinable,
            "deadline_iso": team.deadline.isoformat(),
            "is_open": team.status == GroupBuyTeam.Status.OPEN and team.deadline > now,
        },
    )


@require_POST
@_member_view
def group_buy_open(request: HttpRequest, member: Member, campaign_id: int) -> HttpResponseBase:
    """Open a team at the member's store, then go to the order (pay, or its pickup QR)."""
    campaign = _offer(member, campaign_id)
    store = _mall_store(request, member)
    if store is None:
        messages.error(request, _("Choose your store first."))
        return redirect("h5:mall")
    try:
        place = group_buys.open_team(
            member, campaign.pk, store_id=store.pk, community_id=request.POST.get("group")
        )
    except ServiceError as exc:
        _error(request, exc)
        return redirect("h5:group_buy", campaign_id=campaign.pk)
    messages.success(request, _("Your team is open. Share it in your group!"))
    return _to_order(request, place)


@require_POST
@_member_view
def group_buy_join(request: HttpRequest, member: Member, team_id: int) -> HttpResponseBase:
    """Join the team, then go to the order (pay, or its pickup QR)."""
    team = _team(member, team_id)
    try:
        place = group_buys.join_team(member, team.pk)
    except ServiceError as exc:
        _error(request, exc)
        return redirect("h5:group_buy_team", team_id=team.pk)
    messages.success(request, _("You joined the team."))
    return _to_order(request, place)


def _to_order(request: HttpRequest, place: GroupBuyMember) -> HttpResponseBase:
    if place.order is None:
        return redirect("h5:group_buy_team", team_id=place.team_id)
    return _pay_or_show(request, place.order)


@require_POST
@_member_view
def group_buy_share(request: HttpRequest, member: Member, team_id: int) -> HttpResponseBase:
    """The robot posts the team's card in the member's group (once per member and group)."""
    team = _team(member, team_id)
    try:
        group_buys.share_team(member, team.pk)
    except ServiceError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Shared in your group."))
    return redirect("h5:group_buy_team", team_id=team.pk)
