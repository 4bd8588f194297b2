"""H5 points pages of the member: 我的积分 (balance, what is owed, history with expiry dates), daily check-in
with a month calendar and make-up days, the points mall (items, exchange with confirmation) and the tier card.

Thin callers of ``siyu.loyalty.services``: every rule (caps, limits, stock, points) is the services'; their
refusals are shown as messages, never as a server error. Times are shown in Asia/Shanghai.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from siyu.catalog.services.images import main_image
from siyu.common.errors import NotFound, ServiceError
from siyu.loyalty.models import EarnRule, MallItem
from siyu.loyalty.services import checkin, mall, overview, points, rules, tiers
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

PointsView = Callable[..., HttpResponseBase]


def _render(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return render(request, template, {"brand_name": brand_name(), **context})


def _wants_json(request: HttpRequest) -> bool:
    """A script's call (``Accept: application/json``, not htmx): answered in JSON, never with a page."""
    return (
        "application/json" in request.headers.get("Accept", "")
        and request.headers.get("HX-Request") != "true"
    )


def _json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _member_view(view: PointsView) -> PointsView:
    """The signed-in member, else the sign-in page (JSON callers: 401 ``{"code","message","field"}``);
    NotFound → 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            if _wants_json(request):
                return _json(
                    {"code": "not_authenticated", "message": _("Sign in first."), "field": None}, 401
                )
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, member, *args, **kwargs)
        except NotFound as exc:
            if _wants_json(request):
                return _json(exc.as_dict(), 404)
            raise Http404(exc.message) from exc

    return wrapper


def _picture(item: MallItem) -> str:
    if item.sku is None:
        return ""
    image = main_image(item.sku.product)
    return image.url("thumb") if image is not None else item.sku.product.image_url


@never_cache
@require_GET
@_member_view
def points_home(request: HttpRequest, member: Member) -> HttpResponse:
    """我的积分: what the member has, owes, loses soon, and every change with its reason."""
    now = timezone.now()
    return _render(
        request,
        "h5/points/index.html",
        {
            "member": member,
            "view": overview.overview(member, now=now),
            "card": tiers.card(member, now=now),
            "checked_today": any(d.checked and d.today for d in _month(member, now)),
            "checkin_open": rules.rule_for(member, EarnRule.Kind.CHECKIN, now=now) is not None,
        },
    )


def _month(member: Member, now: Any, year: int | None = None, month: int | None = None) -> list[Any]:
    today = timezone.localdate(now)
    return checkin.month_calendar(member, year=year or today.year, month=month or today.month, now=now)


def _checkin_post(request: HttpRequest, member: Member, now: Any) -> HttpResponseBase:
    as_json = _wants_json(request)
    try:
        if request.POST.get("action") == "makeup":
            done = checkin.make_up(member, request.POST.get("day", ""), now=now)
            if as_json:
                return _json(
                    {
                        "created": True,
                        "day": done.day.isoformat(),
                        "points": done.points,
                        "bonus": 0,
                        "streak": done.streak,
                        "balance": points.balance_of(member, now=now).shown,
                    }
                )
            messages.success(
                request,
                _("Made up %(day)s: +%(n)s points.") % {"day": done.day.strftime("%m-%d"), "n": done.points},
            )
            return redirect("h5:points_checkin")
        outcome = checkin.check_in(member, now=now)
    except ServiceError as exc:
        if as_json:
            return _json(exc.as_dict(), exc.status)
        messages.error(request, str(exc.message))
        return redirect("h5:points_checkin")
    if outcome.created:
        tiers.evaluate(member, now=now)
    if as_json:
        return _json(
            {
                "created": outcome.created,
                "day": outcome.checkin.day.isoformat(),
                "points": outcome.checkin.points,
                "bonus": outcome.bonus,
                "streak": outcome.checkin.streak,
                "balance": points.balance_of(member, now=now).shown,
            }
        )
    if outcome.created:
        messages.success(
            request,
            _("Checked in: +%(points)s points, %(n)s days in a row.")
            % {"points": outcome.checkin.points, "n": outcome.checkin.streak},
        )
    else:
        messages.info(request, _("You have already checked in today."))
    return redirect("h5:points_checkin")


@never_cache
@require_http_methods(["GET", "POST"])
@_member_view
def checkin_page(request: HttpRequest, member: Member) -> HttpResponseBase:
    """签到 — the one check-in endpoint. GET: the month calendar, the streak, today's button and make-up on a
    missed day. POST (``action`` = ``checkin``, the default, or ``makeup`` with ``day``): a form post gets a
    message and the page again; a JSON caller (``Accept: application/json``; ``siyu bench loyalty``) gets
    ``{"created", "day", "points", "bonus", "streak", "balance"}`` or ``{"code","message","field"}`` 4xx."""
    now = timezone.now()
    if request.method == "POST":
        return _checkin_post(request, member, now)
    rule = rules.rule_for(member, EarnRule.Kind.CHECKIN, now=now)
    days = _month(member, now)
    today = timezone.localdate(now)
    first_weekday = date(today.year, today.month, 1).weekday()  # Monday 0
    config = (rule.config or {}) if rule is not None else {}
    bonuses = sorted(
        (int(k), int(v))
        for k, v in (config.get("streak_bonus") or {}).items()
        if str(k).isdigit() and str(v).isdigit()
    )
    return _render(
        request,
        "h5/points/checkin.html",
        {
            "rule": rule,
            "days": days,
            "blanks": range(first_weekday),
            "today": today,
            "done_today": any(d.today and d.checked for d in days),
            "streak": checkin.current_streak(member, now=now),
            "bonuses": bonuses,
            "makeup_cost": int(config.get("makeup_cost") or 0),
            "balance": points.balance_of(member, now=now).shown,
        },
    )


@never_cache
@require_GET
@_member_view
def mall_page(request: HttpRequest, member: Member) -> HttpResponse:
    """积分商城: the items the member may exchange, with pictures, points and what is left."""
    items = list(mall.open_items(member).prefetch_related("sku__product__images"))
    return _render(
        request,
        "h5/points/mall.html",
        {
            "balance": points.balance_of(member).shown,
            "cards": [{"item": item, "picture": _picture(item)} for item in items],
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@_member_view
def mall_item(request: HttpRequest, member: Member, item_id: int) -> HttpResponseBase:
    """One item: what it is, its points price, stock left, the member's limit; exchanged after confirming."""
    item = mall.get_item(member, item_id)
    if request.method == "POST":
        key = request.POST.get("key") or ""
        try:
            row = mall.exchange(member, item.pk, key=key)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
            return redirect("h5:points_item", item_id=item.pk)
        messages.success(
            request, _("Exchanged %(n)s points for %(item)s.") % {"n": row.points, "item": item.name}
        )
        if row.order_id is not None:
            return redirect("h5:order", order_id=row.order_id)
        return redirect("h5:points_mall")
    balance = points.balance_of(member).shown
    used = mall.live_count(member, item)
    return _render(
        request,
        "h5/points/item.html",
        {
            "item": item,
            "picture": _picture(item),
            "balance": balance,
            "enough": balance >= item.points,
            "used": used,
            "limit_left": None if item.member_limit is None else max(0, item.member_limit - used),
            "key": secrets.token_urlsafe(16),
            "confirm": request.GET.get("confirm") == "1",
        },
    )


@never_cache
@require_GET
@_member_view
def tier_page(request: HttpRequest, member: Member) -> HttpResponse:
    """The tier card: level, progress to the next, benefits of each level."""
    return _render(request, "h5/points/tier.html", {"card": tiers.card(member)})
