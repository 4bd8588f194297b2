"""In-store events (内购会 / 门店活动) and their tickets (issue 12 §3, docs/events.md).

Guards in SQL (``siyu.events.services`` keeps them, constraints stand behind them):

- **Capacity.** ``EventSession.taken`` only grows through one conditional UPDATE (``taken < capacity``) and
  shrinks through one (``taken > 0``) when a ticket gives its seat back; CHECK ``taken <= capacity``. A
  session's ``taken`` equals the number of its tickets that hold a seat (``SEAT_HOLDING``).
- **Per member.** Every ticket that holds a seat carries ``seq`` — its number among the member's live
  tickets of the event — and the event's limit copied onto the row: partial UNIQUE (event, member, seq)
  over seat-holding tickets and CHECK ``1 <= seq <= member_limit``. Two parallel requests of one member
  take different numbers or one fails.
- **Checked in once.** ``valid/reserved → checked_in`` is one conditional UPDATE; the short code is unique
  among the open tickets of a store (partial unique index) and frees itself once the ticket is used or ends.
- **Once per key.** UNIQUE (member, idempotency_key) with the request hash beside it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Sku
from siyu.loyalty.models import CouponTemplate
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.models import Brand, Staff, Store


class EventStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CANCELLED = "cancelled", _("Cancelled")


class Event(models.Model):
    """An in-store event: when, what a ticket costs and what it gives at the door."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True, default="")
    art_url = models.CharField(_("art image URL"), max_length=500, blank=True, default="")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    # 0: free tickets (no order); else the ticket is sold through orders as ``ticket_sku`` at this price.
    ticket_price_fen = models.PositiveIntegerField(_("ticket price (fen)"), default=0)
    ticket_sku = models.ForeignKey(
        Sku, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("ticket item")
    )
    gift_pack = models.CharField(_("gift pack"), max_length=200, blank=True, default="")
    gift_value_fen = models.PositiveIntegerField(_("gift pack value (fen)"), default=0)
    coupon_templates = models.ManyToManyField(
        CouponTemplate, blank=True, related_name="+", verbose_name=_("coupons given at the door")
    )
    member_limit = models.PositiveSmallIntegerField(_("tickets per member"), default=1)
    status = models.CharField(
        _("status"), max_length=10, choices=EventStatus.choices, default=EventStatus.DRAFT
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Robot posts: the event card went out (claimed once), and the tickets counted at the last progress post.
    card_posted_at = models.DateTimeField(null=True, blank=True)
    progress_posted = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("event")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="event_window_ordered"),
            models.CheckConstraint(condition=Q(member_limit__gte=1), name="event_member_limit_positive"),
            models.CheckConstraint(
                condition=Q(ticket_price_fen=0) | Q(ticket_sku__isnull=False), name="event_paid_has_sku"
            ),
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="event_status_ends_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_free(self) -> bool:
        return self.ticket_price_fen == 0


class EventSession(models.Model):
    """One sitting of an event at one store, with its seats."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sessions")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+", verbose_name=_("store"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("seats"))
    taken = models.PositiveIntegerField(_("taken"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("event session")
        ordering = ["starts_at", "store_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(taken__lte=F("capacity")), name="session_taken_le_capacity"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="session_window_ordered"),
            models.UniqueConstraint(fields=["event", "store", "starts_at"], name="session_event_store_start"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}@{self.store_id} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.taken)


class TicketStatus(models.TextChoices):
    RESERVED = "reserved", _("Seat held, pay at the door")
    PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
    VALID = "valid", _("Valid")
    CHECKED_IN = "checked_in", _("Checked in")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")


# Tickets that hold a seat of their session (and a place in the member's limit).
SEAT_HOLDING = (
    TicketStatus.RESERVED,
    TicketStatus.PENDING_PAYMENT,
    TicketStatus.VALID,
    TicketStatus.CHECKED_IN,
)
# Tickets whose code may still be used at the door (their short code is unique in the store).
OPEN = (TicketStatus.RESERVED, TicketStatus.PENDING_PAYMENT, TicketStatus.VALID)


class Ticket(models.Model):
    """One member's seat in one session: a QR (signed long code) and a short code redeemed once."""

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="tickets")
    session = models.ForeignKey(EventSession, on_delete=models.PROTECT, related_name="tickets")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=TicketStatus.choices)
    seq = models.PositiveSmallIntegerField()
    member_limit = models.PositiveSmallIntegerField()
    price_fen = models.PositiveIntegerField(default=0)
    code_hash = models.CharField(max_length=64, blank=True, default="")
    short_code = models.CharField(max_length=8)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    idempotency_key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    gift_handed_over = models.BooleanField(default=False)
    coupons_issued = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ticket")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "idempotency_key"], name="ticket_member_key_unique"),
            models.UniqueConstraint(
                fields=["event", "member", "seq"],
                condition=Q(status__in=[s.value for s in SEAT_HOLDING]),
                name="ticket_member_seq_unique",
            ),
            models.CheckConstraint(
                condition=Q(seq__gte=1, seq__lte=F("member_limit")), name="ticket_seq_within_limit"
            ),
            models.UniqueConstraint(
                fields=["store", "short_code"],
                condition=Q(status__in=[s.value for s in OPEN]),
                name="ticket_open_short_code_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["code_hash"], name="ticket_code_hash_idx"),
            models.Index(fields=["member", "event"], name="ticket_member_event_idx"),
            models.Index(fields=["store", "short_code"], name="ticket_store_short_idx"),
        ]

    def __str__(self) -> str:
        return f"ticket #{self.pk} {self.status}"
