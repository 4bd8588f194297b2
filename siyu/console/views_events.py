"""Console pages for in-store events (内购会): the events, head office's form to set one up or edit it, an
event's page (sessions per store, adding sessions for many stores at once, publishing), its report, and
the door page where store staff check tickets in (scan or type, phone-first).

Thin callers of ``siyu.events.services``: scope (a store role sees the events with a session at its
stores, only its own sessions and sales; another store's event answers 404), who may set up (head office:
others 403) and every rule of tickets are the services'.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from siyu.catalog.models import Sku
from siyu.common.errors import NotFound, RateLimited, ServiceError
from siyu.common.validators import fen_to_yuan as yuan
from siyu.events.models import Event, EventStatus
from siyu.events.services import checkin, codes, reads, reports, setup
from siyu.events.services.rules import MANAGE, MAX_CAPACITY, MAX_MEMBER_LIMIT
from siyu.loyalty.models import CouponTemplate
from siyu.org.models import Staff
from siyu.org.services.access import has_capability
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores

from .helpers import console_view, current_staff, form_error, request_ip

_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class EventForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=100)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    starts_at = forms.DateTimeField(label=gettext_lazy("Starts at"), widget=_LOCAL)
    ends_at = forms.DateTimeField(label=gettext_lazy("Ends at"), widget=_LOCAL)
    price = forms.DecimalField(
        label=gettext_lazy("Ticket price (yuan, 0: free)"),
        min_value=Decimal("0"),
        max_value=Decimal("10000"),
        decimal_places=2,
        initial=Decimal("0"),
    )
    ticket_sku = forms.TypedChoiceField(
        label=gettext_lazy("Ticket item (paid tickets)"), coerce=int, required=False, empty_value=None
    )
    gift_pack = forms.CharField(
        label=gettext_lazy("Gift pack handed over at the door"), max_length=200, required=False
    )
    gift_value = forms.DecimalField(
        label=gettext_lazy("Gift pack value (yuan)"),
        min_value=Decimal("0"),
        max_value=Decimal("100000"),
        decimal_places=2,
        required=False,
    )
    member_limit = forms.IntegerField(
        label=gettext_lazy("Tickets per member"), min_value=1, max_value=MAX_MEMBER_LIMIT, initial=1
    )
    coupon_templates = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Coupons given at check-in"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    art_url = forms.CharField(
        label=gettext_lazy("Art image address (https://)"), max_length=500, required=False
    )

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        brand_id = current_brand_id(staff)
        skus = Sku.objects.filter(product__brand_id=brand_id, active=True).select_related("product")
        choices: list[tuple[Any, str]] = [("", "—")]
        choices += [
            (s.pk, f"{s.product.name} {s.spec} ({s.code})".strip()) for s in skus.order_by("code")[:500]
        ]
        self.fields["ticket_sku"].choices = choices  # type: ignore[attr-defined]
        templates = CouponTemplate.objects.filter(brand_id=brand_id).order_by("-id")[:100]
        self.fields["coupon_templates"].choices = [(t.pk, t.name) for t in templates]  # type: ignore[attr-defined]

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "title": d["title"],
            "description": d["description"],
            "art_url": d["art_url"],
            "starts_at": d["starts_at"],
            "ends_at": d["ends_at"],
            "ticket_price_fen": int(d["price"] * 100),
            "ticket_sku": d["ticket_sku"] if d["price"] else None,
            "gift_pack": d["gift_pack"],
            "gift_value_fen": int((d["gift_value"] or 0) * 100),
            "member_limit": d["member_limit"],
            "coupon_templates": list(d["coupon_templates"]),
        }


def _initial(event: Event) -> dict[str, Any]:
    return {
        "title": event.title,
        "description": event.description,
        "art_url": event.art_url,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "price": Decimal(event.ticket_price_fen) / 100,
        "ticket_sku": event.ticket_sku_id,
        "gift_pack": event.gift_pack,
        "gift_value": Decimal(event.gift_value_fen) / 100,
        "member_limit": event.member_limit,
        "coupon_templates": list(event.coupon_templates.values_list("pk", flat=True)),
    }


class SessionsForm(forms.Form):
    stores = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Stores"), coerce=int, widget=forms.CheckboxSelectMultiple
    )
    starts_at = forms.DateTimeField(label=gettext_lazy("Session starts"), widget=_LOCAL)
    ends_at = forms.DateTimeField(label=gettext_lazy("Session ends"), widget=_LOCAL)
    capacity = forms.IntegerField(label=gettext_lazy("Seats per store"), min_value=1, max_value=MAX_CAPACITY)

    def __init__(self, *args: Any, event: Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stores"].choices = [  # type: ignore[attr-defined]
            (s.pk, f"{s.code} {s.name}") for s in open_stores(event.brand_id)
        ]


# --- pages -----------------------------------------------------------------------------------------------


@require_GET
@console_view()
def events_page(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    rows = []
    for event in reads.scoped_events(staff)[:100]:
        taken, capacity = setup.sold_total(event)
        rows.append({"event": event, "taken": taken, "capacity": capacity})
    return render(
        request, "console/events/list.html", {"rows": rows, "can_manage": has_capability(staff, MANAGE)}
    )


@require_http_methods(["GET", "POST"])
@console_view(MANAGE)
def event_new(request: HttpRequest) -> HttpResponse:
    staff = current_staff(request)
    form = EventForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        try:
            event = setup.create_event(staff, form.service_data(), ip=request_ip(request))
        except ServiceError as exc:
            exc.field = {"ticket_price_fen": "price", "gift_value_fen": "gift_value"}.get(
                exc.field or "", exc.field
            )
            form_error(form, exc)
        else:
            messages.success(
                request, _("Event “%(title)s” created as a draft. Add its sessions.") % {"title": event.title}
            )
            return redirect("console:event_detail", event_id=event.pk)
    return render(request, "console/events/form.html", {"form": form, "event": None})


@require_http_methods(["GET", "POST"])
@console_view(MANAGE)
def event_edit(request: HttpRequest, event_id: int) -> HttpResponse:
    staff = current_staff(request)
    event = setup.get_managed_event(staff, event_id)
    form = EventForm(request.POST or None, staff=staff, initial=_initial(event))
    if request.method == "POST" and form.is_valid():
        try:
            setup.update_event(staff, event.pk, form.service_data(), ip=request_ip(request))
        except ServiceError as exc:
            exc.field = {"ticket_price_fen": "price", "gift_value_fen": "gift_value"}.get(
                exc.field or "", exc.field
            )
            form_error(form, exc)
        else:
            messages.success(request, _("Event saved."))
            return redirect("console:event_detail", event_id=event.pk)
    return render(request, "console/events/form.html", {"form": form, "event": event})


@require_http_methods(["GET", "POST"])
@console_view()
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    staff = current_staff(request)
    event = reads.get_event(staff, event_id)
    can_manage = has_capability(staff, MANAGE)
    form = None
    if can_manage and event.status != EventStatus.CANCELLED:
        form = SessionsForm(request.POST or None, event=event)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                made = setup.add_sessions(
                    staff,
                    event.pk,
                    store_ids=list(d["stores"]),
                    starts_at=d["starts_at"],
                    ends_at=d["ends_at"],
                    capacity=d["capacity"],
                    ip=request_ip(request),
                )
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("%(n)s sessions added.") % {"n": len(made)})
                return redirect("console:event_detail", event_id=event.pk)
    taken, capacity = setup.sold_total(event)
    return render(
        request,
        "console/events/detail.html",
        {
            "event": event,
            "sessions": list(reads.scoped_sessions(staff, event)),
            "price": yuan(event.ticket_price_fen) if event.ticket_price_fen else "",
            "coupons": list(event.coupon_templates.all()),
            "taken": taken,
            "capacity": capacity,
            "can_manage": can_manage,
            "form": form,
        },
    )


@require_POST
@console_view(MANAGE)
def event_publish(request: HttpRequest, event_id: int) -> HttpResponse:
    event = setup.publish_event(current_staff(request), event_id, ip=request_ip(request))
    messages.success(
        request,
        _("Event “%(title)s” published; the robot posts its card in the stores' groups.")
        % {"title": event.title},
    )
    return redirect("console:event_detail", event_id=event.pk)


@require_GET
@console_view()
def event_report(request: HttpRequest, event_id: int) -> HttpResponse:
    report = reports.event_report(current_staff(request), event_id)
    return render(
        request,
        "console/events/report.html",
        {
            "report": report,
            "event": report.event,
            "sales": yuan(report.sales_fen),
            "revenue": yuan(report.ticket_revenue_fen),
            "rows": [{"row": r, "sales": yuan(r.sales_fen)} for r in report.sessions],
        },
    )


# --- the door ----------------------------------------------------------------------------------------------


def _wants_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or request.headers.get("HX-Request") == "true"


def _door_response(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    template = "console/events/_door_result.html" if _wants_fragment(request) else "console/events/door.html"
    return render(request, template, context, status=status)


@require_GET
@console_view()
def door(request: HttpRequest) -> HttpResponse:
    """The door's scan-to-check-in page: camera (when allowed) and a typed-code fallback."""
    current_staff(request)
    return render(request, "console/events/door.html", {"code": ""})


@require_POST
@console_view()
def door_check(request: HttpRequest) -> HttpResponse:
    """POST ``code`` → the ticket (member, session, gift pack) to confirm; POST again with ``confirm`` →
    ``check_in``. Refusals come back as a message in the same fragment, so the next code can be scanned."""
    staff = current_staff(request)
    code = (request.POST.get("code") or "").strip()[: codes.MAX_CODE_LENGTH + 1]
    try:
        if not request.POST.get("confirm"):
            ticket = checkin.preview(staff, code, ip=request_ip(request))
            return _door_response(
                request,
                {"step": "confirm", "code": code, "ticket": ticket, "price": yuan(ticket.price_fen)},
            )
        done = checkin.check_in(staff, code, ip=request_ip(request))
    except ServiceError as exc:
        status = 404 if isinstance(exc, NotFound) else 429 if isinstance(exc, RateLimited) else 400
        response = _door_response(request, {"step": "refused", "error": str(exc.message), "code": ""}, status)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response
    return _door_response(
        request, {"step": "done", "code": "", "ticket": done.ticket, "coupons": done.coupons_issued}
    )
