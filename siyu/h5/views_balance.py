"""H5 stored value of the member (我的余额): principal and bonus shown apart, the member number to show at the
counter, gifts waiting in store, the statement, and the recharge tiers (each amount with its bonus or gift).
Thin callers of ``siyu.loyalty.services.recharge``; times in Asia/Shanghai."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from siyu.common.errors import ServiceError
from siyu.common.validators import yuan_to_fen
from siyu.h5.views_mall import _pay_or_show
from siyu.loyalty.models import StoredValuePolicy
from siyu.loyalty.services import recharge, recharge_online
from siyu.loyalty.services.stored_value import MAX_AMOUNT_FEN, policy_for
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

MemberView = Callable[..., HttpResponseBase]
STATEMENT_ROWS = 50


def _member_view(view: MemberView) -> MemberView:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, member, *args, **kwargs)

    return wrapper


@never_cache
@require_GET
@_member_view
def balance_home(request: HttpRequest, member: Member) -> HttpResponse:
    """我的余额: principal and bonus, gifts to collect, recharge tiers, latest changes."""
    info = recharge.member_view(member, limit=STATEMENT_ROWS)
    return render(
        request,
        "h5/balance/index.html",
        {
            "brand_name": brand_name(),
            "member": member,
            "info": info,
            "tiers": recharge.tiers_for(member, member.home_store_id),
            "gifts": list(recharge.member_gifts(member)[:20]),
            "online": recharge_online.recharge_listing(member) is not None,
            "recharge_key": secrets.token_urlsafe(18),
            "proportional": policy_for(member.brand_id).bonus_spend
            == StoredValuePolicy.BonusSpend.PROPORTIONAL,
        },
    )


@require_POST
@_member_view
def balance_recharge(request: HttpRequest, member: Member) -> HttpResponseBase:
    """Recharge online: an order of the amount (one of the tiers or typed), then the cashier (WeChat Pay; the
    SANDBOX cashier in the demo). The balance is credited when the payment arrives."""
    try:
        amount = yuan_to_fen(request.POST.get("amount", ""), "amount", minimum=1, maximum=MAX_AMOUNT_FEN)
        order = recharge_online.place_order(member, amount, key=request.POST.get("idempotency_key", ""))
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("h5:balance")
    return _pay_or_show(request, order)
