"""H5 payment code (付款码) of the member: pay with stored value at the counter.

The page shows a QR and the 18 digits of a fresh single-use code (``siyu.loyalty.services.balance_codes``)
with the balance (principal and bonus apart); htmx fetches a fresh code before the shown one expires.
Codes are never stored in clear, so every render issues a new one (the old stays valid until it expires).
"""

from __future__ import annotations

import base64
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

from siyu.common.errors import ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.h5.views_mall import qr_png
from siyu.loyalty.services import balance_codes
from siyu.loyalty.services.stored_value import balance_of
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

View = Callable[..., HttpResponseBase]


def _member_view(view: View) -> Callable[..., HttpResponseBase]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        return view(request, member, *args, **kwargs)

    return wrapper


def _code_context(member: Member) -> dict[str, Any]:
    try:
        issued = balance_codes.issue_code(member)
    except ServiceError as exc:
        balance = balance_of(member)
        return {
            "error": str(exc.message),
            "principal": fen_to_yuan(balance.principal_fen),
            "bonus": fen_to_yuan(balance.bonus_fen),
            "total": fen_to_yuan(balance.total_fen),
        }
    png = base64.b64encode(qr_png(issued.code)).decode()
    return {
        "qr_data_uri": f"data:image/png;base64,{png}",
        "grouped": issued.grouped,
        "expires_at": issued.expires_at,
        "refresh_seconds": balance_codes.REFRESH_SECONDS,
        "principal": fen_to_yuan(issued.balance.principal_fen),
        "bonus": fen_to_yuan(issued.balance.bonus_fen),
        "total": fen_to_yuan(issued.balance.total_fen),
        "empty": issued.balance.total_fen <= 0,
    }


@never_cache
@require_GET
@_member_view
def pay_code(request: HttpRequest, member: Member) -> HttpResponse:
    """The payment code page (a fresh code on every render)."""
    return render(
        request, "h5/balance_pay/pay_code.html", {"brand_name": brand_name(), **_code_context(member)}
    )


@never_cache
@require_GET
@_member_view
def pay_code_fresh(request: HttpRequest, member: Member) -> HttpResponseBase:
    """The code block alone, for htmx's refresh (a plain visit goes to the page)."""
    if request.headers.get("HX-Request") != "true":
        return redirect("h5:balance_pay_code")
    return render(request, "h5/balance_pay/_code.html", _code_context(member))
