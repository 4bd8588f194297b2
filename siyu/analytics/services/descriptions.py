"""Member events as sentences a person reads (member timelines), in the request's language.

One table maps each event code to a sentence; values from the event's payload fill it (an amount in fen is
shown in yuan). An unknown code — a new kind of event nobody described yet — gets a generic sentence built
from the code's words, never the raw code or JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.common.validators import fen_to_yuan

# Lazy: built at import time, shown in each request's language. Each code has (full sentence, short
# sentence): the full one is filled from the payload; the short one is used when the payload lacks a value.
EVENT_SENTENCES: dict[str, tuple[Promise, Promise | None]] = {
    "member.created": (gettext_lazy("Became a member"), None),
    "member.updated": (gettext_lazy("Profile updated: %(fields)s"), gettext_lazy("Profile updated")),
    "member.profile_updated": (
        gettext_lazy("Changed their nickname or avatar: %(fields)s"),
        gettext_lazy("Changed their nickname or avatar"),
    ),
    "member.tagged": (gettext_lazy("Tagged"), None),
    "member.untagged": (gettext_lazy("Tag removed"), None),
    "member.erased": (gettext_lazy("Personal data erased"), None),
    "member.signed_in": (gettext_lazy("Signed in to the member centre"), None),
    "member.identity_linked": (gettext_lazy("Linked a WeChat account"), None),
    "consent.granted": (gettext_lazy("Agreed to receive marketing messages"), None),
    "consent.withdrawn": (gettext_lazy("Withdrew consent to marketing messages"), None),
    "community.joined": (gettext_lazy("Joined a group"), None),
    "community.left": (gettext_lazy("Left a group"), None),
    "community.message": (gettext_lazy("Posted a message in a group"), None),
    "order.created": (gettext_lazy("Placed order #%(order_id)s"), gettext_lazy("Placed an order")),
    "order.paid": (
        gettext_lazy("Paid ¥%(amount)s for order #%(order_id)s"),
        gettext_lazy("Paid for an order"),
    ),
    "order.ready": (gettext_lazy("Order #%(order_id)s is ready for pickup"), gettext_lazy("Order ready")),
    "order.picked_up": (gettext_lazy("Picked up order #%(order_id)s"), gettext_lazy("Picked up an order")),
    "order.cancelled": (gettext_lazy("Order #%(order_id)s cancelled"), gettext_lazy("Order cancelled")),
    "order.expired": (
        gettext_lazy("Order #%(order_id)s expired unpaid"),
        gettext_lazy("An unpaid order expired"),
    ),
    "order.refunded": (
        gettext_lazy("Refunded ¥%(amount)s for order #%(order_id)s"),
        gettext_lazy("Order refunded"),
    ),
    "order.returned": (
        gettext_lazy("Returned order #%(order_id)s; ¥%(amount)s given back"),
        gettext_lazy("Returned an order"),
    ),
    "order.late_payment_refunded": (
        gettext_lazy("A payment that arrived after order #%(order_id)s closed was refunded (¥%(amount)s)"),
        gettext_lazy("A late payment was refunded"),
    ),
    "group_buy.opened": (gettext_lazy("Started a group-buy team"), None),
    "group_buy.joined": (gettext_lazy("Joined a group-buy team"), None),
    "group_buy.formed": (gettext_lazy("Their group-buy team formed"), None),
    "group_buy.failed": (gettext_lazy("Their group-buy team did not form in time"), None),
    "recharge_slot.held": (gettext_lazy("Bought a recharge slot"), None),
    "recharge_slot.converted": (
        gettext_lazy("Used a recharge slot with an in-store recharge"),
        None,
    ),
    "recharge_slot.refunded": (gettext_lazy("A recharge slot not used in time was refunded"), None),
    "recharge_slot.forfeited": (
        gettext_lazy("A recharge slot not used in time lapsed; the deposit was kept"),
        None,
    ),
    "loyalty.tier_up": (gettext_lazy("Reached the %(tier)s tier"), gettext_lazy("Moved up a tier")),
    "loyalty.tier_down": (gettext_lazy("Moved down to the %(tier)s tier"), gettext_lazy("Moved down a tier")),
    "loyalty.checked_in": (
        gettext_lazy("Checked in (%(streak)s days in a row, %(points)s points)"),
        gettext_lazy("Checked in"),
    ),
    "coupon.issued": (gettext_lazy("Received a coupon"), None),
    "event.ticket_taken": (gettext_lazy("Got a ticket for an in-store event"), None),
    "event.ticket_released": (gettext_lazy("An event ticket was cancelled or refunded"), None),
    "event.checked_in": (gettext_lazy("Checked in at an in-store event"), None),
    "coupon.revoked": (gettext_lazy("A coupon was taken back"), None),
    "referral.joined": (gettext_lazy("Joined through a member's invite"), None),
    "referral.counted": (
        gettext_lazy("An invite counted: earned %(points)s points"),
        gettext_lazy("An invite counted"),
    ),
    "referral.reversed": (gettext_lazy("An invite reward was taken back (the invitee left)"), None),
    "coupon.used": (gettext_lazy("Used a coupon (¥%(discount)s off)"), gettext_lazy("Used a coupon")),
    "community.link_open": (gettext_lazy("Opened a link posted in the group"), None),
    "loyalty.exchanged": (
        gettext_lazy("Exchanged %(points)s points for %(item)s"),
        gettext_lazy("Exchanged points in the points mall"),
    ),
    "stored_value.recharged": (
        gettext_lazy("Recharged ¥%(amount)s of stored value"),
        gettext_lazy("Recharged stored value"),
    ),
    "stored_value.paid": (
        gettext_lazy("Paid ¥%(amount)s from their balance"),
        gettext_lazy("Paid from their balance"),
    ),
    "stored_value.refunded": (
        gettext_lazy("¥%(amount)s of a balance payment came back to their balance"),
        gettext_lazy("A balance payment was refunded"),
    ),
    "stored_value.cash_refunded": (
        gettext_lazy("¥%(amount)s of their balance was refunded in cash"),
        gettext_lazy("Part of their balance was refunded in cash"),
    ),
    "stored_value.gift_handed_over": (
        gettext_lazy("Collected a recharge gift: %(gift)s"),
        gettext_lazy("Collected a recharge gift"),
    ),
    "incentives.member_attributed": (gettext_lazy("Was credited to the staff member who invited them"), None),
}


def _context(payload: Mapping[str, Any]) -> dict[str, str]:
    context: dict[str, str] = {}
    for key, value in payload.items():
        if isinstance(value, str | int) and not isinstance(value, bool):
            context[key] = str(value)
    discount = payload.get("discount_fen")
    if isinstance(discount, int) and not isinstance(discount, bool):
        context["discount"] = fen_to_yuan(discount)
    amount = payload.get("amount_fen")
    if isinstance(amount, int) and not isinstance(amount, bool):
        context["amount"] = fen_to_yuan(amount)
    fields = payload.get("fields")
    if isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields):
        context["fields"] = ", ".join(fields)
    return context


def readable_code(code: str) -> str:
    """``order.late_payment_refunded`` → ``order · late payment refunded``."""
    return " · ".join(part.replace("_", " ") for part in str(code).split(".") if part) or "?"


def describe_event(code: str, payload: Mapping[str, Any] | None = None) -> str:
    """The sentence for an event of type ``code`` with ``payload`` (never raises, never shows JSON)."""
    entry = EVENT_SENTENCES.get(code)
    if entry is None:
        return _("Event: %(what)s") % {"what": readable_code(code)}
    full, short = entry
    context = _context(payload if isinstance(payload, Mapping) else {})
    try:
        return str(full) % context if "%(" in str(full) else str(full)
    except (KeyError, ValueError, TypeError):
        return str(short) if short is not None else readable_code(code)
