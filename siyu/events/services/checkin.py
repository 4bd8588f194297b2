"""The door (核销): a clerk scans a ticket's QR or types its short code, sees who and what, and checks it in.

Guarantees:

- **Once.** ``valid`` (or ``reserved``: pay at the door) → ``checked_in`` is one conditional UPDATE; of two
  counters redeeming one ticket at once exactly one succeeds, the other hears "already checked in at HH:MM
  by X". Everything the check-in does — the ticket order handed over (and, paying at the door, marked paid
  through ``siyu.orders.services.pickup.verify_pickup``), the coupons, the audit line, the event — commits
  together with the claim or not at all.
- **Coupons once.** Each of the event's door coupons is issued with the system key
  ``sys:ticket-<id>-coupon-<template>``, so no retry or replay issues one twice. A coupon that cannot be
  issued (its stock ran out, its window ended) does not stop the admission; the ticket counts how many
  were issued.
- **Scope.** Only staff serving the ticket's store find it (HQ included: admission is a counter action); a
  genuine code of another store answers NotFound like a wrong one, and head office sees it in the audit log
  (``event.check_in_refused``, ``other_store``).
- **Attempt limits.** The pickup counters' limits (ADR 0011, ``siyu.orders.services.pickup_limits``): an
  attempt that finds no ticket is a miss; misses per clerk and per store a minute are capped (RateLimited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ServiceError
from siyu.common.idempotency import system_key
from siyu.events.models import OPEN, Ticket, TicketStatus
from siyu.events.services import codes
from siyu.events.services.rules import local
from siyu.loyalty.models import CouponSource
from siyu.loyalty.services import coupons
from siyu.orders.services import pickup_limits
from siyu.orders.services.pickup import verify_pickup
from siyu.orders.services.pickup_codes import code_of
from siyu.org.models import Staff
from siyu.org.services.access import require_staff
from siyu.org.services.audit import record_audit

T = TicketStatus
# The door opens this long before a session starts (members queue early).
DOOR_OPENS_BEFORE = timedelta(hours=3)


@dataclass
class CheckIn:
    ticket: Ticket
    coupons_issued: int = 0


def _tickets() -> QuerySet[Ticket]:
    return Ticket.objects.select_related("event", "session", "store", "member", "checked_in_by", "order")


def _by_short_code(short: str, store_ids: list[int]) -> Ticket | None:
    """The open ticket with this short code at one of ``store_ids``; else the latest checked-in one (so a
    second try says "already checked in"); else None."""
    rows = list(_tickets().filter(short_code=short, store_id__in=store_ids, status__in=OPEN)[:2])
    if len(rows) == 1:
        return rows[0]
    if rows:
        return None
    return (
        _tickets()
        .filter(short_code=short, store_id__in=store_ids, status=T.CHECKED_IN)
        .order_by("-checked_in_at", "-pk")
        .first()
    )


def find_ticket(staff: Staff, code: Any, *, ip: str | None = None) -> Ticket:
    """The ticket behind ``code`` (QR long code or short code) at one of the clerk's stores; NotFound
    otherwise; RateLimited after too many misses. Claims nothing."""
    require_staff(staff)
    not_found = NotFound(_("No such ticket."), field="code")
    if not isinstance(code, str) or not code.strip() or len(code) > codes.MAX_CODE_LENGTH:
        raise not_found
    store_ids = list(staff.stores.values_list("pk", flat=True))
    reservation = pickup_limits.reserve(staff, store_ids)
    short = codes.normalise_short_code(code)
    if short is not None:
        ticket = _by_short_code(short, store_ids)
    else:
        pk = codes.ticket_id(code.strip())
        ticket = _tickets().filter(pk=pk, code_hash=codes.code_hash(code.strip())).first() if pk else None
        if ticket is not None and ticket.store_id not in store_ids:
            record_audit(
                staff,
                "event.check_in_refused",
                target_type="ticket",
                target_id=ticket.pk,
                detail={"reason": "other_store"},
                ip=ip,
            )
            ticket = None
    if ticket is None:
        raise not_found
    if ticket.status in OPEN:
        pickup_limits.release(reservation)
    return ticket


def refusal(ticket: Ticket, now: datetime | None = None) -> Conflict | None:
    """Why ``ticket`` cannot be checked in now, or None."""
    now = now or timezone.now()
    if ticket.status == T.CHECKED_IN:
        assert ticket.checked_in_at is not None
        who = str(ticket.checked_in_by) if ticket.checked_in_by else _("staff")
        return Conflict(
            _("Already checked in at %(time)s by %(who)s.")
            % {"time": local(ticket.checked_in_at, "%H:%M"), "who": who},
            field="code",
            code="already_checked_in",
        )
    if ticket.status == T.PENDING_PAYMENT:
        return Conflict(_("This ticket is not paid yet."), field="code", code="not_paid")
    if ticket.status not in (T.VALID, T.RESERVED):
        return Conflict(_("This ticket is no longer valid."), field="code", code="not_valid")
    if now < ticket.session.starts_at - DOOR_OPENS_BEFORE:
        return Conflict(
            _("The door opens at %(time)s.") % {"time": local(ticket.session.starts_at - DOOR_OPENS_BEFORE)},
            field="code",
            code="too_early",
        )
    if now >= ticket.session.ends_at:
        return Conflict(_("This session is over."), field="code", code="session_over")
    return None


def preview(staff: Staff, code: Any, *, ip: str | None = None) -> Ticket:
    """The ticket for the door's confirmation step: found as ``find_ticket`` does, and Conflict (already
    checked in, unpaid, ended, too early…) when it cannot be checked in now."""
    ticket = find_ticket(staff, code, ip=ip)
    problem = refusal(ticket)
    if problem is not None:
        raise problem
    return ticket


def _issue_coupons(ticket: Ticket, staff: Staff, now: datetime) -> int:
    issued = 0
    for template in ticket.event.coupon_templates.order_by("pk"):
        try:
            with transaction.atomic():
                coupons.issue(
                    template,
                    ticket.member,
                    source=CouponSource.CAMPAIGN,
                    source_ref=f"event:{ticket.event_id}",
                    key=system_key(f"ticket-{ticket.pk}-coupon-{template.pk}"),
                    actor=staff,
                    now=now,
                )
            issued += 1
        except ServiceError:
            continue  # sold out or ended: admission still goes ahead (the report shows what was issued)
    return issued


def check_in(staff: Staff, code: Any, *, ip: str | None = None) -> CheckIn:
    """Check in the ticket behind ``code`` (see module guarantees): the ticket is claimed, its order handed
    over (paid at the door when it was reserved), the gift pack noted as handed over, the door coupons
    issued, ``event.check_in`` audited and ``event.checked_in`` recorded. Refusals (NotFound, Conflict
    ``already_checked_in``, ``not_paid``, ``not_valid``, ``too_early``, ``session_over``; RateLimited)
    change nothing."""
    ticket = find_ticket(staff, code, ip=ip)
    now = timezone.now()
    problem = refusal(ticket, now)
    if problem is not None:
        raise problem
    with transaction.atomic():
        claimed = Ticket.objects.filter(pk=ticket.pk, status__in=(T.VALID, T.RESERVED)).update(
            status=T.CHECKED_IN, checked_in_at=now, checked_in_by=staff, gift_handed_over=True, updated_at=now
        )
        if not claimed:
            raise refusal(_tickets().get(pk=ticket.pk), now) or Conflict(
                _("This ticket is no longer valid."), field="code", code="not_valid"
            )
        was = ticket.status
        if ticket.order is not None:
            # The ticket order is handed over at the door (and paid there when reserved); its pickup guard
            # lets it through now that the ticket is checked in.
            verify_pickup(staff, code_of(ticket.order), order_id=ticket.order_id, ip=ip)
        issued = _issue_coupons(ticket, staff, now)
        Ticket.objects.filter(pk=ticket.pk).update(coupons_issued=issued)
        record_audit(
            staff,
            "event.check_in",
            target_type="ticket",
            target_id=ticket.pk,
            store_id=ticket.store_id,
            detail={
                "event": ticket.event_id,
                "session": ticket.session_id,
                "paid_at_door": was == T.RESERVED,
                "coupons": issued,
            },
            ip=ip,
        )
        record_event(
            "event.checked_in",
            member_id=ticket.member_id,
            store_id=ticket.store_id,
            payload={"event_id": ticket.event_id, "ticket_id": ticket.pk, "coupons": issued},
        )
    return CheckIn(ticket=_tickets().get(pk=ticket.pk), coupons_issued=issued)
