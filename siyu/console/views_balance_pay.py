"""Console: paying with stored value at the counter (phone-first) and the store's balance payments.

``/stored-value/pay/``: the clerk scans the member's payment code (camera with jsQR, as on ``/pickup/``) or
types its 18 digits, types the amount in yuan and confirms (a per-render idempotency key: a double tap is one
payment); the receipt shows what was drawn from principal and bonus and what is left.
``/stored-value/payments/``: the payments at the stores the staff member serves; managers (and HQ) refund one
back to the balance. Thin callers of ``siyu.loyalty.services.balance_counter``; refusals are messages on the
page, never error pages.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.common.errors import NotFound, RateLimited, ServiceError, ValidationFailed
from siyu.common.mobile import mask_mobile
from siyu.common.validators import fen_to_yuan as yuan
from siyu.common.validators import yuan_to_fen
from siyu.loyalty.services import balance_counter
from siyu.org.services.access import visible_stores

from .helpers import console_view, current_staff, request_ip

MAX_CODE_INPUT = 80


def _pay_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    staff = current_staff(request)
    return {
        "stores": list(balance_counter.counter_stores(staff)),
        "idempotency_key": secrets.token_urlsafe(24),
        **extra,
    }


@console_view()
def balance_pay(request: HttpRequest) -> HttpResponse:
    """GET: the counter form; POST: take the amount from the balance of the code's member."""
    staff = current_staff(request)
    if request.method != "POST":
        return render(request, "console/balance_pay/pay.html", _pay_context(request))
    code = (request.POST.get("code") or "")[:MAX_CODE_INPUT]
    amount_text = (request.POST.get("amount") or "")[:20]
    store = request.POST.get("store") or None
    try:
        amount = yuan_to_fen(amount_text, "amount", minimum=1)
        done = balance_counter.counter_pay(
            staff,
            code=code,
            amount_fen=amount,
            key=request.POST.get("idempotency_key", ""),
            store_id=store,
            ip=request_ip(request),
        )
    except ServiceError as exc:
        status = 404 if isinstance(exc, NotFound) else 429 if isinstance(exc, RateLimited) else 409
        if isinstance(exc, ValidationFailed):
            status = 400
        context = _pay_context(request, error=str(exc.message), code=code, amount=amount_text, store_id=store)
        response = render(request, "console/balance_pay/pay.html", context, status=status)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response
    payment = done.payment
    receipt = {
        "payment": payment,
        "member": mask_mobile(payment.member.mobile),
        "amount": yuan(int(payment.amount_fen or 0)),
        "principal": yuan(done.principal_fen),
        "bonus": yuan(done.bonus_fen),
        "left_total": yuan(done.balance.total_fen),
        "left_principal": yuan(done.balance.principal_fen),
        "left_bonus": yuan(done.balance.bonus_fen),
    }
    return render(request, "console/balance_pay/pay.html", _pay_context(request, receipt=receipt))


@console_view()
def balance_payments(request: HttpRequest) -> HttpResponse:
    """Balance payments at the counter of the stores the staff member serves (HQ: all), newest first."""
    staff = current_staff(request)
    store = request.GET.get("store") or None
    rows = balance_counter.store_payments(staff, store_id=store)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "console/balance_pay/payments.html",
        {
            "page": page,
            "rows": [
                {
                    "payment": p,
                    "member": mask_mobile(p.member.mobile),
                    "amount": yuan(int(p.amount_fen or 0)),
                    "principal": yuan(-p.pay_entry.principal_delta_fen) if p.pay_entry else "",
                    "bonus": yuan(-p.pay_entry.bonus_delta_fen) if p.pay_entry else "",
                    "can_refund": balance_counter.can_refund(staff, p),
                }
                for p in page.object_list
            ],
            "stores": list(visible_stores(staff)),
            "f_store": int(store) if store and store.isdigit() else None,
            "idempotency_key": secrets.token_urlsafe(24),
        },
    )


@require_POST
@console_view("stored_value.refund")
def balance_payment_refund(request: HttpRequest, payment_id: int) -> HttpResponse:
    """A manager gives a counter payment back to the balance (reason, confirmation, per-page key)."""
    staff = current_staff(request)
    if not request.POST.get("confirm"):
        messages.error(request, _("Tick the box to confirm the refund."))
        return redirect("console:sv_payments")
    row = balance_counter.refund_counter_payment(
        staff,
        payment_id,
        reason=request.POST.get("reason", ""),
        key=request.POST.get("idempotency_key", ""),
        ip=request_ip(request),
    )
    messages.success(
        request,
        _("¥%(amount)s went back to the member's balance.") % {"amount": yuan(int(row.amount_fen or 0))},
    )
    return redirect("console:sv_payments")
