"""H5 stored value of the member (我的余额): principal and bonus shown apart, the member number to show at the
counter, gifts waiting in store, the statement, and the recharge tiers (each amount with its bonus or gift).
Thin callers of ``siyu.loyalty.services.recharge``; times in Asia/Shanghai."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.loyalty.models import StoredValuePolicy
from siyu.loyalty.services import recharge
from siyu.loyalty.services.stored_value import policy_for
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
            "proportional": policy_for(member.brand_id).bonus_spend
            == StoredValuePolicy.BonusSpend.PROPORTIONAL,
        },
    )
